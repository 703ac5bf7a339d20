using Devmem.Interop;
using Devmem.Netlink.Netdev;
using Devmem.Sys;
using Microsoft.Win32.SafeHandles;
using static Devmem.Interop.Netdev;

namespace Devmem.Netlink.Tests;

// The netdev family against the host kernel (6.18 on the development machine). Nothing here changes
// the host's network configuration: only gets, and binds that the kernel refuses.
[Tier(Tier.HostKernel)]
public sealed class HostNetdevTests : IDisposable
{
    private readonly NetdevClient _client = NetdevClient.Open();

    public void Dispose() => _client.Dispose();

    internal static Dictionary<string, int> SysfsInterfaces() =>
        Directory.GetDirectories("/sys/class/net").ToDictionary(d => Path.GetFileName(d), d => int.Parse(File.ReadAllText(Path.Combine(d, "ifindex")).Trim(), System.Globalization.CultureInfo.InvariantCulture));

    private static bool IsUp(string name) =>
        (Convert.ToInt32(File.ReadAllText($"/sys/class/net/{name}/flags").Trim(), 16) & 1) != 0; // IFF_UP

    [Fact]
    public void Nlctrl_resolves_netdev_with_its_ops_and_groups()
    {
        GenericNetlinkFamily f = _client.Family;
        Assert.Equal("netdev", f.Name);
        Assert.True(f.Id >= 0x10, $"family id {f.Id}");
        Assert.Equal(1u, f.Version);
        Assert.True(f.Supports(NETDEV_CMD_DEV_GET, dump: true));
        Assert.True(f.Supports(NETDEV_CMD_QSTATS_GET, dump: true));
        Assert.False(f.Supports(NETDEV_CMD_QSTATS_GET, dump: false)); // qstats-get is dump-only
        Assert.True(f.Supports(NETDEV_CMD_BIND_RX, dump: false));
        Assert.True((f.Operations[NETDEV_CMD_BIND_RX] & (GenericNetlinkOperationCapabilities.AdminPermission | GenericNetlinkOperationCapabilities.UserNamespaceAdminPermission)) != 0);
        Assert.Contains("mgmt", f.MulticastGroups.Keys);
    }

