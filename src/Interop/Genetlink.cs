using System.Runtime.InteropServices;

namespace Devmem.Interop;

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
