using static Devmem.Interop.Netdev;
using K = Devmem.Netlink.NetlinkAttributeKind;

namespace Devmem.Netlink.Netdev;

/// <summary>
/// The netdev family's spec, transcribed from <c>Documentation/netlink/specs/netdev.yaml</c> of the
/// newest kernel checked (7.3.4). Ids come from <see cref="Devmem.Interop.Netdev"/> (uapi
/// <c>linux/netdev.h</c>), names from the spec.
/// </summary>
internal static class NetdevSpec
{
    public static readonly NetlinkEnumSpec XdpAct = new("xdp-act", true,
        ["basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg"]);

    public static readonly NetlinkEnumSpec XdpRxMetadata = new("xdp-rx-metadata", true, ["timestamp", "hash", "vlan-tag"]);

    public static readonly NetlinkEnumSpec XskFlags = new("xsk-flags", true, ["tx-timestamp", "tx-checksum", "tx-launch-time-fifo"]);

    public static readonly NetlinkEnumSpec QueueType = new("queue-type", false, ["rx", "tx"]);

    public static readonly NetlinkEnumSpec QstatsScope = new("qstats-scope", true, ["queue"]);

    public static readonly NetlinkEnumSpec NapiThreaded = new("napi-threaded", false, ["disabled", "enabled", "busy-poll"]);

    private static readonly string[] QstatsCounters =
    [
        "rx-packets", "rx-bytes", "tx-packets", "tx-bytes", "rx-alloc-fail", "rx-hw-drops", "rx-hw-drop-overruns",
        "rx-csum-complete", "rx-csum-unnecessary", "rx-csum-none", "rx-csum-bad", "rx-hw-gro-packets",
        "rx-hw-gro-bytes", "rx-hw-gro-wire-packets", "rx-hw-gro-wire-bytes", "rx-hw-drop-ratelimits",
        "tx-hw-drops", "tx-hw-drop-errors", "tx-csum-none", "tx-needs-csum", "tx-hw-gso-packets",
        "tx-hw-gso-bytes", "tx-hw-gso-wire-packets", "tx-hw-gso-wire-bytes", "tx-hw-drop-ratelimits",
        "tx-stop", "tx-wake",
    ];

    private static readonly string[] PagePoolStatsCounters =
    [
        "alloc-fast", "alloc-slow", "alloc-slow-high-order", "alloc-empty", "alloc-refill", "alloc-waive",
        "recycle-cached", "recycle-cache-full", "recycle-ring", "recycle-ring-full", "recycle-released-refcnt",
    ];

    /// <summary>Names of the qstats counters, index i = attribute NETDEV_A_QSTATS_RX_PACKETS + i.</summary>
    public static IReadOnlyList<string> QstatsCounterNames => QstatsCounters;

    /// <summary>Names of the page-pool-stats counters, index i = NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST + i.</summary>
    public static IReadOnlyList<string> PagePoolStatsCounterNames => PagePoolStatsCounters;

