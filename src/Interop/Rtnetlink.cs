using System.Runtime.InteropServices;

namespace Devmem.Interop;

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
