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
        using SafeFileHandle notADmabuf = File.OpenHandle("/dev/null");
        NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, notADmabuf, [0]));
        // virtio_net has no queue management ops: EOPNOTSUPP, with no text on 6.12 and the ifindex
        // blamed on 7.x (kernel-api.md §5, "driver without queue API").
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        if (Guest.Series == "6.12")
        {
            Assert.Null(e.KernelMessage);
        }
        else
        {
            Assert.Equal(".ifindex", e.BadAttribute);
        }

        Assert.NotNull(e.Hint);
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
