namespace Devmem.Interop;

// The netdev generic netlink family: include/uapi/linux/netdev.h, generated from
// Documentation/netlink/specs/netdev.yaml. Declared as of the newest kernel checked (7.3.4);
// [KernelSince] marks what 6.12.117 lacks. Versions marked "(inferred)" come from the upstream
// net-next merge dates, not from a tarball of that version.

/// <summary>Constants from <c>linux/netdev.h</c>.</summary>
[UapiHeader("linux/netdev.h")]
internal static class Netdev
{
    public const string NETDEV_FAMILY_NAME = "netdev";
    public const int NETDEV_FAMILY_VERSION = 1;
    public const string NETDEV_MCGRP_MGMT = "mgmt";
    public const string NETDEV_MCGRP_PAGE_POOL = "page-pool";

    // enum netdev_xdp_act (flags)
    public const ulong NETDEV_XDP_ACT_BASIC = 1;
    public const ulong NETDEV_XDP_ACT_REDIRECT = 2;
    public const ulong NETDEV_XDP_ACT_NDO_XMIT = 4;
    public const ulong NETDEV_XDP_ACT_XSK_ZEROCOPY = 8;
    public const ulong NETDEV_XDP_ACT_HW_OFFLOAD = 16;
    public const ulong NETDEV_XDP_ACT_RX_SG = 32;
    public const ulong NETDEV_XDP_ACT_NDO_XMIT_SG = 64;
    public const ulong NETDEV_XDP_ACT_MASK = 127;

    // enum netdev_xdp_rx_metadata (flags)
    public const ulong NETDEV_XDP_RX_METADATA_TIMESTAMP = 1;
    public const ulong NETDEV_XDP_RX_METADATA_HASH = 2;
    public const ulong NETDEV_XDP_RX_METADATA_VLAN_TAG = 4;

    // enum netdev_xsk_flags (flags)
    public const ulong NETDEV_XSK_FLAGS_TX_TIMESTAMP = 1;
    public const ulong NETDEV_XSK_FLAGS_TX_CHECKSUM = 2;
    [KernelSince("6.15")] public const ulong NETDEV_XSK_FLAGS_TX_LAUNCH_TIME_FIFO = 4;

    // enum netdev_queue_type
    public const uint NETDEV_QUEUE_TYPE_RX = 0;
    public const uint NETDEV_QUEUE_TYPE_TX = 1;

    // enum netdev_qstats_scope (flags)
    public const ulong NETDEV_QSTATS_SCOPE_QUEUE = 1;

    // enum netdev_napi_threaded (inferred: the threaded attribute is 6.17, busy-poll 6.18)
    [KernelSince("6.17")] public const uint NETDEV_NAPI_THREADED_DISABLED = 0;
    [KernelSince("6.17")] public const uint NETDEV_NAPI_THREADED_ENABLED = 1;
    [KernelSince("6.18")] public const uint NETDEV_NAPI_THREADED_BUSY_POLL = 2;

    // attribute set "dev"
    public const ushort NETDEV_A_DEV_IFINDEX = 1;
    public const ushort NETDEV_A_DEV_PAD = 2;
    public const ushort NETDEV_A_DEV_XDP_FEATURES = 3;
    public const ushort NETDEV_A_DEV_XDP_ZC_MAX_SEGS = 4;
    public const ushort NETDEV_A_DEV_XDP_RX_METADATA_FEATURES = 5;
    public const ushort NETDEV_A_DEV_XSK_FEATURES = 6;
    public const ushort NETDEV_A_DEV_MAX = 6;

    // attribute set "io-uring-provider-info" (inferred)
    [KernelSince("7.0")] public const ushort NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN = 1;

