using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Devmem.Interop;
using Devmem.Netlink.Ethtool;
using static Devmem.Interop.Ethtool;

namespace Devmem.Netlink.Tests;

// ethtool: layouts (pure), reads of the host's interfaces checked against the kernel's YNL CLI, and
// refusals with the kernel's errno. Nothing on the host is changed; set paths run in NetnsTests.
[Tier(Tier.HostKernel)]
public sealed class EthtoolTests : IDisposable
{
    private readonly EthtoolClient _client = EthtoolClient.Open();

    public void Dispose() => _client.Dispose();

    [Fact]
    public unsafe void Ioctl_structs_have_the_kernels_x86_64_layout()
    {
        // include/uapi/linux/ethtool.h and linux/if.h on x86_64 (the ABI test compiles the same against
        // linux-libc-dev 6.12 and newest).
        Assert.Equal(192, sizeof(ethtool_rxnfc));
        Assert.Equal(16, (int)Marshal.OffsetOf<ethtool_rxnfc>(nameof(ethtool_rxnfc.fs)));
        Assert.Equal(184, (int)Marshal.OffsetOf<ethtool_rxnfc>(nameof(ethtool_rxnfc.rule_cnt)));
        Assert.Equal(188, (int)Marshal.OffsetOf<ethtool_rxnfc>(nameof(ethtool_rxnfc.rule_locs)));
        Assert.Equal(168, sizeof(ethtool_rx_flow_spec));
        Assert.Equal(56, (int)Marshal.OffsetOf<ethtool_rx_flow_spec>(nameof(ethtool_rx_flow_spec.h_ext)));
        Assert.Equal(76, (int)Marshal.OffsetOf<ethtool_rx_flow_spec>(nameof(ethtool_rx_flow_spec.m_u)));
        Assert.Equal(128, (int)Marshal.OffsetOf<ethtool_rx_flow_spec>(nameof(ethtool_rx_flow_spec.m_ext)));
        Assert.Equal(152, (int)Marshal.OffsetOf<ethtool_rx_flow_spec>(nameof(ethtool_rx_flow_spec.ring_cookie)));
        Assert.Equal(160, (int)Marshal.OffsetOf<ethtool_rx_flow_spec>(nameof(ethtool_rx_flow_spec.location)));
        Assert.Equal(16, sizeof(ethtool_tcpip4_spec));
        Assert.Equal(40, sizeof(ethtool_tcpip6_spec));
        Assert.Equal(20, sizeof(ethtool_flow_ext));
        Assert.Equal(36, sizeof(ethtool_channels));
        Assert.Equal(36, sizeof(ethtool_ringparam));
        Assert.Equal(8, sizeof(ethtool_rxfh_indir));
        Assert.Equal(40, sizeof(ifreq));
        Assert.Equal(16, (int)Marshal.OffsetOf<ifreq>(nameof(ifreq.ifr_data)));
    }

    private static string? PhysicalInterface() =>
        HostNetdevTests.SysfsInterfaces().Keys.Where(n => Directory.Exists($"/sys/class/net/{n}/device")).Order().FirstOrDefault();

