using System.Net;
using Devmem.Interop;
using Devmem.Netlink.Ethtool;
using static Devmem.Interop.Ethtool;

namespace Devmem.Netlink.Tests;

// The flow-rule codec: EthtoolFlowRule to and from struct ethtool_rx_flow_spec, bytes only (no kernel).
[Tier(Tier.Pure)]
public sealed class EthtoolFlowRuleCodecTests
{
    [Fact]
    public unsafe void Flow_rules_encode_to_the_kernels_layout_and_back()
    {
        var rule = new EthtoolFlowRule(EthtoolFlowType.Tcp4, IPAddress.Parse("192.168.1.5"), IPAddress.Parse("192.168.1.4"), 40000, 5201, 3);
        ethtool_rx_flow_spec fs = EthtoolFlowRuleCodec.Encode(rule);
        Assert.Equal(TCP_V4_FLOW, fs.flow_type);
        Assert.Equal(RX_CLS_LOC_ANY, fs.location);
        Assert.Equal(3UL, fs.ring_cookie);
        byte[] h = new ReadOnlySpan<byte>(fs.h_u, 16).ToArray();
        byte[] m = new ReadOnlySpan<byte>(fs.m_u, 16).ToArray();
        // ip4src, ip4dst, psrc, pdst in network byte order; the mask compares exactly those bytes.
        Assert.Equal(new byte[] { 192, 168, 1, 5, 192, 168, 1, 4, 0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0 }, h);
        Assert.Equal(new byte[] { 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0 }, m);
        fs.location = 7;
        Assert.Equal(rule with { Location = 7 }, EthtoolFlowRuleCodec.Decode(fs));

        var v6 = new EthtoolFlowRule(EthtoolFlowType.Tcp6, null, IPAddress.Parse("fd00::4"), null, 5201, null, 2);
        ethtool_rx_flow_spec fs6 = EthtoolFlowRuleCodec.Encode(v6);
        Assert.Equal(RX_CLS_FLOW_DISC, fs6.ring_cookie);
        Assert.Equal(0x14, fs6.h_u[34]);
        Assert.Equal(0x51, fs6.h_u[35]);
        Assert.Equal(0xfd, fs6.h_u[16]);
        Assert.Equal(0, fs6.m_u[0]); // source: wildcard
        Assert.Equal(v6, EthtoolFlowRuleCodec.Decode(fs6));
        Assert.Throws<ArgumentException>(() => EthtoolFlowRuleCodec.Encode(v6 with { Source = IPAddress.Loopback }));
    }
}
