using System.Runtime.InteropServices;

namespace Devmem.Interop;

// ethtool, the parts devmem setup needs.
//  - generic netlink: include/uapi/linux/ethtool_netlink.h (7.x moves the enums into
//    ethtool_netlink_generated.h, which ethtool_netlink.h includes), spec
//    Documentation/netlink/specs/ethtool.yaml;
//  - the SIOCETHTOOL ioctl: include/uapi/linux/ethtool.h, linux/sockios.h, linux/if.h.
// x86_64 layouts, compiled against Debian's linux-libc-dev 6.12 and newest by the ABI test
// (tests/Devmem.Abi.Tests). [KernelSince] marks what 6.12.117 lacks ("inferred": from the upstream
// merge date).

/// <summary>Constants of the ethtool generic netlink family (<c>linux/ethtool_netlink.h</c>).</summary>
[UapiHeader("linux/ethtool_netlink.h")]
internal static class EthtoolNetlink
{
    public const string ETHTOOL_GENL_NAME = "ethtool";
    public const int ETHTOOL_GENL_VERSION = 1;
    public const string ETHTOOL_MCGRP_MONITOR_NAME = "monitor";

    // enum ethtool_header_flags
    public const uint ETHTOOL_FLAG_COMPACT_BITSETS = 1;
    public const uint ETHTOOL_FLAG_OMIT_REPLY = 2;
    public const uint ETHTOOL_FLAG_STATS = 4;

    // enum tcp_data_split (u8 attribute ETHTOOL_A_RINGS_TCP_DATA_SPLIT)
    public const byte ETHTOOL_TCP_DATA_SPLIT_UNKNOWN = 0;
    public const byte ETHTOOL_TCP_DATA_SPLIT_DISABLED = 1;
    public const byte ETHTOOL_TCP_DATA_SPLIT_ENABLED = 2;

    // user-to-kernel message types (the genl command of a request)
    public const byte ETHTOOL_MSG_FEATURES_GET = 11;
    public const byte ETHTOOL_MSG_FEATURES_SET = 12;
    public const byte ETHTOOL_MSG_RINGS_GET = 15;
    public const byte ETHTOOL_MSG_RINGS_SET = 16;
    public const byte ETHTOOL_MSG_CHANNELS_GET = 17;
    public const byte ETHTOOL_MSG_CHANNELS_SET = 18;
    public const byte ETHTOOL_MSG_RSS_GET = 38;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_SET = 48;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_CREATE_ACT = 49;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_DELETE_ACT = 50;

    // kernel-to-user message types (the genl command of a reply or notification)
    public const byte ETHTOOL_MSG_FEATURES_GET_REPLY = 11;
    public const byte ETHTOOL_MSG_RINGS_GET_REPLY = 16;
    public const byte ETHTOOL_MSG_RINGS_NTF = 17;
    public const byte ETHTOOL_MSG_CHANNELS_GET_REPLY = 18;
    public const byte ETHTOOL_MSG_CHANNELS_NTF = 19;
    public const byte ETHTOOL_MSG_RSS_GET_REPLY = 38;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_NTF = 50;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_CREATE_ACT_REPLY = 51;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_CREATE_NTF = 52;
    [KernelSince("6.17")] public const byte ETHTOOL_MSG_RSS_DELETE_NTF = 53;

    // request/reply header (nested, attribute 1 of every message)
    public const ushort ETHTOOL_A_HEADER_DEV_INDEX = 1;
    public const ushort ETHTOOL_A_HEADER_DEV_NAME = 2;
    public const ushort ETHTOOL_A_HEADER_FLAGS = 3;
    public const ushort ETHTOOL_A_HEADER_PHY_INDEX = 4;

