using System.Runtime.InteropServices;

namespace Devmem.Interop;

// Netlink core: include/uapi/linux/netlink.h (identical in 6.12 and 7.3 apart from comments).
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
