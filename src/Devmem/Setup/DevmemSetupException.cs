using Devmem.Interop;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;

namespace Devmem.Setup;

/// <summary>The steps of <see cref="DevmemRxSetup"/>, in the order they run.</summary>
public enum DevmemSetupStep
{
    /// <summary>Finding the interface, its driver and parent device, and choosing the queues.</summary>
    Check,

    /// <summary>Reading the NIC's rings, channels, RSS table and flow rules before changing them.</summary>
    Snapshot,

    /// <summary>Turning TCP header/data split on (rings-set tcp-data-split, hds-thresh 0).</summary>
    HeaderSplit,

    /// <summary>Pointing the RSS indirection table away from the devmem queues.</summary>
    Rss,

    /// <summary>Adding the ntuple rule that steers the flow to the first devmem queue.</summary>
    FlowRule,

    /// <summary>netdev bind-rx of the dma-buf to the queues.</summary>
    BindRx,

    /// <summary>Undoing what was done (on dispose, failure or process exit).</summary>
    Undo,
}

/// <summary>
/// A step of the NIC setup for devmem RX failed. The message names the step, the interface, the errno
/// and the kernel's own message where it sent one, and says what to do; everything done before the
/// failing step has been undone when this is thrown from <c>DevmemRxSetup.Apply</c>.
/// </summary>
public sealed class DevmemSetupException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DevmemSetupException()
        : this(DevmemSetupStep.Check, string.Empty, "devmem RX setup failed.", null, null, null, null)
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public DevmemSetupException(string message)
        : this(DevmemSetupStep.Check, string.Empty, message, null, null, null, null)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DevmemSetupException(string message, Exception innerException)
        : this(DevmemSetupStep.Check, string.Empty, message, null, null, null, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="step">The step that failed.</param>
    /// <param name="interfaceName">The interface.</param>
    /// <param name="what">What failed, in a few words ("cannot turn on header split").</param>
    /// <param name="errno">The errno, when the kernel gave one.</param>
    /// <param name="kernelMessage">The kernel's extended-ack message, when it sent one.</param>
    /// <param name="hint">What to do.</param>
    /// <param name="innerException">The underlying exception.</param>
    public DevmemSetupException(DevmemSetupStep step, string interfaceName, string what, Errno? errno, string? kernelMessage, string? hint, Exception? innerException)
        : base(Format(step, interfaceName, what, errno, kernelMessage, hint), innerException)
    {
        Step = step;
        InterfaceName = interfaceName;
        Errno = errno;
        KernelMessage = kernelMessage;
        Hint = hint;
        if (errno is { } e)
        {
            HResult = (int)e;
        }
    }

    /// <summary>The step that failed.</summary>
    public DevmemSetupStep Step { get; }

    /// <summary>The interface.</summary>
    public string InterfaceName { get; }

    /// <summary>The errno, when the kernel gave one.</summary>
    public Errno? Errno { get; }

    /// <summary>The errno's name ("EOPNOTSUPP"), when there is one.</summary>
    public string? ErrnoName => Errno?.Name();

    /// <summary>The kernel's extended-ack message, verbatim, when it sent one.</summary>
    public string? KernelMessage { get; }

    /// <summary>What to do about it.</summary>
    public string? Hint { get; }

    /// <summary>
    /// Set when the failure means zero copy is impossible on this host or NIC with a valid configuration
    /// (what <see cref="DevmemFallback.Copy"/> falls back on); null for a configuration error (no such
    /// interface, bad queues, EPERM...), which is thrown even with <see cref="DevmemFallback.Copy"/>.
    /// </summary>
    public DevmemFallbackKind? FallbackKind { get; internal set; }

    /// <summary>The step's name as messages and JSON spell it: "header-split", "bind-rx".</summary>
    /// <param name="step">The step.</param>
    /// <returns>Its name.</returns>
    public static string StepName(DevmemSetupStep step) => step switch
    {
        DevmemSetupStep.Check => "check",
        DevmemSetupStep.Snapshot => "snapshot",
        DevmemSetupStep.HeaderSplit => "header-split",
        DevmemSetupStep.Rss => "rss",
        DevmemSetupStep.FlowRule => "flow-rule",
        DevmemSetupStep.BindRx => "bind-rx",
        DevmemSetupStep.Undo => "undo",
        _ => step.ToString(),
    };

    internal static DevmemSetupException From(DevmemSetupStep step, string ifname, string what, Exception e, string? hint = null) => e switch
    {
        NetlinkException n => new(step, ifname, what, n.Errno, n.KernelMessage, hint ?? n.Hint, e),
        EthtoolIoctlException i => new(step, ifname, what, i.Errno, null, hint ?? HintFor(i.Errno), e),
        DevmemSetupException d => d,
        UnauthorizedAccessException => new(step, ifname, what, Interop.Errno.EPERM, null, "run as root or with CAP_NET_ADMIN", e),
        _ => new(step, ifname, $"{what}: {e.Message}", null, null, hint, e),
    };

    private static string? HintFor(Errno errno) => errno switch
    {
        Interop.Errno.EPERM => "run as root or with CAP_NET_ADMIN",
        Interop.Errno.ENODEV => "no such interface in this network namespace",
        _ => null,
    };

    private static string Format(DevmemSetupStep step, string ifname, string what, Errno? errno, string? kernelMessage, string? hint)
    {
        string where = ifname.Length == 0 ? StepName(step) : $"{StepName(step)} on {ifname}";
        string why = errno is not { } e ? "" : string.IsNullOrEmpty(kernelMessage) ? $": {e.Describe()}" : $": {e.Name()} \"{kernelMessage}\"{Netlink.NetlinkException.TruncationNote(kernelMessage)}";
        return hint is null ? $"{where}: {what}{why}" : $"{where}: {what}{why}. Hint: {hint}";
    }
}
