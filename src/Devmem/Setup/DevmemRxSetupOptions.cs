using System.Net;

namespace Devmem.Setup;

/// <summary>What to do when devmem RX (zero copy) turns out to be impossible.</summary>
public enum DevmemFallback
{
    /// <summary>Fail with the reason (the default, as the kernel's ncdevmem).</summary>
    Never,

    /// <summary>
    /// Undo the NIC setup and receive by copy into the same memory instead (a ring of slots in its CPU
    /// mapping), with the same fragment API; one warning is logged with the reason.
    /// </summary>
    Copy,
}

/// <summary>
/// The flow to steer to the devmem queues with an ntuple rule: TCP to <see cref="ServerAddress"/>:<see cref="Port"/>,
/// from <see cref="ClientAddress"/>:<see cref="ClientPort"/> when given (a 5-tuple rule; where the NIC
/// refuses that, the rule falls back to destination address and port, as the kernel's ncdevmem does).
/// </summary>
/// <param name="ServerAddress">The local (destination) address the flow arrives at.</param>
/// <param name="Port">The local (destination) TCP port.</param>
/// <param name="ClientAddress">The peer's address, or null to match any.</param>
/// <param name="ClientPort">The peer's source port, or null to match any. ncdevmem uses the server port
/// here when a client address is given (its clients bind that port).</param>
public sealed record DevmemFlowSteering(IPAddress ServerAddress, ushort Port, IPAddress? ClientAddress = null, ushort? ClientPort = null);

/// <summary>Options for <see cref="DevmemRxSetup.Apply"/>.</summary>
public sealed class DevmemRxSetupOptions
{
    /// <summary>Creates options for an interface.</summary>
    /// <param name="interfaceName">The network interface, e.g. "eth1".</param>
    public DevmemRxSetupOptions(string interfaceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        InterfaceName = interfaceName;
    }

    /// <summary>The network interface.</summary>
    public string InterfaceName { get; }

    /// <summary>
    /// The first RX queue to bind; null chooses as ncdevmem does: the last RX queue
    /// (rx-count + combined-count − <see cref="QueueCount"/>).
    /// </summary>
    public uint? StartQueue { get; init; }

    /// <summary>How many RX queues to bind (default 1).</summary>
    public uint? QueueCount { get; init; }

    /// <summary>The flow to steer to the first devmem queue; null adds no rule (the caller steers).</summary>
    public DevmemFlowSteering? Steering { get; init; }

    /// <summary>
    /// Binds only: no header split, RSS or flow rule changes (ncdevmem <c>-n</c>). The NIC must already be
    /// set up; the checks before bind-rx still run.
    /// </summary>
    public bool SkipConfiguration { get; init; }

    /// <summary>rx-page-size for bind-rx (7.3+), or null for PAGE_SIZE.</summary>
    public uint? RxPageSize { get; init; }

    /// <summary>What to do when zero copy is impossible (default <see cref="DevmemFallback.Never"/>).</summary>
    public DevmemFallback Fallback { get; init; } = DevmemFallback.Never;

    /// <summary>
    /// Undo the setup when the process gets SIGINT, SIGTERM, SIGHUP or SIGQUIT, before the runtime's
    /// default action ends it (default true). An application that handles those signals itself to shut
    /// down gracefully should set this to false and dispose the setup on its shutdown path: the handler
    /// would otherwise unbind while the application still receives. Undo on normal process exit
    /// (<see cref="AppDomain.ProcessExit"/>) is always registered.
    /// </summary>
    public bool UndoOnSignals { get; init; } = true;
}
