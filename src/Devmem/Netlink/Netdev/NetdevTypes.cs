namespace Devmem.Netlink.Netdev;

/// <summary>Queue type (netdev.yaml <c>queue-type</c>; NETDEV_QUEUE_TYPE_*).</summary>
public enum NetdevQueueType : uint
{
    /// <summary>A receive queue.</summary>
    Rx = 0,

    /// <summary>A transmit queue.</summary>
    Tx = 1,
}

/// <summary>XDP features of a device (netdev.yaml <c>xdp-act</c>).</summary>
[Flags]
public enum NetdevXdpFeatures : ulong
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>basic: XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX.</summary>
    Basic = 1,

    /// <summary>redirect: XDP_REDIRECT.</summary>
    Redirect = 2,

    /// <summary>ndo-xmit: implements ndo_xdp_xmit.</summary>
    NdoXmit = 4,

    /// <summary>xsk-zerocopy: AF_XDP zero copy.</summary>
    XskZerocopy = 8,

    /// <summary>hw-offload: XDP offload.</summary>
    HwOffload = 16,

    /// <summary>rx-sg: non-linear XDP buffers in the driver's NAPI callback.</summary>
    RxSg = 32,

    /// <summary>ndo-xmit-sg: non-linear XDP buffers in ndo_xdp_xmit.</summary>
    NdoXmitSg = 64,
}

/// <summary>XDP receive metadata a device exposes (netdev.yaml <c>xdp-rx-metadata</c>).</summary>
[Flags]
public enum NetdevXdpRxMetadata : ulong
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>timestamp.</summary>
    Timestamp = 1,

    /// <summary>hash.</summary>
    Hash = 2,

    /// <summary>vlan-tag.</summary>
    VlanTag = 4,
}

/// <summary>AF_XDP features (netdev.yaml <c>xsk-flags</c>).</summary>
[Flags]
public enum NetdevXskFeatures : ulong
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>tx-timestamp.</summary>
    TxTimestamp = 1,

    /// <summary>tx-checksum.</summary>
    TxChecksum = 2,

    /// <summary>tx-launch-time-fifo (6.15).</summary>
    TxLaunchTimeFifo = 4,
}

/// <summary>NAPI threaded mode (netdev.yaml <c>napi-threaded</c>, 6.17+).</summary>
public enum NetdevNapiThreaded : uint
{
    /// <summary>Softirq polling.</summary>
    Disabled = 0,

    /// <summary>Threaded polling.</summary>
    Enabled = 1,

    /// <summary>Threaded busy polling.</summary>
    BusyPoll = 2,
}

/// <summary>How qstats-get aggregates (netdev.yaml <c>qstats-scope</c>).</summary>
public enum NetdevQstatsScope
{
    /// <summary>One record per device (no scope attribute sent).</summary>
    Device = 0,

    /// <summary>One record per queue (scope = queue).</summary>
    Queue = 1,
}

/// <summary>A network device as the netdev family reports it (dev-get).</summary>
/// <param name="Ifindex">Interface index.</param>
/// <param name="XdpFeatures">xdp-features.</param>
/// <param name="XdpZeroCopyMaxSegments">xdp-zc-max-segs, if reported.</param>
/// <param name="XdpRxMetadataFeatures">xdp-rx-metadata-features.</param>
/// <param name="XskFeatures">xsk-features.</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record NetdevDevice(
    int Ifindex,
    NetdevXdpFeatures XdpFeatures,
    uint? XdpZeroCopyMaxSegments,
    NetdevXdpRxMetadata XdpRxMetadataFeatures,
    NetdevXskFeatures XskFeatures,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes);

/// <summary>The lease of a virtual device's queue onto a physical one (queue <c>lease</c>, 7.0+).</summary>
/// <param name="Ifindex">The physical device.</param>
/// <param name="QueueId">Its queue id.</param>
/// <param name="QueueType">Its queue type.</param>
/// <param name="NetnsId">The physical device's netns id, if reported.</param>
public sealed record NetdevQueueLease(int? Ifindex, uint? QueueId, NetdevQueueType? QueueType, int? NetnsId);

/// <summary>A device queue (queue-get). A value type, so that decoding one allocates nothing.</summary>
/// <param name="Id">Queue index, per type.</param>
/// <param name="Ifindex">Interface index.</param>
/// <param name="Type">rx or tx.</param>
/// <param name="NapiId">The NAPI instance serving it, if any.</param>
/// <param name="DmabufId">The dma-buf binding id when a dma-buf is bound to it (devmem).</param>
/// <param name="HasIoUring">Whether an io_uring zero-copy area is bound (io-uring nest present, 6.15+).</param>
/// <param name="HasXsk">Whether an AF_XDP socket uses it (xsk nest present, 6.15+).</param>
/// <param name="Lease">The queue lease (7.0+), if any.</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public readonly record struct NetdevQueueInfo(
    uint Id,
    int Ifindex,
    NetdevQueueType Type,
    uint? NapiId,
    uint? DmabufId,
    bool HasIoUring,
    bool HasXsk,
    NetdevQueueLease? Lease,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes)
{
    /// <summary>
    /// The io_uring zcrx instance's receive buffer size (the io-uring nest's <c>rx-buf-len</c>, 7.0+:
    /// io_uring/zcrx.c <c>io_pp_nl_fill</c>); null when no io_uring instance holds the queue or the kernel
    /// does not report it.
    /// </summary>
    public ulong? IoUringRxBufferLength { get; init; }
}

