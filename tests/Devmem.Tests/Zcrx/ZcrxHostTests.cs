using System.Net.NetworkInformation;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.TestSupport;
using Devmem.Zcrx;

namespace Devmem.Tests.Zcrx;

// io_uring zcrx against the host's kernel: what it answers without a NIC that can take a memory
// provider (io_uring/zcrx.c io_register_zcrx, zcrx_register_netdev), and, where the kernel has zcrx
// without a NIC (ZCRX_REG_NODEV, 7.2), a whole validated stream through it over loopback.
[Tier(Tier.HostKernel)]
public sealed class ZcrxHostTests
{
    private static readonly Version Kernel = Environment.OSVersion.Version;

    private static int LoopbackIndex() =>
        NetworkInterface.GetAllNetworkInterfaces().First(n => n.NetworkInterfaceType == NetworkInterfaceType.Loopback).GetIPProperties().GetIPv4Properties().Index;

    [Fact]
    public void Loopback_cannot_take_a_zcrx_instance_and_the_error_says_why()
    {
        using var memory = HostMemory.Create(4 << 20);
        var ex = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(LoopbackIndex(), 0)));
        if (Kernel < new Version(6, 15))
        {
            Assert.Equal(ZcrxUnsupportedReason.KernelTooOld, ex.Unsupported);
            Assert.Contains("6.15", ex.Message, StringComparison.Ordinal);
            return;
        }

        // lo has no parent device: netdev_queue_get_dma_dev finds no DMA device (zcrx_register_netdev).
        Assert.Equal(Errno.EOPNOTSUPP, ex.Errno);
        Assert.Equal(ZcrxUnsupportedReason.NicUnsupported, ex.Unsupported);
        Assert.Contains("IORING_REGISTER_ZCRX_IFQ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("queue API", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_interface_index_that_does_not_exist_is_ENODEV()
    {
        if (Kernel < new Version(6, 15))
        {
            Assert.Skip($"kernel {Kernel} has no zcrx (6.15): the registration is refused before the interface is looked up");
        }

        using var memory = HostMemory.Create(1 << 20);
        var ex = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(int.MaxValue, 0)));
        Assert.Equal(Errno.ENODEV, ex.Errno);
        Assert.Null(ex.Unsupported);
        Assert.Contains("No network interface has that index", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_NIC_the_kernel_either_copies_a_whole_stream_through_zcrx_or_says_it_cannot()
    {
        using var memory = HostMemory.Create(8 << 20);
        ZcrxInstance zcrx;
        try
        {
            zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice());
        }
        catch (ZcrxException ex) when (Kernel < new Version(7, 2))
        {
            // Before ZCRX_REG_NODEV the flag is unknown: EINVAL (io_register_zcrx: reg.flags & ~ZCRX_SUPPORTED_REG_FLAGS).
            Assert.Equal(ZcrxUnsupportedReason.KernelTooOld, ex.Unsupported);
            Assert.Contains("ZCRX_REG_NODEV", ex.Message, StringComparison.Ordinal);
            return;
        }

        using (zcrx)
        {
            Assert.True(zcrx.IsNoDevice);
            Assert.Equal((uint)Environment.SystemPageSize, zcrx.RxBufferLength);
            await ZcrxScenarios.StreamAndValidate(zcrx, 16L << 20, connections: 2);
        }
    }

    [Fact]
    public void Io_uring_disabled_2_is_named_by_the_doctor_and_by_ZcrxInstance_Open()
    {
        // kernel.io_uring_disabled (6.6, io_uring/io_uring.c io_uring_allowed): 2 refuses io_uring_setup to
        // every process with EPERM. A global setting: set only for the two calls, restored in finally.
        const string Sysctl = "/proc/sys/kernel/io_uring_disabled";
        Assert.SkipUnless(File.Exists(Sysctl), $"kernel {Kernel} has no {Sysctl} (6.6)");
        string saved = File.ReadAllText(Sysctl).Trim();
        using var memory = HostMemory.Create(1 << 20);
        ZcrxException? ex = null;
        Diagnostics.DoctorReport? report = null;
        try
        {
            try
            {
                File.WriteAllText(Sysctl, "2");
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                Assert.Skip($"writing {Sysctl} needs root (CAP_SYS_ADMIN in the initial user namespace): {e.Message}");
            }

            ex = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, ZcrxOptions.NoDevice()));
            report = Diagnostics.DevmemDoctor.Examine("lo");
        }
        finally
        {
            File.WriteAllText(Sysctl, saved);
        }

        Assert.Equal(saved, File.ReadAllText(Sysctl).Trim());
        Assert.Equal(ZcrxUnsupportedReason.IoUringDisabled, ex.Unsupported);
        Assert.Equal(Errno.EPERM, ex.Errno);
        Assert.StartsWith("io_uring_setup(flags 0x", ex.Message, StringComparison.Ordinal);
        Assert.Contains("/proc/sys/kernel/io_uring_disabled is 2", ex.Message, StringComparison.Ordinal);

        Diagnostics.DoctorZcrxReport z = report.Zcrx;
        Assert.Equal("2", z.IoUringDisabled);
        Assert.False(z.IoUring);
        Assert.Null(z.RecvZc);
        Assert.Null(z.NoDevice);
        Assert.False(z.ZcrxRxPossible);
        Assert.False(report.ZcrxRxPossible);
        Diagnostics.DoctorCheck c = z.Checks.Single(c => c.Id == "io-uring");
        Assert.Equal(Diagnostics.DoctorStatus.Fail, c.Status);
        Assert.Contains("io_uring is disabled", c.Detail, StringComparison.Ordinal);
        Assert.Contains("EPERM", c.Detail, StringComparison.Ordinal);
        Assert.Contains("/proc/sys/kernel/io_uring_disabled is 2", c.Detail, StringComparison.Ordinal);
        Assert.Equal(ex.Hint, c.Fix);
        Assert.Contains("set it to 0", c.Fix, StringComparison.Ordinal);
        Assert.Contains("io_uring is disabled", report.ExplainZcrx(), StringComparison.Ordinal);
        Assert.Contains("\"io_uring_disabled\": \"2\"", report.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void NoDevice_refuses_a_dma_buf_area_before_asking_the_kernel()
    {
        var options = ZcrxOptions.NoDevice();
        Assert.True(options.IsNoDevice);
        Assert.Equal(0, options.InterfaceIndex);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZcrxOptions(0, 0));
        using var memory = HostMemory.Create(1 << 20);
        Assert.Throws<ArgumentOutOfRangeException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(1, 0) { RxBufferLength = 3000 }));
    }

    [Fact]
    public void A_driver_that_is_not_one_is_refused_before_any_ring_is_made()
    {
        // An undefined value used to mean ReceivingThread (anything but OwnThread).
        using var memory = HostMemory.Create(1 << 20);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ZcrxInstance.Open(memory, ZcrxOptions.NoDevice() with { Driver = (ZcrxDriver)7 }));
        Assert.Contains("OwnThread or ReceivingThread", e.Message, StringComparison.Ordinal);
    }
}
