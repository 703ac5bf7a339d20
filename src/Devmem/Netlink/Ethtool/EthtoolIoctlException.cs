using Devmem.Interop;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// A SIOCETHTOOL ioctl failed. The ioctl interface has no extended ack, so the errno is all the kernel
/// says; the message names the interface, the ethtool command and the errno, with a hint where one applies.
/// </summary>
public sealed class EthtoolIoctlException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="interfaceName">The interface.</param>
    /// <param name="command">The ethtool command name, e.g. "ETHTOOL_SRXCLSRLINS".</param>
    /// <param name="errno">The errno.</param>
    public EthtoolIoctlException(string interfaceName, string command, Errno errno)
        : base($"ethtool {command} on {interfaceName}: {errno.Describe()}{HintFor(command, errno)}", (int)errno)
    {
        InterfaceName = interfaceName;
        Command = command;
        Errno = errno;
    }

    /// <summary>The interface.</summary>
    public string InterfaceName { get; }

    /// <summary>The ethtool command (kernel name).</summary>
    public string Command { get; }

    /// <summary>The errno.</summary>
    public Errno Errno { get; }

    private static string HintFor(string command, Errno errno) => errno switch
    {
        Errno.EOPNOTSUPP => ". Hint: the driver does not implement this ethtool operation",
        Errno.EPERM => ". Hint: setting needs CAP_NET_ADMIN",
        Errno.ENODEV => ". Hint: no such interface in this network namespace",
        Errno.EINVAL when command == "ETHTOOL_SRXFHINDIR" => ". Hint: the table must have exactly the device's size, and entries below the RX ring count",
        Errno.EINVAL when command == "ETHTOOL_SCHANNELS" => ". Hint: counts above the maximum, or below the highest queue a dma-buf is bound to",
        _ => "",
    };
}