    // attribute set "page-pool"
    public const ushort NETDEV_A_PAGE_POOL_ID = 1;
    public const ushort NETDEV_A_PAGE_POOL_IFINDEX = 2;
    public const ushort NETDEV_A_PAGE_POOL_NAPI_ID = 3;
    public const ushort NETDEV_A_PAGE_POOL_INFLIGHT = 4;
    public const ushort NETDEV_A_PAGE_POOL_INFLIGHT_MEM = 5;
    public const ushort NETDEV_A_PAGE_POOL_DETACH_TIME = 6;
    public const ushort NETDEV_A_PAGE_POOL_DMABUF = 7;
    [KernelSince("6.15")] public const ushort NETDEV_A_PAGE_POOL_IO_URING = 8;

    // attribute set "page-pool-stats"
    public const ushort NETDEV_A_PAGE_POOL_STATS_INFO = 1;
    public const ushort NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST = 8;
    public const ushort NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW = 9;
    public const ushort NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW_HIGH_ORDER = 10;
    public const ushort NETDEV_A_PAGE_POOL_STATS_ALLOC_EMPTY = 11;
    public const ushort NETDEV_A_PAGE_POOL_STATS_ALLOC_REFILL = 12;
    public const ushort NETDEV_A_PAGE_POOL_STATS_ALLOC_WAIVE = 13;
    public const ushort NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHED = 14;
    public const ushort NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHE_FULL = 15;
    public const ushort NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING = 16;
    public const ushort NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING_FULL = 17;
    public const ushort NETDEV_A_PAGE_POOL_STATS_RECYCLE_RELEASED_REFCNT = 18;

    // attribute set "napi"
    public const ushort NETDEV_A_NAPI_IFINDEX = 1;
    public const ushort NETDEV_A_NAPI_ID = 2;
    public const ushort NETDEV_A_NAPI_IRQ = 3;
    public const ushort NETDEV_A_NAPI_PID = 4;
    [KernelSince("6.13")] public const ushort NETDEV_A_NAPI_DEFER_HARD_IRQS = 5;
    [KernelSince("6.13")] public const ushort NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT = 6;
    [KernelSince("6.13")] public const ushort NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT = 7;
    [KernelSince("6.17")] public const ushort NETDEV_A_NAPI_THREADED = 8;

    // attribute set "queue"
    public const ushort NETDEV_A_QUEUE_ID = 1;
    public const ushort NETDEV_A_QUEUE_IFINDEX = 2;
    public const ushort NETDEV_A_QUEUE_TYPE = 3;
    public const ushort NETDEV_A_QUEUE_NAPI_ID = 4;
    public const ushort NETDEV_A_QUEUE_DMABUF = 5;
    [KernelSince("6.15")] public const ushort NETDEV_A_QUEUE_IO_URING = 6;
    [KernelSince("6.15")] public const ushort NETDEV_A_QUEUE_XSK = 7;
    [KernelSince("7.0")] public const ushort NETDEV_A_QUEUE_LEASE = 8;