    // rings
    public const ushort ETHTOOL_A_RINGS_HEADER = 1;
    public const ushort ETHTOOL_A_RINGS_RX_MAX = 2;
    public const ushort ETHTOOL_A_RINGS_RX_MINI_MAX = 3;
    public const ushort ETHTOOL_A_RINGS_RX_JUMBO_MAX = 4;
    public const ushort ETHTOOL_A_RINGS_TX_MAX = 5;
    public const ushort ETHTOOL_A_RINGS_RX = 6;
    public const ushort ETHTOOL_A_RINGS_RX_MINI = 7;
    public const ushort ETHTOOL_A_RINGS_RX_JUMBO = 8;
    public const ushort ETHTOOL_A_RINGS_TX = 9;
    public const ushort ETHTOOL_A_RINGS_RX_BUF_LEN = 10;
    public const ushort ETHTOOL_A_RINGS_TCP_DATA_SPLIT = 11;
    public const ushort ETHTOOL_A_RINGS_CQE_SIZE = 12;
    public const ushort ETHTOOL_A_RINGS_TX_PUSH = 13;
    public const ushort ETHTOOL_A_RINGS_RX_PUSH = 14;
    public const ushort ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN = 15;
    public const ushort ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN_MAX = 16;
    [KernelSince("6.14")] public const ushort ETHTOOL_A_RINGS_HDS_THRESH = 17;
    [KernelSince("6.14")] public const ushort ETHTOOL_A_RINGS_HDS_THRESH_MAX = 18;

    // channels
    public const ushort ETHTOOL_A_CHANNELS_HEADER = 1;
    public const ushort ETHTOOL_A_CHANNELS_RX_MAX = 2;
    public const ushort ETHTOOL_A_CHANNELS_TX_MAX = 3;
    public const ushort ETHTOOL_A_CHANNELS_OTHER_MAX = 4;
    public const ushort ETHTOOL_A_CHANNELS_COMBINED_MAX = 5;
    public const ushort ETHTOOL_A_CHANNELS_RX_COUNT = 6;
    public const ushort ETHTOOL_A_CHANNELS_TX_COUNT = 7;
    public const ushort ETHTOOL_A_CHANNELS_OTHER_COUNT = 8;
    public const ushort ETHTOOL_A_CHANNELS_COMBINED_COUNT = 9;

    // RSS
    public const ushort ETHTOOL_A_RSS_HEADER = 1;
    public const ushort ETHTOOL_A_RSS_CONTEXT = 2;
    public const ushort ETHTOOL_A_RSS_HFUNC = 3;
    public const ushort ETHTOOL_A_RSS_INDIR = 4;
    public const ushort ETHTOOL_A_RSS_HKEY = 5;
    public const ushort ETHTOOL_A_RSS_INPUT_XFRM = 6;
    public const ushort ETHTOOL_A_RSS_START_CONTEXT = 7;
    [KernelSince("6.17")] public const ushort ETHTOOL_A_RSS_FLOW_HASH = 8;

    // features (netlink FEATURES_GET): each a bitset of netdev feature names
    public const ushort ETHTOOL_A_FEATURES_HEADER = 1;
    public const ushort ETHTOOL_A_FEATURES_HW = 2;
    public const ushort ETHTOOL_A_FEATURES_WANTED = 3;
    public const ushort ETHTOOL_A_FEATURES_ACTIVE = 4;
    public const ushort ETHTOOL_A_FEATURES_NOCHANGE = 5;

    // bitsets (Documentation/networking/ethtool-netlink.rst "Bit sets"); without
    // ETHTOOL_FLAG_COMPACT_BITSETS the kernel lists bits by index and name (net/ethtool/bitset.c)
    public const ushort ETHTOOL_A_BITSET_NOMASK = 1;
    public const ushort ETHTOOL_A_BITSET_SIZE = 2;
    public const ushort ETHTOOL_A_BITSET_BITS = 3;
    public const ushort ETHTOOL_A_BITSET_VALUE = 4;
    public const ushort ETHTOOL_A_BITSET_MASK = 5;
    public const ushort ETHTOOL_A_BITSET_BITS_BIT = 1;
    public const ushort ETHTOOL_A_BITSET_BIT_INDEX = 1;
    public const ushort ETHTOOL_A_BITSET_BIT_NAME = 2;
    public const ushort ETHTOOL_A_BITSET_BIT_VALUE = 3;
}