    private static JsonObject YnlDo(string op, string ifname)
    {
        Tools.Result r = Tools.RunYnlFor("ethtool", "--do", op, "--json", $"{{\"header\": {{\"dev-name\": \"{ifname}\"}}}}", "--output-json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        return JsonNode.Parse(r.Stdout)!.AsObject();
    }

    private static uint? U(JsonObject o, string key) => o[key] is JsonNode n ? (uint)n : null;

    [Fact]
    public void Rings_and_channels_agree_with_the_kernels_ynl_cli()
    {
        string? ifname = PhysicalInterface();
        Assert.SkipWhen(ifname is null, "no interface with a device (driver) in /sys/class/net");
        Assert.SkipWhen(Tools.YnlFor("ethtool").Command is null, Tools.YnlFor("ethtool").Why);
        EthtoolRings rings = _client.GetRings(ifname!);
        JsonObject y = YnlDo("rings-get", ifname!);
        Assert.Equal(U(y, "rx-max"), rings.RxMax);
        Assert.Equal(U(y, "tx-max"), rings.TxMax);
        Assert.Equal(U(y, "rx"), rings.Rx);
        Assert.Equal(U(y, "tx"), rings.Tx);
        Assert.Equal(U(y, "hds-thresh"), rings.HdsThresh);
        Assert.Equal(y["tcp-data-split"]?.GetValue<string>(), rings.TcpDataSplit?.ToString().ToLowerInvariant());
        Assert.Equal(U(y, "tx-push"), rings.TxPush);

        EthtoolChannels channels = _client.GetChannels(ifname!);
        JsonObject c = YnlDo("channels-get", ifname!);
        Assert.Equal(U(c, "combined-max"), channels.CombinedMax);
        Assert.Equal(U(c, "combined-count"), channels.CombinedCount);
        Assert.Equal(U(c, "rx-count"), channels.RxCount);
        Assert.Equal(U(c, "tx-count"), channels.TxCount);

        EthtoolRss rss = _client.GetRss(ifname!);
        JsonObject r = YnlDo("rss-get", ifname!);
        Assert.Equal(U(r, "hfunc"), rss.HashFunction);
        Assert.Equal(r["indir"]?.AsArray().Select(n => (uint)n!).ToArray() ?? [], rss.Indirection);

        // The ring count the ioctl reports is the RX queue count the kernel lists in sysfs.
        uint rxQueues = (uint)Directory.GetDirectories($"/sys/class/net/{ifname}/queues", "rx-*").Length;
        Assert.Equal(rxQueues, _client.GetRxRingCount(ifname!));
    }

    [Fact]
    public void Features_agree_with_the_kernels_ynl_cli()
    {
        string? ifname = PhysicalInterface();
        Assert.SkipWhen(ifname is null, "no interface with a device (driver) in /sys/class/net");
        Assert.SkipWhen(Tools.YnlFor("ethtool").Command is null, Tools.YnlFor("ethtool").Why);
        EthtoolFeatures ours = _client.GetFeatures(ifname!);
        JsonObject y = YnlDo("features-get", ifname!);

        // YNL prints each verbose bitset as {nomask?, size, bits: {bit: [{index, name, value?}]}}: with
        // nomask every listed bit is set, otherwise those with "value": true.
        static string[] Set(JsonObject y, string key)
        {
            JsonObject b = y[key]!.AsObject();
            bool nomask = b["nomask"] is not null;
            return b["bits"]?["bit"]?.AsArray().Where(bit => nomask || bit!["value"] is not null).Select(bit => (string)bit!["name"]!)
                .Where(n => n.Length > 0).Order(StringComparer.Ordinal).ToArray() ?? [];
        }

        Assert.NotEmpty(ours.Active);
        Assert.Equal(Set(y, "active"), ours.Active.Order(StringComparer.Ordinal));
        Assert.Equal(Set(y, "hw"), ours.Hardware.Order(StringComparer.Ordinal));
        Assert.Equal(Set(y, "wanted"), ours.Wanted.Order(StringComparer.Ordinal));
        Assert.Equal(Set(y, "nochange"), ours.NoChange.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Driver_info_is_what_sysfs_names()
    {
        string? ifname = PhysicalInterface();
        Assert.SkipWhen(ifname is null, "no interface with a device (driver) in /sys/class/net");
        (string Driver, string BusInfo) info = _client.GetDriverInfo(ifname!);
        Assert.Equal(Path.GetFileName(new FileInfo($"/sys/class/net/{ifname}/device/driver").LinkTarget), info.Driver);
        EthtoolIoctlException e = Assert.Throws<EthtoolIoctlException>(() => _client.GetDriverInfo("lo"));
        Assert.Contains("EOPNOTSUPP", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loopback_has_no_rings_and_says_so_with_the_kernels_errno()
    {
        NetlinkException e = Assert.Throws<NetlinkException>(() => _client.GetRings("lo"));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("ethtool", e.Family);
        Assert.Equal("rings-get", e.Operation);
    }

    [Fact]
    public void An_unknown_interface_is_named_in_the_kernels_message()
    {
        NetlinkException e = Assert.Throws<NetlinkException>(() => _client.GetChannels("nosuchif0"));
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Equal("no device matches name", e.KernelMessage);
        Assert.Equal(".header.dev-name", e.BadAttribute);
        EthtoolIoctlException io = Assert.Throws<EthtoolIoctlException>(() => _client.GetRxRingCount("nosuchif0"));
        Assert.Equal(Errno.ENODEV, io.Errno);
    }

    [Fact]
    public void Flow_rules_are_listed_or_refused_with_the_ioctls_errno()
    {
        string? ifname = PhysicalInterface();
        Assert.SkipWhen(ifname is null, "no interface with a device (driver) in /sys/class/net");
        try
        {
            IReadOnlyList<EthtoolFlowRule> rules = _client.GetFlowRules(ifname!);
            Assert.All(rules, r => Assert.NotNull(r.Location));
        }
        catch (EthtoolIoctlException e)
        {
            // virtio_net (this host) has no ntuple filters: ETHTOOL_GRXCLSRLCNT → EOPNOTSUPP.
            Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
            Assert.Equal("ETHTOOL_GRXCLSRLCNT", e.Command);
            Assert.Contains(ifname!, e.Message, StringComparison.Ordinal);
        }
    }
}
