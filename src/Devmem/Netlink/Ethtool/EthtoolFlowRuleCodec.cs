using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using static Devmem.Interop.Ethtool;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// <see cref="EthtoolFlowRule"/> to and from the kernel's <c>struct ethtool_rx_flow_spec</c>
/// (include/uapi/linux/ethtool.h): bytes only, no socket, so it is testable without a kernel.
/// </summary>
internal static class EthtoolFlowRuleCodec
{
    // h_u and m_u are unions of 52 bytes (ethtool_flow_union); the tcp/udp specs use their start.
    private const int UnionSize = 52;

    /// <summary>The rule as ETHTOOL_SRXCLSRLINS takes it: a null queue discards, a null location lets the driver choose.</summary>
    /// <exception cref="ArgumentException">An address of the other family than the rule's flow type.</exception>
    internal static unsafe ethtool_rx_flow_spec Encode(EthtoolFlowRule rule)
    {
        ethtool_rx_flow_spec fs = default;
        fs.flow_type = (uint)rule.FlowType;
        fs.ring_cookie = rule.Queue ?? RX_CLS_FLOW_DISC;
        fs.location = rule.Location ?? RX_CLS_LOC_ANY;
        int addrLen = AddressLength(rule.FlowType);
        // ethtool_tcpip4_spec: ip4src @0, ip4dst @4, psrc @8, pdst @10; ethtool_tcpip6_spec: ip6src @0,
        // ip6dst @16, psrc @32, pdst @34. Network byte order; a mask byte of 0xff means "compare".
        var h = new Span<byte>(fs.h_u, UnionSize);
        var m = new Span<byte>(fs.m_u, UnionSize);
        WriteAddress(rule.Source, h, m, 0, addrLen);
        WriteAddress(rule.Destination, h, m, addrLen, addrLen);
        WritePort(rule.SourcePort, h, m, 2 * addrLen);
        WritePort(rule.DestinationPort, h, m, (2 * addrLen) + 2);
        return fs;
    }

    /// <summary>A rule as ETHTOOL_GRXCLSRULE returns it; the FLOW_EXT, FLOW_MAC_EXT and FLOW_RSS flags are dropped.</summary>
    internal static unsafe EthtoolFlowRule Decode(ethtool_rx_flow_spec fs)
    {
        var type = (EthtoolFlowType)(fs.flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS));
        int addrLen = AddressLength(type);
        var h = new ReadOnlySpan<byte>(fs.h_u, UnionSize);
        var m = new ReadOnlySpan<byte>(fs.m_u, UnionSize);
        return new EthtoolFlowRule(type, ReadAddress(h, m, 0, addrLen), ReadAddress(h, m, addrLen, addrLen), ReadPort(h, m, 2 * addrLen),
            ReadPort(h, m, (2 * addrLen) + 2), fs.ring_cookie == RX_CLS_FLOW_DISC ? null : fs.ring_cookie, fs.location);
    }

    private static bool IsV6(EthtoolFlowType type) => type is EthtoolFlowType.Tcp6 or EthtoolFlowType.Udp6;

    private static int AddressLength(EthtoolFlowType type) => IsV6(type) ? 16 : 4;

    private static void WriteAddress(IPAddress? address, Span<byte> h, Span<byte> m, int offset, int length)
    {
        if (address is null)
        {
            return;
        }

        if ((address.AddressFamily == AddressFamily.InterNetworkV6) != (length == 16))
        {
            throw new ArgumentException($"address {address} does not match the rule's flow type.");
        }

        address.TryWriteBytes(h.Slice(offset, length), out _);
        m.Slice(offset, length).Fill(0xff);
    }

    private static void WritePort(ushort? port, Span<byte> h, Span<byte> m, int offset)
    {
        if (port is ushort p)
        {
            BinaryPrimitives.WriteUInt16BigEndian(h[offset..], p);
            m.Slice(offset, 2).Fill(0xff);
        }
    }

    private static IPAddress? ReadAddress(ReadOnlySpan<byte> h, ReadOnlySpan<byte> m, int offset, int length) =>
        m.Slice(offset, length).ContainsAnyExcept((byte)0) ? new IPAddress(h.Slice(offset, length)) : null;

    private static ushort? ReadPort(ReadOnlySpan<byte> h, ReadOnlySpan<byte> m, int offset) =>
        m.Slice(offset, 2).ContainsAnyExcept((byte)0) ? BinaryPrimitives.ReadUInt16BigEndian(h[offset..]) : null;
}