/// <summary>Constants of the SIOCETHTOOL ioctl (<c>linux/ethtool.h</c>).</summary>
[UapiHeader("linux/ethtool.h")]
internal static class Ethtool
{
    // Commands: the first u32 of the buffer ifr_data points to.
    public const uint ETHTOOL_GDRVINFO = 0x03;
    public const uint ETHTOOL_GRINGPARAM = 0x10;
    public const uint ETHTOOL_SRINGPARAM = 0x11;
    public const uint ETHTOOL_GRXRINGS = 0x2d;
    public const uint ETHTOOL_GRXCLSRLCNT = 0x2e;
    public const uint ETHTOOL_GRXCLSRULE = 0x2f;
    public const uint ETHTOOL_GRXCLSRLALL = 0x30;
    public const uint ETHTOOL_SRXCLSRLDEL = 0x31;
    public const uint ETHTOOL_SRXCLSRLINS = 0x32;
    public const uint ETHTOOL_GRXFHINDIR = 0x38;
    public const uint ETHTOOL_SRXFHINDIR = 0x39;
    public const uint ETHTOOL_GCHANNELS = 0x3c;
    public const uint ETHTOOL_SCHANNELS = 0x3d;
    public const uint ETHTOOL_GRSSH = 0x46;
    public const uint ETHTOOL_SRSSH = 0x47;

    // Flow types (ethtool_rx_flow_spec.flow_type) and their flag bits.
    public const uint TCP_V4_FLOW = 0x01;
    public const uint UDP_V4_FLOW = 0x02;
    public const uint TCP_V6_FLOW = 0x05;
    public const uint UDP_V6_FLOW = 0x06;
    public const uint FLOW_EXT = 0x80000000;
    public const uint FLOW_MAC_EXT = 0x40000000;
    public const uint FLOW_RSS = 0x20000000;

    // Special ring_cookie and locations.
    public const ulong RX_CLS_FLOW_DISC = 0xffffffffffffffff;
    public const uint RX_CLS_LOC_SPECIAL = 0x80000000;
    public const uint RX_CLS_LOC_ANY = 0xffffffff;
    public const uint RX_CLS_LOC_FIRST = 0xfffffffe;
    public const uint RX_CLS_LOC_LAST = 0xfffffffd;

    /// <summary>ETHTOOL_GFLAGS bit for ntuple filters (the netlink feature is "rx-ntuple-filter", net/ethtool/common.c netdev_features_strings; "ntuple-filters" is ethtool(8)'s name for it).</summary>
    public const uint ETH_FLAG_NTUPLE = 1 << 27;
    public const uint ETH_RXFH_INDIR_NO_CHANGE = 0xffffffff;
}

/// <summary>Socket ioctl numbers (<c>linux/sockios.h</c>).</summary>
[UapiHeader("linux/sockios.h")]
internal static class Sockios
{
    public const uint SIOCGIFINDEX = 0x8933;
    public const uint SIOCETHTOOL = 0x8946;
}

/// <summary>Constants from <c>linux/if.h</c>.</summary>
[UapiHeader("linux/if.h")]
internal static class If
{
    public const int IFNAMSIZ = 16;
}

