using Devmem.Interop;
using Devmem.Sys;

namespace Devmem.Zcrx;

/// <summary>
/// io_uring zero-copy receive (zcrx) could not be set up or stopped working: the io_uring could not be
/// created, the kernel refused to register the zcrx instance on the RX queue, or a receive on it failed.
/// Carries the errno and, in <see cref="DevmemIOException.Hint"/>, what it means here and what to do.
/// </summary>
/// <remarks>
/// <see cref="Exception.Message"/> reads <c>OPERATION failed: ENAME (N): strerror. HINT</c>. io_uring
/// has no extended ack: where one errno has several causes the hint names each (io_uring/zcrx.c
/// <c>io_register_zcrx</c>, net/core/netdev_rx_queue.c <c>netif_mp_open_rxq</c>).
/// </remarks>
public sealed class ZcrxException : DevmemIOException
{
    private ZcrxException(string operation, Errno errno, string? hint, ZcrxUnsupportedReason? unsupported, Exception? inner = null)
        : base(Format(operation, errno, hint), errno, operation, hint, null, null, inner)
    {
        Unsupported = unsupported;
    }

    /// <summary>Set when this kernel or NIC cannot do zcrx at all (so a copy fallback is the answer); null for other failures.</summary>
    public ZcrxUnsupportedReason? Unsupported { get; }

    private static string Format(string operation, Errno errno, string? hint) =>
        errno == Errno.None ? $"{operation}: {hint}" : hint is null ? $"{operation} failed: {errno.Describe()}" : $"{operation} failed: {errno.Describe()}. {hint}";

    /// <summary>io_uring_setup(2) failed.</summary>
    internal static ZcrxException SetupFailed(Errno errno, uint flags)
    {
        string op = $"io_uring_setup(flags 0x{flags:x})";
        return errno switch
        {
            Errno.ENOSYS => new(op, errno, "This kernel was built without io_uring (CONFIG_IO_URING).", ZcrxUnsupportedReason.NoIoUring),
            Errno.EPERM => new(op, errno, IoUringDisabledHint(), ZcrxUnsupportedReason.IoUringDisabled),
            Errno.EINVAL => new(op, errno, "The kernel refused the ring's flags (SINGLE_ISSUER and DEFER_TASKRUN need 6.1, CQE32 5.19): zcrx needs 6.15 or later.", ZcrxUnsupportedReason.KernelTooOld),
            Errno.ENOMEM => new(op, errno, "The ring's memory counts against the locked-memory limit: raise RLIMIT_MEMLOCK (ulimit -l).", null),
            Errno.EMFILE or Errno.ENFILE => new(op, errno, "Too many open files: raise the limit (ulimit -n) or close fds.", null),
            _ => new(op, errno, null, null),
        };
    }

    /// <summary>0: io_uring for everyone; 1: root and <see cref="IoUringGroupPath"/>'s group; 2: no one (6.6+).</summary>
    internal const string IoUringDisabledPath = "/proc/sys/kernel/io_uring_disabled";

    /// <summary>The group allowed io_uring when <see cref="IoUringDisabledPath"/> is 1.</summary>
    internal const string IoUringGroupPath = "/proc/sys/kernel/io_uring_group";

    /// <summary>What /proc/sys/kernel/io_uring_disabled says, for an EPERM from io_uring_setup.</summary>
    internal static string IoUringDisabledHint()
    {
        string? value = KernelFiles.ReadText(IoUringDisabledPath);
        string group = KernelFiles.ReadText(IoUringGroupPath) ?? "?";
        return value switch
        {
            "2" => "io_uring is disabled for every process: /proc/sys/kernel/io_uring_disabled is 2 (set it to 0, or to 1 and run in the group io_uring_group names).",
            "1" => $"io_uring is limited to root and to the group with id {group} (/proc/sys/kernel/io_uring_disabled is 1, /proc/sys/kernel/io_uring_group is {group}): run as root or in that group.",
            _ => "The kernel refused to create an io_uring (EPERM): a seccomp filter or LSM may forbid it; /proc/sys/kernel/io_uring_disabled is " + (value ?? "absent") + ".",
        };
    }

    /// <summary>The kernel lacks something zcrx needs, found before asking it to register (<see cref="Errno.None"/>).</summary>
    internal static ZcrxException NotSupported(string operation, ZcrxUnsupportedReason reason, string message) => new(operation, Errno.None, message, reason);

