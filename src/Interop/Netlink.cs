using System.Runtime.InteropServices;

namespace Devmem.Interop;

// Netlink, one file for the area: the core (include/uapi/linux/netlink.h, identical in 6.12 and 7.3
// apart from comments), then generic netlink (genetlink.h) and rtnetlink (rtnetlink.h, if_link.h) below.
// AF_NETLINK and SOL_NETLINK (not uapi) are in Socket.cs (sys_socket).

/// <summary>Constants from <c>linux/netlink.h</c>.</summary>
[UapiHeader("linux/netlink.h")]
internal static class Netlink
{
    public const int NETLINK_ROUTE = 0;
    public const int NETLINK_GENERIC = 16;

    // nlmsg_flags
    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;
    public const ushort NLM_F_ECHO = 0x08;
    public const ushort NLM_F_DUMP_INTR = 0x10;
    public const ushort NLM_F_DUMP_FILTERED = 0x20;
    public const ushort NLM_F_ROOT = 0x100;
    public const ushort NLM_F_MATCH = 0x200;
    public const ushort NLM_F_ATOMIC = 0x400;
    public const ushort NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
    public const ushort NLM_F_REPLACE = 0x100;
    public const ushort NLM_F_EXCL = 0x200;
    public const ushort NLM_F_CREATE = 0x400;
    public const ushort NLM_F_APPEND = 0x800;
    // Flags of an NLMSG_ERROR message.
    public const ushort NLM_F_CAPPED = 0x100;
    public const ushort NLM_F_ACK_TLVS = 0x200;

    public const int NLMSG_ALIGNTO = 4;
    public const int NLMSG_HDRLEN = 16;

    // Control message types (< NLMSG_MIN_TYPE).
    public const ushort NLMSG_NOOP = 0x1;
    public const ushort NLMSG_ERROR = 0x2;
    public const ushort NLMSG_DONE = 0x3;
    public const ushort NLMSG_OVERRUN = 0x4;
    public const ushort NLMSG_MIN_TYPE = 0x10;

    // enum nlmsgerr_attrs: TLVs after an NLMSG_ERROR (or a dump's NLMSG_DONE) when NETLINK_EXT_ACK is on.
    public const ushort NLMSGERR_ATTR_UNUSED = 0;
    public const ushort NLMSGERR_ATTR_MSG = 1;
    public const ushort NLMSGERR_ATTR_OFFS = 2;
    public const ushort NLMSGERR_ATTR_COOKIE = 3;
    public const ushort NLMSGERR_ATTR_POLICY = 4;
    public const ushort NLMSGERR_ATTR_MISS_TYPE = 5;
    public const ushort NLMSGERR_ATTR_MISS_NEST = 6;

    // setsockopt(SOL_NETLINK, ...) options.
    public const int NETLINK_ADD_MEMBERSHIP = 1;
    public const int NETLINK_DROP_MEMBERSHIP = 2;
    public const int NETLINK_PKTINFO = 3;
    public const int NETLINK_BROADCAST_ERROR = 4;
    public const int NETLINK_NO_ENOBUFS = 5;
    public const int NETLINK_LISTEN_ALL_NSID = 8;
    public const int NETLINK_LIST_MEMBERSHIPS = 9;
    public const int NETLINK_CAP_ACK = 10;
    public const int NETLINK_EXT_ACK = 11;
    public const int NETLINK_GET_STRICT_CHK = 12;

    // Attribute type bits. NLA_TYPE_MASK is an int in C (~(0x8000 | 0x4000)), kept so for the ABI test.
    public const int NLA_F_NESTED = 1 << 15;
    public const int NLA_F_NET_BYTEORDER = 1 << 14;
    public const int NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
    public const int NLA_ALIGNTO = 4;
    public const int NLA_HDRLEN = 4;
}