/// <summary>
/// <c>struct ifreq</c> as SIOCETHTOOL uses it: the interface name and <c>ifr_data</c>, a pointer to
/// the ethtool command buffer. The rest of the 24-byte union is padding here.
/// </summary>
[UapiHeader("linux/if.h")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ifreq
{
    public fixed byte ifr_name[16];
    public void* ifr_data;
    [Padding] public fixed byte __pad[16];
}

/// <summary><c>struct ethtool_ringparam</c> (ETHTOOL_GRINGPARAM/SRINGPARAM), 36 bytes.</summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct ethtool_ringparam
{
    public uint cmd;
    public uint rx_max_pending;
    public uint rx_mini_max_pending;
    public uint rx_jumbo_max_pending;
    public uint tx_max_pending;
    public uint rx_pending;
    public uint rx_mini_pending;
    public uint rx_jumbo_pending;
    public uint tx_pending;
}

/// <summary><c>struct ethtool_drvinfo</c> (ETHTOOL_GDRVINFO), 196 bytes: the driver's name as the driver reports it.</summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ethtool_drvinfo
{
    public uint cmd;
    public fixed byte driver[32];
    public fixed byte version[32];
    public fixed byte fw_version[32];
    public fixed byte bus_info[32];
    public fixed byte erom_version[32];
    public fixed byte reserved2[12];
    public uint n_priv_flags;
    public uint n_stats;
    public uint testinfo_len;
    public uint eedump_len;
    public uint regdump_len;
}

/// <summary><c>struct ethtool_channels</c> (ETHTOOL_GCHANNELS/SCHANNELS), 36 bytes.</summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct ethtool_channels
{
    public uint cmd;
    public uint max_rx;
    public uint max_tx;
    public uint max_other;
    public uint max_combined;
    public uint rx_count;
    public uint tx_count;
    public uint other_count;
    public uint combined_count;
}

/// <summary>
/// <c>struct ethtool_rxfh_indir</c> (ETHTOOL_GRXFHINDIR/SRXFHINDIR): an 8-byte header followed by
/// <c>ring_index[size]</c> (u32 each) in the same buffer.
/// </summary>
[UapiHeader("linux/ethtool.h")]
[FlexibleArray("ring_index", typeof(uint))]
[StructLayout(LayoutKind.Sequential)]
internal struct ethtool_rxfh_indir
{
    public uint cmd;
    public uint size;
}

/// <summary><c>struct ethtool_tcpip4_spec</c>: TCP/UDP over IPv4 match; network byte order; 16 bytes.</summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ethtool_tcpip4_spec
{
    public uint ip4src;
    public uint ip4dst;
    public ushort psrc;
    public ushort pdst;
    public byte tos;
    [Padding] public fixed byte __pad[3];
}

/// <summary><c>struct ethtool_tcpip6_spec</c>: TCP/UDP over IPv6 match; network byte order; 40 bytes.</summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ethtool_tcpip6_spec
{
    public fixed uint ip6src[4];
    public fixed uint ip6dst[4];
    public ushort psrc;
    public ushort pdst;
    public byte tclass;
    [Padding] public fixed byte __pad[3];
}

/// <summary><c>struct ethtool_flow_ext</c>: VLAN, destination MAC and user data match; 20 bytes.</summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ethtool_flow_ext
{
    public fixed byte padding[2];
    public fixed byte h_dest[6];
    public ushort vlan_etype;
    public ushort vlan_tci;
    public fixed uint data[2];
}

/// <summary>
/// <c>struct ethtool_rx_flow_spec</c>: one classification rule, 168 bytes. <c>h_u</c> and <c>m_u</c>
/// are <c>union ethtool_flow_union</c> (52 bytes), kept as bytes here; view them as
/// <see cref="ethtool_tcpip4_spec"/> or <see cref="ethtool_tcpip6_spec"/> by flow type.
/// </summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ethtool_rx_flow_spec
{
    public uint flow_type;
    public fixed byte h_u[52];
    public ethtool_flow_ext h_ext;
    public fixed byte m_u[52];
    public ethtool_flow_ext m_ext;
    [Padding] public uint __pad0;
    public ulong ring_cookie;
    public uint location;
    [Padding] public uint __pad1;
}

/// <summary>
/// <c>struct ethtool_rxnfc</c>: RX network flow classification command, 192 bytes. For
/// ETHTOOL_GRXCLSRLALL the rule locations follow at offset 188, inside the struct's tail padding;
/// <see cref="rule_locs"/> is the first of them.
/// </summary>
[UapiHeader("linux/ethtool.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct ethtool_rxnfc
{
    public uint cmd;
    public uint flow_type;
    public ulong data;
    public ethtool_rx_flow_spec fs;
    /// <summary>Union of <c>rule_cnt</c> and <c>rss_context</c>.</summary>
    public uint rule_cnt;
    /// <summary>First element of the flexible array <c>rule_locs[]</c>.</summary>
    [FlexibleArray] public uint rule_locs;
}