    /// <summary>IORING_REGISTER_ZCRX_IFQ failed; <paramref name="queueOwner"/> says who holds the queue, for EEXIST.</summary>
    internal static ZcrxException RegisterFailed(string target, Errno errno, bool dmabuf, bool rxBufLen, bool noDevice, string? queueOwner)
    {
        string op = $"IORING_REGISTER_ZCRX_IFQ ({target})";
        return errno switch
        {
            Errno.EPERM => new(op, errno, "Registering a zcrx instance needs CAP_NET_ADMIN: run as root or grant the capability.", null),
            Errno.ENODEV => new(op, errno, "No network interface has that index (in this network namespace).", null),
            Errno.EOPNOTSUPP when rxBufLen => new(op, errno, "The NIC's driver does not support a receive buffer size other than a page (rx-page-size); leave the buffer length unset.", null),
            Errno.EOPNOTSUPP => new(op, errno, "The NIC's driver has no queue API (queue_mgmt_ops) or no DMA device for the queue: it cannot take a memory provider, so zcrx is impossible on it.", ZcrxUnsupportedReason.NicUnsupported),
            Errno.EEXIST => new(op, errno, queueOwner is null
                ? "The queue is already bound to a memory provider (a devmem binding or another zcrx instance), or an XDP program is attached to the interface: free the queue, or pick another."
                : $"The queue is already taken: {queueOwner}. Free it, or pick another queue.", null),
            Errno.EINVAL when noDevice => new(op, errno, "This kernel has no ZCRX_REG_NODEV (zcrx without a NIC came in 7.2), or the area is a dma-buf (a NODEV instance takes host memory only).", ZcrxUnsupportedReason.KernelTooOld),
            Errno.EINVAL => new(op, errno, "The kernel refused the registration. The usual causes: header split is off or hds-thresh is not 0 on the interface (ethtool -G IF tcp-data-split on hds-thresh 0, or let DevmemRxSetup configure the NIC)" +
                (dmabuf ? "; a dma-buf area needs 6.16" : "") + (rxBufLen ? "; the buffer length must be a power of two of at least a page, and needs 7.0" : "") + ".", null),
            Errno.ERANGE => new(op, errno, "The queue index is beyond the interface's RX queues, or the buffer length is larger than the area's memory can back (huge pages are needed for buffers above a page).", null),
            Errno.EBUSY => new(op, errno, "The queue is in use by AF_XDP, or leased to a virtual device (netkit): free it or pick another.", null),
            Errno.ENOMEM => new(op, errno, "The area is pinned and counts against the locked-memory limit: raise RLIMIT_MEMLOCK (ulimit -l), or use a smaller area.", null),
            Errno.EFAULT => new(op, errno, "The area's address is not memory of this process (host memory must be mapped here).", null),
            _ => new(op, errno, null, null),
        };
    }

    /// <summary>A RECV_ZC on a socket ended with <paramref name="errno"/>.</summary>
    internal static ZcrxException ReceiveFailed(Errno errno) => new("io_uring RECV_ZC", errno, errno switch
    {
        Errno.EPROTONOSUPPORT => "zcrx receives on TCP sockets only.",
        Errno.EINVAL => "The kernel refused the receive request (an unknown zcrx instance, or flags this kernel lacks).",
        Errno.ENOTCONN => "The socket is not connected.",
        Errno.EFAULT => "The data sat in another zcrx instance's or a devmem binding's buffers: the flow is steered to a queue this instance is not registered on.",
        _ => null,
    }, null);

    /// <summary>The instance's ring thread failed with <paramref name="cause"/>: its sockets end with this.</summary>
    internal static ZcrxException LoopFailed(Exception cause) =>
        new("the zcrx instance's io_uring loop", cause is DevmemIOException d && d.Errno != Errno.None ? d.Errno : Errno.EIO,
            $"The thread that drives the instance's ring stopped ({cause.Message}); every socket on the instance ended. Dispose the instance and open a new one.", null, cause);

    /// <summary>An IORING_REGISTER_ZCRX_CTRL operation failed.</summary>
    internal static ZcrxException CtrlFailed(string op, Errno errno) => new($"IORING_REGISTER_ZCRX_CTRL {op}", errno, errno switch
    {
        Errno.EINVAL => "This kernel lacks the operation (zcrx control came in 6.19).",
        Errno.ENXIO => "The kernel does not know this zcrx instance.",
        _ => null,
    }, null);
}

/// <summary>Why zcrx cannot run here at all (where a copy fallback is the answer).</summary>
public enum ZcrxUnsupportedReason
{
    /// <summary>The kernel has no io_uring (CONFIG_IO_URING off).</summary>
    NoIoUring,

    /// <summary>io_uring is disabled by <c>/proc/sys/kernel/io_uring_disabled</c> (or forbidden to this process).</summary>
    IoUringDisabled,

    /// <summary>The kernel predates what was asked: zcrx (6.15), dma-buf areas (6.16), or zcrx without a NIC (7.2).</summary>
    KernelTooOld,

    /// <summary>The NIC's driver cannot take a memory provider on its queues (no queue API).</summary>
    NicUnsupported,
}
