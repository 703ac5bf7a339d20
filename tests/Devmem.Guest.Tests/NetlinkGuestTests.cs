using System.Globalization;
using Devmem.Interop;
using Devmem.Netlink;
using Devmem.Netlink.Netdev;
using Microsoft.Win32.SafeHandles;

namespace Devmem.Guest.Tests;

/// <summary>
/// The netdev family in Debian's 6.12 and newest kernels (VM harness, virtio NIC): what bind-rx and
/// bind-tx answer on a driver without devmem support, and that the op list gates bind-tx on 6.12.
/// (Added by the netlink branch; compiled into the VM helper's guest project when both are merged.)
/// </summary>
[Tier(Tier.Guest)]
[Nic(Nic.Virtio)]
public sealed class NetlinkGuestTests
{
    private static int Eth0 => int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture);

    private static void RequireVirtio()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "virtio", $"these expectations are for virtio_net; the harness booted --nic {Guest.Nic}");
    }

    [Fact]
    public void Bind_rx_on_virtio_net_is_refused_with_the_kernels_errno()
    {
        RequireVirtio();
        using NetdevClient netdev = NetdevClient.Open();
        if (Guest.Series == "6.12")
        {
            // 6.12 attaches and maps the dma-buf to the netdev's parent before it asks the driver for
            // queue ops; virtio_net's parent (the virtio device) has no DMA mask, so a real dma-buf WARNs
            // in kernel/dma/mapping.c (__dma_map_sg_attrs) — seen here on 6.12.117. We do not provoke that
            // WARN in tests: with a non-dma-buf fd 6.12 answers EINVAL before touching the device.
            using SafeFileHandle notADmabuf = File.OpenHandle("/dev/null");
            NetlinkException e612 = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, notADmabuf, [0]));
            Assert.Equal(Errno.EINVAL, e612.Errno);
            return;
        }

        // 7.x checks the driver's queue management ops first: EOPNOTSUPP with the ifindex blamed
        // (net/core/netdev-genl.c netdev_nl_bind_rx_doit refuses a device that does not need the ops lock,
        // which every driver with queue_mgmt_ops does: include/net/netdev_lock.h), whatever the dma-buf.
        using var udmabuf = Devmem.Memory.UdmabufMemory.Create(1 << 20, "bind-rx-virtio");
        NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, udmabuf.DmabufHandle, [0]));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal(".ifindex", e.BadAttribute);
        Assert.NotNull(e.Hint);
    }

    /// <summary>
    /// bind-rx on lo, with a real udmabuf, in each kernel's own words. On 6.12 this provokes the kernel's
    /// own WARN_ON(!dmabuf || !dev) in drivers/dma-buf/dma-buf.c (lo has no parent device to attach to):
    /// scripts/test.sh allows exactly that WARN for the 6.12 guest run, naming this test.
    /// </summary>
    [Fact]
    public void Bind_rx_on_lo_is_refused_in_each_kernels_words()
    {
        Guest.Require();
        using NetdevClient netdev = NetdevClient.Open();
        using var udmabuf = Devmem.Memory.UdmabufMemory.Create(1 << 20, "bind-rx-lo");
        NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindRx(1, udmabuf.DmabufHandle, [0]));
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] bind-rx on lo: {e.Message}");
        if (Guest.Series == "6.12")
        {
            Assert.Equal(Errno.EINVAL, e.Errno);
            Assert.Equal("Failed to bind dmabuf to device", e.KernelMessage);
        }
        else
        {
            Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
            Assert.Equal(".ifindex", e.BadAttribute);
        }
    }

    [Fact]
    public void Bind_tx_is_missing_on_6_12_and_refused_by_virtio_net_later()
    {
        RequireVirtio();
        using NetdevClient netdev = NetdevClient.Open();
        using SafeFileHandle notADmabuf = File.OpenHandle("/dev/null");
        if (!netdev.Supports("bind-tx"))
        {
            Assert.Equal("6.12", Guest.Series);
            NetlinkNotSupportedException ns = Assert.Throws<NetlinkNotSupportedException>(() => netdev.BindTx(Eth0, notADmabuf));
            Assert.Equal("6.16", ns.AddedIn);
            Assert.Contains("added in Linux 6.16", ns.Message, StringComparison.Ordinal);
            return;
        }

        NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindTx(Eth0, notADmabuf));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("Driver does not support netmem TX", e.KernelMessage);
    }

    [Fact]
    public void Queues_agree_with_sysfs_in_the_guest_kernel()
    {
        Guest.Require();
        using NetdevClient netdev = NetdevClient.Open();
        IReadOnlyList<NetdevQueueInfo> queues = netdev.GetQueues(Eth0);
        int rx = Directory.GetDirectories("/sys/class/net/eth0/queues", "rx-*").Length;
        int tx = Directory.GetDirectories("/sys/class/net/eth0/queues", "tx-*").Length;
        Assert.Equal(rx, queues.Count(q => q.Type == NetdevQueueType.Rx));
        Assert.Equal(tx, queues.Count(q => q.Type == NetdevQueueType.Tx));
    }
}
