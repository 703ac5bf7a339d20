using Devmem.Interop;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Sys;

namespace Devmem.Netlink.Tests;

// Set paths and notifications against the host kernel, inside a private network namespace with a
// veth pair (the only devices these tests change; the namespace is deleted afterwards).
[Tier(Tier.HostKernel)]
public sealed class NetnsTests : IDisposable
{
    private readonly NetNamespace _ns = new();

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void A_UTF8_interface_name_is_found_by_every_lookup_and_one_over_15_bytes_is_refused_saying_so()
    {
        // "véth0": 6 bytes in UTF-8. ip(8) passes the bytes through; the kernel takes any but '/', ':' and
        // white space (net/core/dev.c dev_valid_name). Before names were UTF-8 here, SIOCGIFINDEX got "v?th0".
        const string Name = "v\u00e9th0";
        NetNamespace.Ip("-n", _ns.Name, "link", "add", Name, "type", "veth", "peer", "name", "vc");
        int expected = int.Parse(_ns.Exec("cat", $"/sys/class/net/{Name}/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        (int ioctl, int setup, string driver) = _ns.Enter(() =>
        {
            using EthtoolClient ethtool = EthtoolClient.Open();
            return (ethtool.GetInterfaceIndex(Name), Setup.DevmemRxSetup.GetInterfaceIndex(ethtool, Name), ethtool.GetDriverInfo(Name).Driver);
        });
        Assert.Equal(expected, ioctl);
        Assert.Equal(expected, setup);
        Assert.Equal("veth", driver);

        // Nine 'é' are 9 characters but 18 bytes: refused before the kernel is asked, in bytes.
        string tooLong = new('\u00e9', 9);
        using EthtoolClient host = EthtoolClient.Open();
        ArgumentException e = Assert.Throws<ArgumentException>(() => host.GetInterfaceIndex(tooLong));
        Assert.Contains("18 bytes in UTF-8; at most 15", e.Message, StringComparison.Ordinal);
        Setup.DevmemSetupException s = Assert.Throws<Setup.DevmemSetupException>(() => Setup.DevmemRxSetup.GetInterfaceIndex(host, tooLong));
        Assert.Contains("18 bytes in UTF-8", s.Message, StringComparison.Ordinal);
        Assert.Null(InterfaceNames.Problem(new string('\u00e9', 7) + "x"));  // 15 bytes: fits
        Assert.NotNull(InterfaceNames.Problem("a:b"));
        Assert.NotNull(InterfaceNames.Problem("\u00e0"));                      // C3 A0: the kernel's isspace(0xA0)
    }

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

    [Fact]
    public void Napi_set_changes_a_veth_napi_and_the_old_values_restore()
    {
        // veth runs a NAPI instance once GRO is on (drivers/net/veth.c veth_set_features).
        _ns.Exec("ethtool", "-K", "va", "gro", "on");
        using NetdevClient netdev = _ns.Enter(NetdevClient.Open);
        Assert.SkipUnless(netdev.Supports("napi-set"), $"the running kernel ({KernelFiles.KernelRelease}) has no napi-set (6.13+)");
        NetdevNapi napi = netdev.GetNapis(_ns.Ifindex("va"))[0]; // one per RX queue
        netdev.SetNapi(new NetdevNapiSettings(napi.Id, DeferHardIrqs: 7, GroFlushTimeoutNs: 20_000));
        NetdevNapi changed = netdev.GetNapi(napi.Id);
        Assert.Equal(7u, changed.DeferHardIrqs);
        Assert.Equal(20_000UL, changed.GroFlushTimeoutNs);
        netdev.SetNapi(new NetdevNapiSettings(napi.Id, napi.DeferHardIrqs, napi.GroFlushTimeoutNs));
        Assert.Equal(napi, netdev.GetNapi(napi.Id) with { UnknownAttributes = napi.UnknownAttributes });

        NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.SetNapi(new NetdevNapiSettings(napi.Id, DeferHardIrqs: uint.MaxValue)));
        // defer-hard-irqs is checked against S32_MAX (netdev.yaml); lib/nlattr.c nla_validate_range_unsigned.
        Assert.Equal(Errno.ERANGE, e.Errno);
        Assert.Equal("integer out of range", e.KernelMessage);
        Assert.Equal(".defer-hard-irqs", e.BadAttribute);
    }
}
