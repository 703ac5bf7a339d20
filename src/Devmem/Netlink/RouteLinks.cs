using System.Runtime.InteropServices;
using Devmem.Interop;
using static Devmem.Interop.IfLink;
using static Devmem.Interop.Netlink;
using static Devmem.Interop.Rtnetlink;

namespace Devmem.Netlink;

/// <summary>How an XDP program is attached to a device (IFLA_XDP_ATTACHED, linux/if_link.h).</summary>
public enum XdpAttachMode
{
    /// <summary>XDP_ATTACHED_NONE.</summary>
    None = 0,

    /// <summary>XDP_ATTACHED_DRV: native, in the driver.</summary>
    Driver = 1,

    /// <summary>XDP_ATTACHED_SKB: generic (xdpgeneric).</summary>
    Generic = 2,

    /// <summary>XDP_ATTACHED_HW: offloaded to the NIC.</summary>
    Offload = 3,

    /// <summary>XDP_ATTACHED_MULTI: more than one mode at once.</summary>
    Multiple = 4,
}

/// <summary>One network device as rtnetlink lists it: index, name and XDP state.</summary>
/// <param name="Ifindex">Interface index.</param>
/// <param name="Name">Interface name (IFLA_IFNAME).</param>
/// <param name="Xdp">Whether and how an XDP program is attached (IFLA_XDP / IFLA_XDP_ATTACHED).</param>
/// <param name="XdpProgramId">The attached program's id (IFLA_XDP_PROG_ID), if one is attached.</param>
public sealed record NetworkLink(int Ifindex, string Name, XdpAttachMode Xdp, uint? XdpProgramId);

/// <summary>
/// The devices of the calling thread's network namespace, from an rtnetlink RTM_GETLINK dump
/// (what <c>ip -d link</c> reads): the one read-only way to see an attached XDP program, which
/// bind-rx refuses with EEXIST (6.12: <c>netdev_nl_bind_rx_doit</c> in net/core/netdev-genl.c; 7.x:
/// <c>__netif_mp_open_rxq</c> in net/core/netdev_rx_queue.c).
/// </summary>
public static class RouteLinks
{
    /// <summary>Dumps every device (RTM_GETLINK, NLM_F_DUMP).</summary>
    /// <returns>The devices, by ifindex.</returns>
    /// <exception cref="IOException">The socket could not be opened, or the kernel refused.</exception>
    public static unsafe IReadOnlyList<NetworkLink> Dump()
    {
        using GenericNetlinkSocket socket = GenericNetlinkSocket.Open(32 * 1024, NETLINK_ROUTE);
        NetlinkRequest request = socket.CreateRawRequest(RTM_GETLINK, dump: true, "rtnetlink", "getlink");
        ref NetlinkWriter w = ref request.Writer;
        ifinfomsg header = default; // strict dump checking wants every field zero (rtnl_valid_dump_ifinfo_req)
        w.WriteFixedHeader(new ReadOnlySpan<byte>(&header, sizeof(ifinfomsg)));
        var links = new List<NetworkLink>();
        foreach (NetlinkMessage m in request.Send())
        {
            links.Add(ParseLink(m));
        }

        links.Sort((a, b) => a.Ifindex.CompareTo(b.Ifindex));
        return links;
    }

    /// <summary>Decodes one RTM_NEWLINK reply (ifinfomsg, then IFLA_* attributes).</summary>
    /// <exception cref="NetlinkProtocolException">The message is not a well-formed RTM_NEWLINK.</exception>
    internal static unsafe NetworkLink ParseLink(NetlinkMessage m)
    {
        if (m.Type != RTM_NEWLINK || m.Payload.Length < sizeof(ifinfomsg))
        {
            throw NetlinkProtocolException.Malformed($"rtnetlink getlink: reply of type {m.Type} with {m.Payload.Length} bytes.");
        }

        ifinfomsg info = MemoryMarshal.Read<ifinfomsg>(m.Payload);
        string? name = null;
        XdpAttachMode xdp = XdpAttachMode.None;
        uint? prog = null;
        foreach (NetlinkAttr a in new NetlinkAttributeReader(m.Payload[sizeof(ifinfomsg)..], NLMSG_HDRLEN + sizeof(ifinfomsg)))
        {
            if (a.Type == IFLA_IFNAME)
            {
                name = a.GetString();
            }
            else if (a.Type == IFLA_XDP)
            {
                foreach (NetlinkAttr x in a.GetNested())
                {
                    if (x.Type == IFLA_XDP_ATTACHED)
                    {
                        xdp = (XdpAttachMode)x.GetU8();
                    }
                    else if (x.Type == IFLA_XDP_PROG_ID)
                    {
                        prog = x.GetU32();
                    }
                }
            }
        }

        return new NetworkLink(info.ifi_index, name ?? throw NetlinkProtocolException.Malformed($"rtnetlink getlink: device {info.ifi_index} without IFLA_IFNAME."), xdp, prog);
    }
}