    public static readonly NetlinkFamilySpec Family = new(
        NETDEV_FAMILY_NAME,
        NETDEV_FAMILY_VERSION,
        [
            new("dev-get", NETDEV_CMD_DEV_GET, "dev"),
            new("page-pool-get", NETDEV_CMD_PAGE_POOL_GET, "page-pool", AddedIn: "6.8", ConfigOption: "CONFIG_PAGE_POOL"),
            new("page-pool-stats-get", NETDEV_CMD_PAGE_POOL_STATS_GET, "page-pool-stats", AddedIn: "6.8", ConfigOption: "CONFIG_PAGE_POOL_STATS"),
            new("queue-get", NETDEV_CMD_QUEUE_GET, "queue", AddedIn: "6.8"),
            new("napi-get", NETDEV_CMD_NAPI_GET, "napi", AddedIn: "6.8"),
            new("qstats-get", NETDEV_CMD_QSTATS_GET, "qstats", AddedIn: "6.10"),
            new("bind-rx", NETDEV_CMD_BIND_RX, "dmabuf", AddedIn: "6.12"),
            new("napi-set", NETDEV_CMD_NAPI_SET, "napi", AddedIn: "6.13"),
            new("bind-tx", NETDEV_CMD_BIND_TX, "dmabuf", AddedIn: "6.16"),
            new("queue-create", NETDEV_CMD_QUEUE_CREATE, "queue", AddedIn: "7.0"),
        ],
        [
            new("dev",
                new(NETDEV_A_DEV_IFINDEX, "ifindex", K.U32),
                new(NETDEV_A_DEV_PAD, "pad", K.Pad),
                new(NETDEV_A_DEV_XDP_FEATURES, "xdp-features", K.U64, XdpAct),
                new(NETDEV_A_DEV_XDP_ZC_MAX_SEGS, "xdp-zc-max-segs", K.U32),
                new(NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, "xdp-rx-metadata-features", K.U64, XdpRxMetadata),
                new(NETDEV_A_DEV_XSK_FEATURES, "xsk-features", K.U64, XskFlags)),
            new("io-uring-provider-info",
                [new(NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN, "rx-buf-len", K.UInt)]),
            new("page-pool",
                new(NETDEV_A_PAGE_POOL_ID, "id", K.UInt),
                new(NETDEV_A_PAGE_POOL_IFINDEX, "ifindex", K.U32),
                new(NETDEV_A_PAGE_POOL_NAPI_ID, "napi-id", K.UInt),
                new(NETDEV_A_PAGE_POOL_INFLIGHT, "inflight", K.UInt),
                new(NETDEV_A_PAGE_POOL_INFLIGHT_MEM, "inflight-mem", K.UInt),
                new(NETDEV_A_PAGE_POOL_DETACH_TIME, "detach-time", K.UInt),
                new(NETDEV_A_PAGE_POOL_DMABUF, "dmabuf", K.U32),
                new(NETDEV_A_PAGE_POOL_IO_URING, "io-uring", K.Nest, NestedSet: "io-uring-provider-info")),
            new("page-pool-info",
                new(NETDEV_A_PAGE_POOL_ID, "id", K.UInt),
                new(NETDEV_A_PAGE_POOL_IFINDEX, "ifindex", K.U32)),
            new("page-pool-stats",
                [new(NETDEV_A_PAGE_POOL_STATS_INFO, "info", K.Nest, NestedSet: "page-pool-info"),
                 .. PagePoolStatsCounters.Select((n, i) => new NetlinkAttributeSpec((ushort)(NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST + i), n, K.UInt))]),
            new("napi",
                new(NETDEV_A_NAPI_IFINDEX, "ifindex", K.U32),
                new(NETDEV_A_NAPI_ID, "id", K.U32),
                new(NETDEV_A_NAPI_IRQ, "irq", K.U32),
                new(NETDEV_A_NAPI_PID, "pid", K.U32),
                new(NETDEV_A_NAPI_DEFER_HARD_IRQS, "defer-hard-irqs", K.U32),
                new(NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT, "gro-flush-timeout", K.UInt),
                new(NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT, "irq-suspend-timeout", K.UInt),
                new(NETDEV_A_NAPI_THREADED, "threaded", K.U32, NapiThreaded)),
            new("xsk-info"),
            new("queue",
                new(NETDEV_A_QUEUE_ID, "id", K.U32),
                new(NETDEV_A_QUEUE_IFINDEX, "ifindex", K.U32),
                new(NETDEV_A_QUEUE_TYPE, "type", K.U32, QueueType),
                new(NETDEV_A_QUEUE_NAPI_ID, "napi-id", K.U32),
                new(NETDEV_A_QUEUE_DMABUF, "dmabuf", K.U32),
                new(NETDEV_A_QUEUE_IO_URING, "io-uring", K.Nest, NestedSet: "io-uring-provider-info"),
                new(NETDEV_A_QUEUE_XSK, "xsk", K.Nest, NestedSet: "xsk-info"),
                new(NETDEV_A_QUEUE_LEASE, "lease", K.Nest, NestedSet: "lease")),
            new("qstats",
                [new(NETDEV_A_QSTATS_IFINDEX, "ifindex", K.U32),
                 new(NETDEV_A_QSTATS_QUEUE_TYPE, "queue-type", K.U32, QueueType),
                 new(NETDEV_A_QSTATS_QUEUE_ID, "queue-id", K.U32),
                 new(NETDEV_A_QSTATS_SCOPE, "scope", K.UInt, QstatsScope),
                 .. QstatsCounters.Select((n, i) => new NetlinkAttributeSpec((ushort)(NETDEV_A_QSTATS_RX_PACKETS + i), n, K.UInt))]),
            new("queue-id",
                new(NETDEV_A_QUEUE_ID, "id", K.U32),
                new(NETDEV_A_QUEUE_TYPE, "type", K.U32, QueueType)),
            new("lease",
                new(NETDEV_A_LEASE_IFINDEX, "ifindex", K.U32),
                new(NETDEV_A_LEASE_QUEUE, "queue", K.Nest, NestedSet: "queue-id"),
                new(NETDEV_A_LEASE_NETNS_ID, "netns-id", K.S32)),
            new("dmabuf",
                new(NETDEV_A_DMABUF_IFINDEX, "ifindex", K.U32, Doc: "netdev ifindex to bind the dmabuf to."),
                new(NETDEV_A_DMABUF_QUEUES, "queues", K.Nest, NestedSet: "queue-id", Multi: true, Doc: "receive queues to bind the dmabuf to."),
                new(NETDEV_A_DMABUF_FD, "fd", K.U32, Doc: "dmabuf file descriptor to bind."),
                new(NETDEV_A_DMABUF_ID, "id", K.U32, Doc: "id of the dmabuf binding"),
                new(NETDEV_A_DMABUF_RX_PAGE_SIZE, "rx-page-size", K.U32)),
        ]);
}
