using Devmem.Interop;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// A SIOCETHTOOL ioctl failed. The ioctl interface has no extended ack, so the errno is all the kernel
/// says; the message names the interface, the ethtool command and the errno, with a hint where one applies.
/// </summary>
public sealed class EthtoolIoctlException : DevmemIOException
{
    private EthtoolIoctlException(string interfaceName, string command, Errno errno)
        : base($"ethtool {command} on {interfaceName}: {errno.Describe()}{HintFor(command, errno) switch { null => "", var h => ". Hint: " + h }}",
            errno, command, HintFor(command, errno), null, null, null)
    {
        InterfaceName = interfaceName;
    }

    /// <summary>The interface.</summary>
    public string InterfaceName { get; }

    /// <summary>The ethtool command (kernel name, e.g. "ETHTOOL_SRXCLSRLINS"), the same as <see cref="DevmemIOException.Operation"/>.</summary>
    public string Command => Operation;

    /// <summary>SIOCETHTOOL <paramref name="command"/> on <paramref name="interfaceName"/> returned <paramref name="errno"/>.</summary>
    internal static EthtoolIoctlException Failed(string interfaceName, string command, Errno errno) => new(interfaceName, command, errno);

    private static string? HintFor(string command, Errno errno) => errno switch
    {
        Errno.EOPNOTSUPP => "the driver does not implement this ethtool operation",
        Errno.EPERM => "setting needs CAP_NET_ADMIN",
        Errno.ENODEV => "no such interface in this network namespace",
        Errno.EINVAL when command == "ETHTOOL_SRXFHINDIR" => "the table must have exactly the device's size, and entries below the RX ring count",
        Errno.EINVAL when command == "ETHTOOL_SCHANNELS" => "counts above the maximum, or below the highest queue a dma-buf is bound to",
        _ => null,
    };
}
