using Devmem.Interop;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;

namespace Devmem.Netlink.Tests;

// Set paths and notifications against the host kernel, inside a private network namespace with a
// veth pair (the only devices these tests change; the namespace is deleted afterwards).
public sealed class NetnsTests : IDisposable
{
    private readonly NetNamespace _ns = new();

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void Channels_set_shows_in_netdev_queues_and_the_snapshot_restores_exactly()
    {
        (EthtoolClient ethtool, NetdevClient netdev) = _ns.Enter(() => (EthtoolClient.Open(), NetdevClient.Open()));
        using (ethtool)
        using (netdev)
        {
            int va = _ns.Ifindex("va");
            EthtoolChannels before = ethtool.GetChannels("va");
            Assert.Equal(2u, before.RxMax); // numrxqueues 2
            Assert.Equal(2u, before.RxCount);
            Assert.Equal([0u, 1u], netdev.GetQueues(va).Where(q => q.Type == NetdevQueueType.Rx).Select(q => q.Id).Order());

            ethtool.SetChannels("va", new EthtoolChannelsSettings(RxCount: 1, TxCount: 1));
            EthtoolChannels during = ethtool.GetChannels("va");
            Assert.Equal((1u, 1u), (during.RxCount!.Value, during.TxCount!.Value));
            // The netdev family sees the new real_num_rx_queues.
            Assert.Single(netdev.GetQueues(va), q => q.Type == NetdevQueueType.Rx);

            ethtool.RestoreChannels("va", before);
            Assert.Equal(before, ethtool.GetChannels("va"));
            Assert.Equal([0u, 1u], netdev.GetQueues(va).Where(q => q.Type == NetdevQueueType.Rx).Select(q => q.Id).Order());

            NetlinkException tooMany = Assert.Throws<NetlinkException>(() => ethtool.SetChannels("va", new EthtoolChannelsSettings(RxCount: 3)));
            Assert.Equal(Errno.EINVAL, tooMany.Errno);
            Assert.Equal(".rx-count", tooMany.BadAttribute);
            Assert.NotNull(tooMany.KernelMessage); // "requested channel count exceeds maximum"
        }
    }

    [Fact]
    public void Rings_and_rss_set_on_a_driver_without_them_are_refused_with_the_kernels_errno()
    {
        using EthtoolClient ethtool = _ns.Enter(EthtoolClient.Open);
        NetlinkException rings = Assert.Throws<NetlinkException>(() => ethtool.SetRings("va", new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled)));
        Assert.Equal(Errno.EOPNOTSUPP, rings.Errno);
        Assert.Equal("rings-set", rings.Operation);
        Assert.Equal("the driver does not support this setting", rings.Hint);

        Exception rss = Assert.ThrowsAny<Exception>(() => ethtool.SetRssIndirection("va", [0, 1]));
        Assert.True(rss is NetlinkException { Errno: Errno.EOPNOTSUPP } or EthtoolIoctlException { Errno: Errno.EOPNOTSUPP }, rss.Message);
        EthtoolIoctlException rules = Assert.Throws<EthtoolIoctlException>(() => ethtool.GetFlowRules("va"));
        Assert.Equal(Errno.EOPNOTSUPP, rules.Errno);
    }

    [Fact]
    public async Task Device_notifications_arrive_as_an_async_stream_and_cancellation_ends_it()
    {
        using NetdevClient netdev = _ns.Enter(NetdevClient.Open);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        IAsyncEnumerator<NetdevNotification> stream = netdev.WatchAsync(NetdevMulticastGroups.Management, cts.Token).GetAsyncEnumerator(cts.Token);
        // The first MoveNextAsync opens and subscribes the socket synchronously: do it inside the namespace.
        ValueTask<bool> first = _ns.Enter(() => stream.MoveNextAsync());
        await Task.Delay(200, TestContext.Current.CancellationToken);
        NetNamespace.Ip("-n", _ns.Name, "link", "add", "vc", "type", "veth", "peer", "name", "vd");
        int vc = _ns.Ifindex("vc");

        var seen = new List<NetdevNotification>();
        bool more = await first;
        while (more && !seen.Any(n => n.Kind == NetdevNotificationKind.DeviceAdded && n.Device!.Ifindex == vc))
        {
            seen.Add(stream.Current);
            if (seen.Any(n => n.Kind == NetdevNotificationKind.DeviceAdded && n.Device!.Ifindex == vc))
            {
                break;
            }

            more = await stream.MoveNextAsync();
        }

        Assert.Contains(seen, n => n.Kind == NetdevNotificationKind.DeviceAdded && n.Device!.Ifindex == vc);
        NetNamespace.Ip("-n", _ns.Name, "link", "del", "vc");
        while (await stream.MoveNextAsync())
        {
            if (stream.Current is { Kind: NetdevNotificationKind.DeviceDeleted, Device.Ifindex: var i } && i == vc)
            {
                break;
            }
        }

        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await stream.MoveNextAsync());
        await stream.DisposeAsync();
    }

    [Fact]
    public void Devmem_info_inside_the_namespace_lists_its_veth_queues()
    {
        string table = _ns.Exec(Tools.DevmemInfo, "queue", "--ifname", "va");
        string[] lines = table.TrimEnd().Split('\n');
        Assert.Equal(5, lines.Length); // header, rx 0, rx 1, tx 0, tx 1
        Assert.All(lines[1..], l => Assert.StartsWith("va ", l, StringComparison.Ordinal));
        string json = _ns.Exec(Tools.DevmemInfo, "queue", "--ifname", "va", "--json");
        int va = _ns.Ifindex("va");
        string Q(int id, string type) => $"{{\"id\": {id}, \"type\": \"{type}\", \"ifindex\": {va}}}";
        Assert.Equal($"[{Q(0, "rx")}, {Q(1, "rx")}, {Q(0, "tx")}, {Q(1, "tx")}]", json.Trim());
    }
}