/// <summary><c>struct sockaddr_nl</c>: a netlink socket address (port id and multicast groups).</summary>
[UapiHeader("linux/netlink.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct sockaddr_nl
{
    public ushort nl_family;
    public ushort nl_pad;
    public uint nl_pid;
    public uint nl_groups;
}

/// <summary><c>struct nlmsghdr</c>: the 16-byte header of every netlink message.</summary>
[UapiHeader("linux/netlink.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct nlmsghdr
{
    public uint nlmsg_len;
    public ushort nlmsg_type;
    public ushort nlmsg_flags;
    public uint nlmsg_seq;
    public uint nlmsg_pid;
}

/// <summary><c>struct nlmsgerr</c>: payload of NLMSG_ERROR (error is 0 for an ACK or −errno).</summary>
[UapiHeader("linux/netlink.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct nlmsgerr
{
    public int error;
    public nlmsghdr msg;
}

/// <summary><c>struct nlattr</c>: attribute header (length includes the header, not the padding).</summary>
[UapiHeader("linux/netlink.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct nlattr
{
    public ushort nla_len;
    public ushort nla_type;
}

// Generic netlink and its controller family nlctrl: include/uapi/linux/genetlink.h
// (identical in 6.12 and 7.3).

/// <summary>Constants from <c>linux/genetlink.h</c>.</summary>
[UapiHeader("linux/genetlink.h")]
internal static class Genetlink
{
    public const int GENL_NAMSIZ = 16;
    public const int GENL_HDRLEN = 4;
    public const ushort GENL_ID_CTRL = 0x10;

    // Op flags reported in CTRL_ATTR_OP_FLAGS.
    public const uint GENL_ADMIN_PERM = 0x01;
    public const uint GENL_CMD_CAP_DO = 0x02;
    public const uint GENL_CMD_CAP_DUMP = 0x04;
    public const uint GENL_CMD_CAP_HASPOL = 0x08;
    public const uint GENL_UNS_ADMIN_PERM = 0x10;

    public const byte CTRL_CMD_UNSPEC = 0;
    public const byte CTRL_CMD_NEWFAMILY = 1;
    public const byte CTRL_CMD_DELFAMILY = 2;
    public const byte CTRL_CMD_GETFAMILY = 3;
    public const byte CTRL_CMD_NEWOPS = 4;
    public const byte CTRL_CMD_DELOPS = 5;
    public const byte CTRL_CMD_GETOPS = 6;
    public const byte CTRL_CMD_NEWMCAST_GRP = 7;
    public const byte CTRL_CMD_DELMCAST_GRP = 8;
    public const byte CTRL_CMD_GETMCAST_GRP = 9;
    public const byte CTRL_CMD_GETPOLICY = 10;

    public const ushort CTRL_ATTR_UNSPEC = 0;
    public const ushort CTRL_ATTR_FAMILY_ID = 1;
    public const ushort CTRL_ATTR_FAMILY_NAME = 2;
    public const ushort CTRL_ATTR_VERSION = 3;
    public const ushort CTRL_ATTR_HDRSIZE = 4;
    public const ushort CTRL_ATTR_MAXATTR = 5;
    public const ushort CTRL_ATTR_OPS = 6;
    public const ushort CTRL_ATTR_MCAST_GROUPS = 7;
    public const ushort CTRL_ATTR_POLICY = 8;
    public const ushort CTRL_ATTR_OP_POLICY = 9;
    public const ushort CTRL_ATTR_OP = 10;

    public const ushort CTRL_ATTR_OP_UNSPEC = 0;
    public const ushort CTRL_ATTR_OP_ID = 1;
    public const ushort CTRL_ATTR_OP_FLAGS = 2;

    public const ushort CTRL_ATTR_MCAST_GRP_UNSPEC = 0;
    public const ushort CTRL_ATTR_MCAST_GRP_NAME = 1;
    public const ushort CTRL_ATTR_MCAST_GRP_ID = 2;

    // CTRL_CMD_GETPOLICY replies: CTRL_ATTR_OP_POLICY nests hold, per op, the policy index of its do
    // and dump request (net/netlink/genetlink.c ctrl_dumppolicy_put_op).
    public const ushort CTRL_ATTR_POLICY_UNSPEC = 0;
    public const ushort CTRL_ATTR_POLICY_DO = 1;
    public const ushort CTRL_ATTR_POLICY_DUMP = 2;
}

/// <summary><c>struct genlmsghdr</c>: follows the nlmsghdr of every generic netlink message.</summary>
[UapiHeader("linux/genetlink.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct genlmsghdr
{
    public byte cmd;
    public byte version;
    public ushort reserved;
}

// rtnetlink (NETLINK_ROUTE), only what the doctor reads: RTM_GETLINK for one device and its IFLA_XDP
// nest (whether an XDP program is attached, which bind-rx refuses). include/uapi/linux/rtnetlink.h,
// include/uapi/linux/if_link.h; identical in 6.12 and 7.3.

/// <summary>Constants from <c>linux/rtnetlink.h</c>.</summary>
[UapiHeader("linux/rtnetlink.h")]
internal static class Rtnetlink
{
    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_GETLINK = 18;
}

/// <summary>Constants from <c>linux/if_link.h</c>.</summary>
[UapiHeader("linux/if_link.h")]
internal static class IfLink
{
    public const ushort IFLA_IFNAME = 3;
    public const ushort IFLA_XDP = 43;

    // IFLA_XDP nest
    public const ushort IFLA_XDP_FD = 1;
    public const ushort IFLA_XDP_ATTACHED = 2;
    public const ushort IFLA_XDP_FLAGS = 3;
    public const ushort IFLA_XDP_PROG_ID = 4;

    // IFLA_XDP_ATTACHED values
    public const byte XDP_ATTACHED_NONE = 0;
    public const byte XDP_ATTACHED_DRV = 1;
    public const byte XDP_ATTACHED_SKB = 2;
    public const byte XDP_ATTACHED_HW = 3;
    public const byte XDP_ATTACHED_MULTI = 4;
}

/// <summary><c>struct ifinfomsg</c>: the fixed header of RTM_*LINK messages, 16 bytes.</summary>
[UapiHeader("linux/rtnetlink.h")]
[StructLayout(LayoutKind.Sequential)]
internal struct ifinfomsg
{
    public byte ifi_family;
    public byte __ifi_pad;
    public ushort ifi_type;
    public int ifi_index;
    public uint ifi_flags;
    public uint ifi_change;
}
