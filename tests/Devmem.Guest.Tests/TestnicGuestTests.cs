using System.Globalization;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;

namespace Devmem.Guest.Tests;

/// <summary>
/// Our own netlink client against the software devmem NIC (tests/testnic, scripts/vm/run.sh --nic
/// testnic) in Debian's 6.12 and newest kernels: bind-rx through the library binds a queue, disposing
/// the binding unbinds, and header split off is refused in each kernel's way. The testnic emulates only
/// the NIC's DMA (docs/testnic.md); this proves the kernel path, not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
public sealed class TestnicGuestTests
{
    private const string Ifname = "eth0";

    private static int Eth0 => int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture);

    private static void RequireTestnic()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"these need the software devmem NIC (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
    }

    private static uint LastRxQueue(NetdevClient netdev) =>
        netdev.GetQueues(Eth0).Where(q => q.Type == NetdevQueueType.Rx).Max(q => q.Id);

    private static uint? BoundTo(NetdevClient netdev, uint queue) => netdev.GetQueue(Eth0, NetdevQueueType.Rx, queue).DmabufId;

    [Fact]
    public void Bind_rx_through_our_client_binds_the_queue_and_dispose_unbinds()
    {
        RequireTestnic();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled, HdsThresh: before.HdsThresh is null ? null : 0));
            using NetdevClient netdev = NetdevClient.Open();
            using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "testnic-bind");
            uint queue = LastRxQueue(netdev);
            DmabufBinding binding = netdev.BindRx(Eth0, udmabuf.DmabufHandle, [queue]);
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] bind-rx eth0 queue {queue}: binding id {binding.Id}");
            Assert.True(binding.Id > 0);
            Assert.Equal(binding.Id, BoundTo(netdev, queue));

            // The kernel unbinds when the binding's own netlink socket closes (netdev_nl_sock_priv_destroy).
            binding.Dispose();
            Assert.True(binding.IsDisposed);
            Assert.Null(BoundTo(netdev, queue));
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }

        Assert.Equal(before.TcpDataSplit, ethtool.GetRings(Ifname).TcpDataSplit);
    }

    [Fact]
    public void Header_split_off_is_refused_in_each_kernels_way()
    {
        RequireTestnic();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Disabled));
            using NetdevClient netdev = NetdevClient.Open();
            using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "testnic-nosplit");
            uint queue = LastRxQueue(netdev);
            NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, udmabuf.DmabufHandle, [queue]));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] bind-rx with header split off: {e.Message}");
            if (Guest.Series == "6.12")
            {
                // 6.12 checks nothing at bind time: the new page pool does not take the provider, ENODATA
                // with no text; the library's hint names the cause.
                Assert.Equal(Errno.ENODATA, e.Errno);
                Assert.Contains("tcp-data-split", e.Hint, StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal(Errno.EINVAL, e.Errno);
                Assert.Equal("tcp-data-split is disabled", e.KernelMessage);
            }

            Assert.Null(BoundTo(netdev, queue));
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }
    }
}