    // attribute set "qstats"
    public const ushort NETDEV_A_QSTATS_IFINDEX = 1;
    public const ushort NETDEV_A_QSTATS_QUEUE_TYPE = 2;
    public const ushort NETDEV_A_QSTATS_QUEUE_ID = 3;
    public const ushort NETDEV_A_QSTATS_SCOPE = 4;
    public const ushort NETDEV_A_QSTATS_RX_PACKETS = 8;
    public const ushort NETDEV_A_QSTATS_RX_BYTES = 9;
    public const ushort NETDEV_A_QSTATS_TX_PACKETS = 10;
    public const ushort NETDEV_A_QSTATS_TX_BYTES = 11;
    public const ushort NETDEV_A_QSTATS_RX_ALLOC_FAIL = 12;
    public const ushort NETDEV_A_QSTATS_RX_HW_DROPS = 13;
    public const ushort NETDEV_A_QSTATS_RX_HW_DROP_OVERRUNS = 14;
    public const ushort NETDEV_A_QSTATS_RX_CSUM_COMPLETE = 15;
    public const ushort NETDEV_A_QSTATS_RX_CSUM_UNNECESSARY = 16;
    public const ushort NETDEV_A_QSTATS_RX_CSUM_NONE = 17;
    public const ushort NETDEV_A_QSTATS_RX_CSUM_BAD = 18;
    public const ushort NETDEV_A_QSTATS_RX_HW_GRO_PACKETS = 19;
    public const ushort NETDEV_A_QSTATS_RX_HW_GRO_BYTES = 20;
    public const ushort NETDEV_A_QSTATS_RX_HW_GRO_WIRE_PACKETS = 21;
    public const ushort NETDEV_A_QSTATS_RX_HW_GRO_WIRE_BYTES = 22;
    public const ushort NETDEV_A_QSTATS_RX_HW_DROP_RATELIMITS = 23;
    public const ushort NETDEV_A_QSTATS_TX_HW_DROPS = 24;
    public const ushort NETDEV_A_QSTATS_TX_HW_DROP_ERRORS = 25;
    public const ushort NETDEV_A_QSTATS_TX_CSUM_NONE = 26;
    public const ushort NETDEV_A_QSTATS_TX_NEEDS_CSUM = 27;
    public const ushort NETDEV_A_QSTATS_TX_HW_GSO_PACKETS = 28;
    public const ushort NETDEV_A_QSTATS_TX_HW_GSO_BYTES = 29;
    public const ushort NETDEV_A_QSTATS_TX_HW_GSO_WIRE_PACKETS = 30;
    public const ushort NETDEV_A_QSTATS_TX_HW_GSO_WIRE_BYTES = 31;
    public const ushort NETDEV_A_QSTATS_TX_HW_DROP_RATELIMITS = 32;
    public const ushort NETDEV_A_QSTATS_TX_STOP = 33;
    public const ushort NETDEV_A_QSTATS_TX_WAKE = 34;

    // attribute set "lease" (queue leasing, inferred 7.0: merged to net-next 2026-01)
    [KernelSince("7.0")] public const ushort NETDEV_A_LEASE_IFINDEX = 1;
    [KernelSince("7.0")] public const ushort NETDEV_A_LEASE_QUEUE = 2;
    [KernelSince("7.0")] public const ushort NETDEV_A_LEASE_NETNS_ID = 3;

    // attribute set "dmabuf" (bind-rx, bind-tx)
    public const ushort NETDEV_A_DMABUF_IFINDEX = 1;
    public const ushort NETDEV_A_DMABUF_QUEUES = 2;
    public const ushort NETDEV_A_DMABUF_FD = 3;
    public const ushort NETDEV_A_DMABUF_ID = 4;
    [KernelSince("7.3")] public const ushort NETDEV_A_DMABUF_RX_PAGE_SIZE = 5;

    // commands (do/dump requests and notifications)
    public const byte NETDEV_CMD_DEV_GET = 1;
    public const byte NETDEV_CMD_DEV_ADD_NTF = 2;
    public const byte NETDEV_CMD_DEV_DEL_NTF = 3;
    public const byte NETDEV_CMD_DEV_CHANGE_NTF = 4;
    public const byte NETDEV_CMD_PAGE_POOL_GET = 5;
    public const byte NETDEV_CMD_PAGE_POOL_ADD_NTF = 6;
    public const byte NETDEV_CMD_PAGE_POOL_DEL_NTF = 7;
    public const byte NETDEV_CMD_PAGE_POOL_CHANGE_NTF = 8;
    public const byte NETDEV_CMD_PAGE_POOL_STATS_GET = 9;
    public const byte NETDEV_CMD_QUEUE_GET = 10;
    public const byte NETDEV_CMD_NAPI_GET = 11;
    public const byte NETDEV_CMD_QSTATS_GET = 12;
    public const byte NETDEV_CMD_BIND_RX = 13;
    [KernelSince("6.13")] public const byte NETDEV_CMD_NAPI_SET = 14;
    [KernelSince("6.16")] public const byte NETDEV_CMD_BIND_TX = 15;
    [KernelSince("7.0")] public const byte NETDEV_CMD_QUEUE_CREATE = 16;
}
