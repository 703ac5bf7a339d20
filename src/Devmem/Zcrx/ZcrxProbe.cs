using Devmem.Interop;
using Devmem.Memory;
using Devmem.Sys;

namespace Devmem.Zcrx;

/// <summary>What <see cref="ZcrxProbe.Run"/> found about io_uring zero-copy receive on this kernel.</summary>
/// <param name="IoUringDisabled">/proc/sys/kernel/io_uring_disabled (0, 1 or 2); null where the file is absent (before 6.6).</param>
/// <param name="IoUringGroup">/proc/sys/kernel/io_uring_group; null where absent.</param>
/// <param name="RingError">Why a ring as zcrx needs it could not be created (the kernel's errno and hint); null when it could.</param>
/// <param name="RecvZc">Whether the kernel has IORING_OP_RECV_ZC (IORING_REGISTER_PROBE); null when no ring or the probe failed.</param>
/// <param name="Kernel">The running kernel's version.</param>
/// <param name="NoDevice">The kernel's answer to registering a NODEV instance (ZCRX_REG_NODEV); null when it could not be asked.</param>
/// <param name="NoDeviceDetail">What that registration said, in one line.</param>
internal sealed record ZcrxProbeResult(string? IoUringDisabled, string? IoUringGroup, DevmemIOException? RingError, bool? RecvZc, Version Kernel, bool? NoDevice, string NoDeviceDetail)
{
    /// <summary>zcrx into a dma-buf area: Linux 6.16 (io_uring/zcrx.c io_zcrx_import_dmabuf), decided by the kernel version, not asked.</summary>
    public bool? DmabufAreas => RecvZc == true ? Kernel >= new Version(6, 16) : null;
}

/// <summary>
/// Asks the running kernel what io_uring zero-copy receive it has, for the doctor: creates a small ring
/// with the flags a zcrx instance uses, probes IORING_OP_RECV_ZC (IORING_REGISTER_PROBE), and registers
/// and closes a NODEV instance on a tiny host-memory area. Every system call goes through
/// <see cref="Sys.Syscalls"/>; nothing stays registered.
/// </summary>
internal static class ZcrxProbe
{
    public static ZcrxProbeResult Run(Version kernel)
    {
        string? disabled = KernelFiles.ReadText(ZcrxException.IoUringDisabledPath);
        string? group = KernelFiles.ReadText(ZcrxException.IoUringGroupPath);
        DevmemIOException? ringError = null;
        bool? recvZc = null;
        try
        {
            using IoUringRing ring = IoUringRing.Create(4, ZcrxInstance.RingFlags);
            recvZc = ring.Supports(linux_io_uring.IORING_OP_RECV_ZC);
        }
        catch (DevmemIOException e)
        {
            ringError = e;
        }

        (bool? nodev, string nodevDetail) = recvZc == true ? NoDevice() : (null, "not asked: no zero-copy receive");
        return new ZcrxProbeResult(disabled, group, ringError, recvZc, kernel, nodev, nodevDetail);
    }

    /// <summary>Registers a NODEV instance on 64 KiB of host memory and closes it: the kernel's own answer.</summary>
    private static (bool?, string) NoDevice()
    {
        try
        {
            using var memory = HostMemory.Create(64 << 10, "zcrx-probe");
            using (ZcrxInstance.Open(memory, ZcrxOptions.NoDevice()))
            {
            }

            return (true, "the kernel registered a NODEV instance (and closed it)");
        }
        catch (ZcrxException e) when (e.Unsupported == ZcrxUnsupportedReason.KernelTooOld)
        {
            return (false, e.Errno.Describe());
        }
        catch (DevmemIOException e)
        {
            return (null, e.Message);
        }
    }
}