/// <summary>A NAPI instance (napi-get).</summary>
/// <param name="Id">NAPI id.</param>
/// <param name="Ifindex">Interface index.</param>
/// <param name="Irq">Interrupt, if any.</param>
/// <param name="Pid">Polling thread pid, when threaded.</param>
/// <param name="DeferHardIrqs">defer-hard-irqs (6.13+).</param>
/// <param name="GroFlushTimeoutNs">gro-flush-timeout in ns (6.13+).</param>
/// <param name="IrqSuspendTimeoutNs">irq-suspend-timeout in ns (6.13+).</param>
/// <param name="Threaded">threaded mode (6.17+).</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record NetdevNapi(
    uint Id,
    int Ifindex,
    uint? Irq,
    uint? Pid,
    uint? DeferHardIrqs,
    ulong? GroFlushTimeoutNs,
    ulong? IrqSuspendTimeoutNs,
    NetdevNapiThreaded? Threaded,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes);

/// <summary>Settings for napi-set (6.13+); null leaves a setting unchanged.</summary>
/// <param name="Id">NAPI id.</param>
/// <param name="DeferHardIrqs">defer-hard-irqs.</param>
/// <param name="GroFlushTimeoutNs">gro-flush-timeout in ns.</param>
/// <param name="IrqSuspendTimeoutNs">irq-suspend-timeout in ns.</param>
/// <param name="Threaded">threaded mode (6.17+).</param>
public sealed record NetdevNapiSettings(uint Id, uint? DeferHardIrqs = null, ulong? GroFlushTimeoutNs = null, ulong? IrqSuspendTimeoutNs = null, NetdevNapiThreaded? Threaded = null);

/// <summary>A page pool (page-pool-get).</summary>
/// <param name="Id">Page pool id.</param>
/// <param name="Ifindex">Interface index; absent once the device is gone.</param>
/// <param name="NapiId">NAPI using it.</param>
/// <param name="Inflight">Pages handed out and not yet returned.</param>
/// <param name="InflightMemory">Bytes in those pages.</param>
/// <param name="DetachTime">CLOCK_BOOTTIME seconds when the driver detached it, if it did.</param>
/// <param name="DmabufId">The dma-buf binding it allocates from (devmem).</param>
/// <param name="HasIoUring">Whether it is an io_uring area's pool (6.15+).</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record NetdevPagePool(
    ulong Id,
    int? Ifindex,
    ulong? NapiId,
    ulong? Inflight,
    ulong? InflightMemory,
    ulong? DetachTime,
    uint? DmabufId,
    bool HasIoUring,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes)
{
    /// <summary>
    /// The io_uring zcrx instance's receive buffer size, the pool's buffer size (the io-uring nest's
    /// <c>rx-buf-len</c>, 7.0+: io_uring/zcrx.c <c>io_pp_nl_fill</c>); null for other pools or where the
    /// kernel does not report it.
    /// </summary>
    public ulong? IoUringRxBufferLength { get; init; }
}

/// <summary>Page pool statistics (page-pool-stats-get; needs CONFIG_PAGE_POOL_STATS).</summary>
/// <param name="PagePoolId">Page pool id (info.id).</param>
/// <param name="Ifindex">Interface index (info.ifindex).</param>
/// <param name="Counters">The counters by kernel name ("alloc-fast", "recycle-ring", ...), those reported.</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record NetdevPagePoolStats(
    ulong? PagePoolId,
    int? Ifindex,
    IReadOnlyDictionary<string, ulong> Counters,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes);

/// <summary>Device or queue statistics (qstats-get).</summary>
/// <param name="Ifindex">Interface index.</param>
/// <param name="QueueType">Queue type, for queue scope.</param>
/// <param name="QueueId">Queue id, for queue scope.</param>
/// <param name="Counters">The counters by kernel name ("rx-packets", "tx-bytes", ...), those the driver reports.</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record NetdevQueueStats(
    int Ifindex,
    NetdevQueueType? QueueType,
    uint? QueueId,
    IReadOnlyDictionary<string, ulong> Counters,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes)
{
    /// <summary>Every counter name the spec defines ("rx-packets" … "tx-wake"), in attribute order.</summary>
    public static IReadOnlyList<string> KnownCounters => NetdevSpec.QstatsCounterNames;
}

/// <summary>What a netdev notification says happened.</summary>
public enum NetdevNotificationKind
{
    /// <summary>dev-add-ntf (mgmt group).</summary>
    DeviceAdded,

    /// <summary>dev-del-ntf (mgmt group).</summary>
    DeviceDeleted,

    /// <summary>dev-change-ntf (mgmt group).</summary>
    DeviceChanged,

    /// <summary>page-pool-add-ntf (page-pool group).</summary>
    PagePoolAdded,

    /// <summary>page-pool-del-ntf (page-pool group).</summary>
    PagePoolDeleted,

    /// <summary>page-pool-change-ntf (page-pool group).</summary>
    PagePoolChanged,
}

/// <summary>Multicast groups of the netdev family.</summary>
[Flags]
public enum NetdevMulticastGroups
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>"mgmt": device add, delete, change.</summary>
    Management = 1,

    /// <summary>"page-pool": page pool add, delete, change.</summary>
    PagePool = 2,
}

/// <summary>One netdev notification.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Device">The device, for device notifications.</param>
/// <param name="PagePool">The page pool, for page-pool notifications.</param>
public sealed record NetdevNotification(NetdevNotificationKind Kind, NetdevDevice? Device, NetdevPagePool? PagePool);
