using Devmem.Setup;

namespace Devmem.Tests.Setup;

[Tier(Tier.Pure)]
public sealed class DevmemDriversTests
{
    [Theory]
    [InlineData("6.12.117+deb13-amd64", 6, 12)]
    [InlineData("7.3.4+deb13-amd64", 7, 3)]
    [InlineData("6.18.0", 6, 18)]
    [InlineData("6.1-rc3", 6, 1)]
    [InlineData("garbage", 0, 0)]
    public void Release_strings_parse_to_major_minor(string release, int major, int minor) =>
        Assert.Equal(new Version(major, minor), DevmemDrivers.ParseRelease(release));

    [Theory]
    // What each driver has, per kernel: netdev_queue_mgmt_ops, and page pools with
    // PP_FLAG_ALLOW_UNREADABLE_NETMEM, under drivers/net/ (the driver table in docs/doctor.md).
    [InlineData("virtio_net", "6.12", DriverRxSupport.NoQueueApi, false)]
    [InlineData("virtio_net", "7.3", DriverRxSupport.NoQueueApi, false)]
    [InlineData("bnxt_en", "6.12", DriverRxSupport.NoUnreadablePool, true)]
    [InlineData("gve", "7.2", DriverRxSupport.Supported, true)]
    [InlineData("mlx5_core", "6.12", DriverRxSupport.NoQueueApi, false)]
    [InlineData("mlx5_core", "7.3", DriverRxSupport.Supported, true)]
    [InlineData("testnic", "6.12", DriverRxSupport.TestNic, true)]
    // A driver the table does not know: not asked on 6.12 (it would attach the dma-buf before checking),
    // asked from 6.15 on (the kernel checks the queue API first).
    [InlineData("somenic", "6.12", DriverRxSupport.Unknown, false)]
    [InlineData("somenic", "6.18", DriverRxSupport.Unknown, true)]
    [InlineData(null, "6.12", DriverRxSupport.Unknown, false)]
    // After the newest checked kernel a "no queue API" entry may be stale: the kernel is asked.
    [InlineData("virtio_net", "7.9", DriverRxSupport.Unknown, true)]
    public void The_driver_table_says_what_each_drivers_sources_have(string? driver, string kernel, DriverRxSupport expected, bool ask)
    {
        Version k = Version.Parse(kernel);
        Assert.Equal(expected, DevmemDrivers.Lookup(driver, k));
        Assert.Equal(ask, DevmemDrivers.KernelMayBeAsked(driver, k));
    }
}