    [Fact]
    public void Unknown_family_is_a_not_supported_error_naming_it()
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        NetlinkNotSupportedException e = Assert.Throws<NetlinkNotSupportedException>(() => s.GetFamily("no-such-family"));
        Assert.Equal("no-such-family", e.Family);
        Assert.True(e.FamilyMissing);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains("ENOENT", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Devices_agree_with_sys_class_net()
    {
        Dictionary<string, int> sysfs = SysfsInterfaces();
        IReadOnlyList<NetdevDevice> devices = _client.GetDevices();
        Assert.Equal(sysfs.Values.Order(), devices.Select(d => d.Ifindex).Order());
        NetdevDevice lo = _client.GetDevice(sysfs["lo"]);
        Assert.Equal(devices.Single(d => d.Ifindex == sysfs["lo"]), lo with { UnknownAttributes = devices.Single(d => d.Ifindex == sysfs["lo"]).UnknownAttributes });
    }

    [Fact]
    public void Queues_agree_with_sys_class_net_for_every_running_interface()
    {
        IReadOnlyList<NetdevQueueInfo> queues = _client.GetQueues();
        int checkedUp = 0;
        foreach ((string name, int ifindex) in SysfsInterfaces())
        {
            var mine = queues.Where(q => q.Ifindex == ifindex).ToList();
            if (!IsUp(name))
            {
                // net/core/netdev-genl.c netdev_nl_queue_get_dump_one skips devices that are not running.
                Assert.Empty(mine);
                continue;
            }

            string[] dirs = Directory.GetDirectories($"/sys/class/net/{name}/queues").Select(Path.GetFileName).ToArray()!;
            Assert.Equal(dirs.Count(d => d.StartsWith("rx-", StringComparison.Ordinal)), mine.Count(q => q.Type == NetdevQueueType.Rx));
            Assert.Equal(dirs.Count(d => d.StartsWith("tx-", StringComparison.Ordinal)), mine.Count(q => q.Type == NetdevQueueType.Tx));
            Assert.Equal(mine.Where(q => q.Type == NetdevQueueType.Rx).Select(q => q.Id).Order(), Enumerable.Range(0, mine.Count(q => q.Type == NetdevQueueType.Rx)).Select(i => (uint)i));
            Assert.Equal(mine, _client.GetQueues(ifindex));
            NetdevQueueInfo first = mine[0];
            Assert.Equal(first with { UnknownAttributes = [] }, _client.GetQueue(ifindex, first.Type, first.Id) with { UnknownAttributes = [] });
            checkedUp++;
        }

        Assert.True(checkedUp > 0, "no interface is up (lo at least should be)");
    }

    [Fact]
    public void Napi_instances_belong_to_existing_devices_and_do_matches_dump()
    {
        HashSet<int> ifindexes = [.. SysfsInterfaces().Values];
        IReadOnlyList<NetdevNapi> napis = _client.GetNapis();
        Assert.All(napis, n => Assert.Contains(n.Ifindex, ifindexes));
        foreach (NetdevNapi n in napis.Take(3))
        {
            NetdevNapi single = _client.GetNapi(n.Id);
            Assert.Equal(n.Id, single.Id);
            Assert.Equal(n.Ifindex, single.Ifindex);
            Assert.Equal(n.Irq, single.Irq);
        }

        // Every NAPI id a queue names is one napi-get lists.
        HashSet<uint> ids = [.. napis.Select(n => n.Id)];
        Assert.All(_client.GetQueues().Where(q => q.NapiId is not null), q => Assert.Contains(q.NapiId!.Value, ids));
    }

    [Fact]
    public void Qstats_in_both_scopes_are_consistent()
    {
        IReadOnlyList<NetdevQueueStats> devices = _client.GetQueueStats();
        IReadOnlyList<NetdevQueueStats> queues = _client.GetQueueStats(scope: NetdevQstatsScope.Queue);
        Assert.All(devices, d => Assert.Null(d.QueueId));
        Assert.All(queues, q => Assert.NotNull(q.QueueId));
        Assert.Equal(devices.Select(d => d.Ifindex).Distinct().Order(), queues.Select(q => q.Ifindex).Distinct().Order());
        foreach (NetdevQueueStats d in devices)
        {
            Assert.Equal([d], _client.GetQueueStats(d.Ifindex).Select(x => x with { Counters = d.Counters }).ToList());
        }
    }

    [Fact]
    public void Page_pools_and_their_stats_decode_or_are_reported_missing()
    {
        IReadOnlyList<NetdevPagePool> pools = _client.GetPagePools();
        HashSet<int> ifindexes = [.. SysfsInterfaces().Values];
        Assert.All(pools, p => Assert.True(p.Ifindex is null || ifindexes.Contains(p.Ifindex.Value)));
        if (_client.Supports("page-pool-stats-get", dump: true))
        {
            Assert.All(_client.GetPagePoolStats(), s => Assert.Contains(s.PagePoolId ?? 0, pools.Select(p => p.Id)));
        }
        else
        {
            // This host's kernel has no CONFIG_PAGE_POOL_STATS: the op is absent from the op list.
            NetlinkNotSupportedException e = Assert.Throws<NetlinkNotSupportedException>(() => _client.GetPagePoolStats());
            Assert.Equal("page-pool-stats-get", e.Operation);
            Assert.Contains("CONFIG_PAGE_POOL_STATS", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_op_the_kernel_lacks_names_the_version_that_added_it()
    {
        Assert.SkipWhen(_client.Supports("queue-create"), "this kernel has queue-create (7.0+); nothing is missing to test");
        NetlinkNotSupportedException e = Assert.Throws<NetlinkNotSupportedException>(() => _client.CreateQueue(1, 1, 0));
        Assert.Equal("queue-create", e.Operation);
        Assert.Equal("7.0", e.AddedIn);
        Assert.Contains("added in Linux 7.0", e.Message, StringComparison.Ordinal);
    }

    private static SafeFileHandle NotADmabuf() => File.OpenHandle("/dev/null");

    [Fact]
    public void Bind_rx_on_lo_comes_back_with_the_kernels_errno_and_bad_attribute()
    {
        using SafeFileHandle fd = NotADmabuf();
        NetlinkException e = Assert.Throws<NetlinkException>(() => _client.BindRx(SysfsInterfaces()["lo"], fd, [0]));
        // 6.18 / 7.x: loopback has no queue management ops → EOPNOTSUPP blaming ifindex (vm-harness.md).
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal(".ifindex", e.BadAttribute);
        Assert.Equal("bind-rx", e.Operation);
        Assert.NotNull(e.Hint);
        Assert.StartsWith("netdev bind-rx: Netlink error: Operation not supported (EOPNOTSUPP, errno 95) {'bad-attr': '.ifindex'}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_rx_on_a_missing_device_is_enodev()
    {
        using SafeFileHandle fd = NotADmabuf();
        NetlinkException e = Assert.Throws<NetlinkException>(() => _client.BindRx(int.MaxValue - 7, fd, [0]));
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Contains("ifindex", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_tx_on_lo_comes_back_with_the_kernels_message()
    {
        Assert.SkipUnless(_client.Supports("bind-tx"), $"the running kernel ({KernelFiles.KernelRelease}) has no bind-tx (6.16+)");
        using SafeFileHandle fd = NotADmabuf();
        NetlinkException e = Assert.Throws<NetlinkException>(() => _client.BindTx(SysfsInterfaces()["lo"], fd));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("Driver does not support netmem TX", e.KernelMessage);
        Assert.StartsWith("netdev bind-tx: Netlink error: Driver does not support netmem TX: Operation not supported (EOPNOTSUPP, errno 95)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_missing_an_attribute_names_it()
    {
        // bind-rx with only ifindex: the kernel's policy check reports fd as missing (NLMSGERR_ATTR_MISS_TYPE).
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("bind-rx");
        NetlinkRequest request = s.CreateRequest(_client.Family.Id, NetdevSpec.Family, op, dump: false);
        uint seq = request.Sequence;
        ref NetlinkWriter w = ref request.Writer;
        w.WriteU32(NETDEV_A_DMABUF_IFINDEX, 1);
        NetlinkException? caught = null;
        try
        {
            request.Send().Drain();
        }
        catch (NetlinkException e)
        {
            caught = e;
        }

        Assert.NotNull(caught);
        Assert.Equal(Errno.EINVAL, caught.Errno);
        Assert.Equal(".fd", caught.MissingAttribute);
    }

    [Fact]
    public void An_attribute_the_kernel_does_not_know_is_refused_with_its_message()
    {
        // Strict validation (lib/nlattr.c): an attribute type above the policy's maximum is EINVAL
        // "Unknown attribute type" blaming that attribute.
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("dev-get");
        NetlinkRequest request = s.CreateRequest(_client.Family.Id, NetdevSpec.Family, op, dump: false);
        uint seq = request.Sequence;
        ref NetlinkWriter w = ref request.Writer;
        w.WriteU32(NETDEV_A_DEV_IFINDEX, 1);
        w.WriteU32(60, 0);
        NetlinkException? caught = null;
        try
        {
            request.Send().Drain();
        }
        catch (NetlinkException e)
        {
            caught = e;
        }

        Assert.NotNull(caught);
        Assert.Equal(Errno.EINVAL, caught.Errno);
        Assert.Equal("Unknown attribute type", caught.KernelMessage);
        Assert.Equal(".60", caught.BadAttribute);
    }

    [Fact]
    public void A_request_is_numbered_by_the_socket_and_cannot_be_sent_twice()
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("queue-get");
        NetlinkRequest first = s.CreateRequest(_client.Family.Id, NetdevSpec.Family, op, dump: true);
        first.Send().Drain();
        NetlinkRequest second = s.CreateRequest(_client.Family.Id, NetdevSpec.Family, op, dump: true);
        Assert.Equal(first.Sequence + 1, second.Sequence);
        Assert.True(second.IsDump);
        InvalidOperationException? again = null;
        try
        {
            first.Send();
        }
        catch (InvalidOperationException e)
        {
            again = e;
        }

        Assert.NotNull(again);
        Assert.Contains("already sent", again.Message, StringComparison.Ordinal);
        int n = 0;
        foreach (NetlinkMessage m in second.Send())
        {
            Assert.Equal(second.Sequence, m.Sequence);
            n++;
        }

        Assert.Equal(_client.GetQueues().Count, n);
    }

    [Fact]
    public void The_socket_stays_in_sync_after_an_abandoned_dump_and_after_errors()
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("queue-get");
        NetlinkRequest request = s.CreateRequest(_client.Family.Id, NetdevSpec.Family, op, dump: true);
        uint seq = request.Sequence;
        ref NetlinkWriter w = ref request.Writer;
        foreach (NetlinkMessage m in request.Send())
        {
            break; // abandon the dump: the rest of its replies stay queued with an older sequence
        }

        NetlinkRequest request2 = s.CreateRequest(_client.Family.Id, NetdevSpec.Family, op, dump: true);
        uint seq2 = request2.Sequence;
        ref NetlinkWriter w2 = ref request2.Writer;
        int count = 0;
        foreach (NetlinkMessage m in request2.Send())
        {
            Assert.Equal(seq2, m.Sequence);
            Assert.Equal(s.PortId, m.PortId);
            count++;
        }

        Assert.Equal(_client.GetQueues().Count, count);
    }

    [Fact]
    public void A_datagram_larger_than_the_receive_buffer_fails_the_request_clearly_and_grows_the_buffer_for_the_next()
    {
        // nlctrl's family reply is several hundred bytes. One recv per datagram (as YNL): with a 32-byte
        // buffer the kernel cuts the reply and drops the rest (MSG_TRUNC); the request fails saying so,
        // the buffer grows to the datagram's size, and the same request then succeeds.
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open(32);
        NetlinkProtocolException e = Assert.Throws<NetlinkProtocolException>(() => s.GetFamily("netdev"));
        Assert.Contains("did not fit the 32-byte receive buffer", e.Message, StringComparison.Ordinal);
        Assert.Contains("retry the request", e.Message, StringComparison.Ordinal);
        Assert.True(s.ReceiveBufferSize > 32, $"buffer stayed at {s.ReceiveBufferSize}");
        GenericNetlinkFamily f = s.GetFamily("netdev");
        Assert.Equal(_client.Family.Id, f.Id);
        Assert.Equal(_client.Family.Operations.OrderBy(kv => kv.Key), f.Operations.OrderBy(kv => kv.Key));
        Assert.Equal(_client.Family.MulticastGroups.OrderBy(kv => kv.Key), f.MulticastGroups.OrderBy(kv => kv.Key));
    }
}
