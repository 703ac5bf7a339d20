using Devmem.Interop;
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
public sealed class DevmemSetupException : DevmemIOException
{
    private DevmemSetupException(DevmemSetupStep step, string interfaceName, string what, Errno errno, string? kernelMessage, string? badAttribute, string? hint, Exception? innerException)
        : base(Format(step, interfaceName, what, errno, kernelMessage, hint), errno, StepName(step), hint, kernelMessage, badAttribute, innerException)
    {
        Step = step;
        InterfaceName = interfaceName;
        What = what;
    }

    /// <summary>The step that failed.</summary>
    public DevmemSetupStep Step { get; }

    /// <summary>The interface.</summary>
    public string InterfaceName { get; }

    /// <summary>What failed, in a few words ("cannot turn on header split").</summary>
    public string What { get; }

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

    /// <summary>The library refused <paramref name="step"/> before asking the kernel: <paramref name="what"/> says why.</summary>
    internal static DevmemSetupException Refused(DevmemSetupStep step, string ifname, string what, string? hint = null, DevmemFallbackKind? fallbackKind = null) =>
        new(step, ifname, what, Interop.Errno.None, null, null, hint, null) { FallbackKind = fallbackKind };

    /// <summary><paramref name="step"/> failed with <paramref name="errno"/> (no netlink message to quote).</summary>
    internal static DevmemSetupException Failed(DevmemSetupStep step, string ifname, string what, Errno errno, string? hint = null) =>
        new(step, ifname, what, errno, null, null, hint, null);

    /// <summary>The same failure, with <paramref name="more"/> added to what failed.</summary>
    internal static DevmemSetupException Amend(DevmemSetupException e, string more) =>
        new(e.Step, e.InterfaceName, e.What + more, e.Errno, e.KernelMessage, e.BadAttribute, e.Hint, e) { FallbackKind = e.FallbackKind };

    /// <summary><paramref name="step"/> failed because <paramref name="e"/> was thrown: its errno, kernel message and hint carried over.</summary>
    internal static DevmemSetupException From(DevmemSetupStep step, string ifname, string what, Exception e, string? hint = null) => e switch
    {
        DevmemSetupException d => d,
        DevmemIOException n when n.Errno != Interop.Errno.None => new(step, ifname, what, n.Errno, n.KernelMessage, n.BadAttribute, hint ?? (n is EthtoolIoctlException ? HintFor(n.Errno) : n.Hint), e),
        UnauthorizedAccessException => new(step, ifname, what, Interop.Errno.EPERM, null, null, "run as root or with CAP_NET_ADMIN", e),
        _ => new(step, ifname, $"{what}: {e.Message}", Interop.Errno.None, null, null, hint, e),
    };

    private static string? HintFor(Errno errno) => errno switch
    {
        Interop.Errno.EPERM => "run as root or with CAP_NET_ADMIN",
        Interop.Errno.ENODEV => "no such interface in this network namespace",
        _ => null,
    };

    private static string Format(DevmemSetupStep step, string ifname, string what, Errno errno, string? kernelMessage, string? hint)
    {
        string where = ifname.Length == 0 ? StepName(step) : $"{StepName(step)} on {ifname}";
        string why = errno == Interop.Errno.None ? "" : string.IsNullOrEmpty(kernelMessage) ? $": {errno.Describe()}" : $": {errno.Name()} \"{kernelMessage}\"{TruncationNote(kernelMessage)}";
        return hint is null ? $"{where}: {what}{why}" : $"{where}: {what}{why}. Hint: {hint}";
    }
}
