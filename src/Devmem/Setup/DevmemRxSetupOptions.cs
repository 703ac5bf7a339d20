using System.Diagnostics.Metrics;
using System.Net;

namespace Devmem.Setup;

/// <summary>
/// What to do when devmem RX (zero copy) is impossible on this host or NIC: the library's one fallback
/// switch (<see cref="DevmemRxSetupOptions.Fallback"/>).
/// </summary>
/// <remarks>
/// The fallback covers only what a valid configuration cannot change (<see cref="DevmemFallbackKind"/>):
/// no dma-buf provider, a NIC or driver that cannot bind. A configuration error is thrown either way: an
/// interface that does not exist, an invalid name, queues out of range or already bound, missing
/// privileges (EPERM), a flow rule the NIC refuses.
/// </remarks>
public enum DevmemFallback
{
    /// <summary>Fail with the reason (the default, as the kernel's ncdevmem).</summary>
    Never,

    /// <summary>
    /// Receive: undo the NIC setup and receive by copy into the same memory instead (a ring of slots in
    /// its CPU mapping, or host memory when no dma-buf provider works), with the same fragment API.
    /// Transmit (<see cref="Transmit.DevmemTxOptions.Fallback"/>): send the same ranges of the memory over
    /// plain TCP, copied by the CPU, with the same send and completion API. One warning is logged with the reason.
    /// </summary>
    Copy,
}

/// <summary>Why zero copy is impossible on a valid configuration: the cases <see cref="DevmemFallback.Copy"/> falls back on.</summary>
public enum DevmemFallbackKind
{
    /// <summary>No provider could make a dma-buf here (no CUDA GPU, no udmabuf, no dma-heap).</summary>
    NoDmabufProvider,

    /// <summary>The memory given is not a dma-buf (<see cref="Memory.HostMemory"/>).</summary>
    NotDmabuf,

    /// <summary>The interface has no parent device (a virtual interface: lo, veth, bridge...).</summary>
    NoParentDevice,

    /// <summary>The driver has no queue management API, or is not known to have one on a kernel that would WARN.</summary>
    UnsupportedDriver,

    /// <summary>The driver cannot split TCP headers from payload (tcp-data-split: EOPNOTSUPP).</summary>
    NoHeaderSplit,

    /// <summary>The driver has no RSS indirection table to keep ordinary traffic off the devmem queues.</summary>
    NoRssTable,

    /// <summary>bind-rx refused the NIC itself: EOPNOTSUPP (no queue API, no DMA device) or ENODATA (its page pool cannot take unreadable memory).</summary>
    BindRxUnsupported,

    /// <summary>
    /// Devmem TX (<see cref="Transmit.DevmemTxSocket"/>): the kernel has no bind-tx (before 6.16), or bind-tx
    /// refused the NIC (EOPNOTSUPP: "Driver does not support netmem TX", or no DMA device).
    /// </summary>
    BindTxUnsupported,

    /// <summary>
    /// io_uring zero-copy receive (<see cref="DevmemRxEngine.Zcrx"/>) is impossible here: no io_uring or it
    /// is disabled, a kernel before 6.15 (6.16 for a dma-buf area), or a NIC without the queue API
    /// (<see cref="Zcrx.ZcrxException.Unsupported"/> says which).
    /// </summary>
    ZcrxUnsupported,
}

/// <summary>How the setup's queue receives: which of the kernel's two zero-copy receive paths.</summary>
public enum DevmemRxEngine
{
    /// <summary>Devmem TCP: bind-rx binds the dma-buf to the queues; each socket's <c>recvmsg(MSG_SOCK_DEVMEM)</c> returns fragments, released with <c>SO_DEVMEM_DONTNEED</c> (6.12).</summary>
    DevmemSockets,

    /// <summary>
    /// io_uring zero-copy receive: a zcrx instance on the queue (host memory from 6.15, a dma-buf from 6.16);
    /// completions give the same fragments, released through a shared refill ring without a system call.
    /// One queue per instance.
    /// </summary>
    Zcrx,
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

/// <summary>Options for <c>DevmemRxSetup.Apply</c>.</summary>
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

    /// <summary>
    /// What to do when zero copy is impossible here (default <see cref="DevmemFallback.Never"/>): the one
    /// fallback switch. With <see cref="DevmemFallback.Copy"/>, <see cref="DevmemRxSetup.Apply(long, DevmemRxSetupOptions, Microsoft.Extensions.Logging.ILogger?)"/>
    /// also takes host memory when no dma-buf provider works. Configuration errors are thrown either way.
    /// </summary>
    public DevmemFallback Fallback { get; init; } = DevmemFallback.Never;

    /// <summary>
    /// Which zero-copy receive path the queue uses (<see cref="DevmemRxEngine"/>): devmem sockets (the
    /// default) or io_uring zcrx. Either way <see cref="DevmemRxSetup.Wrap(System.Net.Sockets.Socket, Microsoft.Extensions.Logging.ILogger?)"/>
    /// gives the same <see cref="Receive.DevmemSocket"/> API; with zcrx the memory may also be host memory.
    /// </summary>
    public DevmemRxEngine Engine { get; init; }

    /// <summary>
    /// With <see cref="DevmemRxEngine.Zcrx"/>: which thread drives the instance's ring
    /// (<see cref="Zcrx.ZcrxOptions.Driver"/>; default <see cref="Zcrx.ZcrxDriver.OwnThread"/>, a thread of
    /// its own, so sockets receive on any thread). <see cref="Zcrx.ZcrxDriver.ReceivingThread"/> suits one
    /// thread per queue: the first thread that receives (or accepts, <see cref="Zcrx.ZcrxInstance.Accept"/>)
    /// drives the ring inside its blocking calls, with no hand-off; other threads are refused. Ignored with
    /// devmem sockets.
    /// </summary>
    public Zcrx.ZcrxDriver ZcrxDriver { get; init; }

    /// <summary>
    /// Undo the setup when the process gets SIGINT, SIGTERM, SIGHUP or SIGQUIT, before the runtime's
    /// default action ends it (default true). An application that handles those signals itself to shut
    /// down gracefully should set this to false and dispose the setup on its shutdown path: the handler
    /// would otherwise unbind while the application still receives. Undo on normal process exit
    /// (<see cref="AppDomain.ProcessExit"/>) is always registered.
    /// </summary>
    public bool UndoOnSignals { get; init; } = true;

    /// <summary>
    /// Where the sockets this setup wraps record their metrics: the "Devmem" meter made by this factory
    /// (e.g. the one <c>services.AddMetrics()</c> registers), or, when null (the default), the library's
    /// static "Devmem" meter. The instruments and their tags: <see cref="Receive.DevmemMetrics"/>.
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }
}
