using Devmem.Interop;
using System.Buffers.Binary;
using System.Text;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink;

/// <summary>The extended-ack TLVs of an error (<c>enum nlmsgerr_attrs</c>, linux/netlink.h).</summary>
internal readonly record struct NetlinkExtAck(string? Message, uint? BadOffset, uint? MissingType, uint? MissingNestOffset);

/// <summary>
/// Decodes NLMSG_ERROR and NLMSG_DONE payloads and turns them into <see cref="NetlinkException"/>:
/// offsets into attribute paths (as YNL's <c>_decode_extack_path</c> does), missing types into names,
/// and the common devmem failures (the kernel's messages of net/core/netdev-genl.c, net/core/devmem.c,
/// net/core/netdev_rx_queue.c and net/ethtool/) into hints.
/// </summary>
internal static class NetlinkErrors
{
    /// <summary>
    /// Reads an NLMSG_ERROR message: returns the error field (0 = ACK, else −errno) and the ext-ack
    /// TLVs. Layout (net/netlink/af_netlink.c netlink_ack): s32 error, the request's nlmsghdr, the
    /// request's payload unless NLM_F_CAPPED, then TLVs if NLM_F_ACK_TLVS.
    /// </summary>
    public static int ParseError(NetlinkMessage message, out NetlinkExtAck ack)
    {
        ReadOnlySpan<byte> p = message.Payload;
        if (p.Length < 4 + NLMSG_HDRLEN)
        {
            throw NetlinkProtocolException.Malformed($"NLMSG_ERROR payload of {p.Length} bytes (at least 20 expected).");
        }

        int error = BinaryPrimitives.ReadInt32LittleEndian(p);
        int tlvStart = 4 + NLMSG_HDRLEN;
        if ((message.Flags & NLM_F_CAPPED) == 0 && error != 0)
        {
            uint echoed = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
            if (echoed < NLMSG_HDRLEN || echoed > (uint)(p.Length - 4))
            {
                throw NetlinkProtocolException.Malformed($"NLMSG_ERROR echoes a request of {echoed} bytes in a {p.Length}-byte payload.");
            }

            tlvStart = 4 + (((int)echoed + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1));
        }

        ack = (message.Flags & NLM_F_ACK_TLVS) != 0 && tlvStart < p.Length ? ParseTlvs(p[tlvStart..]) : default;
        return error;
    }

    /// <summary>Reads an NLMSG_DONE message: returns its s32 error (0, or −errno if the dump failed) and TLVs.</summary>
    public static int ParseDone(NetlinkMessage message, out NetlinkExtAck ack)
    {
        ReadOnlySpan<byte> p = message.Payload;
        if (p.Length < 4)
        {
            // A DONE without the error field is tolerated as success, as libmnl does.
            ack = default;
            return 0;
        }

        int error = BinaryPrimitives.ReadInt32LittleEndian(p);
        ack = (message.Flags & NLM_F_ACK_TLVS) != 0 && p.Length > 4 ? ParseTlvs(p[4..]) : default;
        return error;
    }

    private static NetlinkExtAck ParseTlvs(ReadOnlySpan<byte> tlvs)
    {
        string? msg = null;
        uint? offs = null, missType = null, missNest = null;
        foreach (NetlinkAttr a in new NetlinkAttributeReader(tlvs))
        {
            switch (a.Type)
            {
                case NLMSGERR_ATTR_MSG:
                    // The kernel NUL-terminates; accept a missing terminator rather than lose the text.
                    int nul = a.Payload.IndexOf((byte)0);
                    msg = Encoding.UTF8.GetString(nul < 0 ? a.Payload : a.Payload[..nul]);
                    break;
                case NLMSGERR_ATTR_OFFS:
                    offs = a.GetU32();
                    break;
                case NLMSGERR_ATTR_MISS_TYPE:
                    missType = a.GetU32();
                    break;
                case NLMSGERR_ATTR_MISS_NEST:
                    missNest = a.GetU32();
                    break;
                default:
                    break; // COOKIE, POLICY: not used here.
            }
        }

        return new NetlinkExtAck(msg, offs, missType, missNest);
    }

    /// <summary>Builds the exception for an error reply to <paramref name="request"/>.</summary>
    public static NetlinkException Create(NetlinkFamilySpec? family, string familyName, NetlinkOperationSpec? op, string opName,
        int errno, in NetlinkExtAck ack, ReadOnlySpan<byte> request)
    {
        NetlinkAttributeSetSpec? set = family is not null && op is not null ? family.Set(op.AttributeSet) : null;
        string? bad = null, missing = null;
        if (ack.BadOffset is uint off)
        {
            bad = set is not null ? AttributePath(request, family!, set, (int)off) : null;
            bad ??= $"offset {off}";
        }

        if (ack.MissingType is uint mt)
        {
            string? nestPath = null;
            NetlinkAttributeSetSpec? missSet = set;
            if (ack.MissingNestOffset is uint mn && set is not null)
            {
                nestPath = AttributePath(request, family!, set, (int)mn, out missSet);
            }

            string name = missSet?[(ushort)mt]?.Name ?? mt.ToString(System.Globalization.CultureInfo.InvariantCulture);
            missing = (nestPath ?? "") + "." + name;
        }

        return NetlinkException.FromKernel(familyName, opName, (Errno)errno, ack.Message, bad, missing, Hint(familyName, opName, errno, ack.Message, bad, missing));
    }

    /// <summary>The path (".queues.id") of the attribute at <paramref name="target"/> bytes from the request's start.</summary>
    public static string? AttributePath(ReadOnlySpan<byte> request, NetlinkFamilySpec family, NetlinkAttributeSetSpec set, int target) =>
        AttributePath(request, family, set, target, out _);

    private static string? AttributePath(ReadOnlySpan<byte> request, NetlinkFamilySpec family, NetlinkAttributeSetSpec set, int target,
        out NetlinkAttributeSetSpec? innerSet)
    {
        innerSet = null;
        try
        {
            var messages = new NetlinkMessageReader(request);
            if (!messages.TryRead(out NetlinkMessage m))
            {
                return null;
            }

            return Walk(m.GetGenlAttributes(), family, set, target, out innerSet);
        }
        catch (NetlinkProtocolException)
        {
            return null; // our own request; cannot happen unless the caller passed other bytes
        }
    }

    private static string? Walk(NetlinkAttributeReader attrs, NetlinkFamilySpec family, NetlinkAttributeSetSpec set, int target,
        out NetlinkAttributeSetSpec? innerSet)
    {
        innerSet = null;
        foreach (NetlinkAttr a in attrs)
        {
            NetlinkAttributeSpec? spec = set[a.Type];
            string name = spec?.Name ?? a.Type.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (a.Offset == target)
            {
                innerSet = spec?.NestedSet is string ns ? family.Set(ns) : null;
                return "." + name;
            }

            int end = a.Offset + 4 + a.Payload.Length;
            if (target > a.Offset && target < end)
            {
                if (spec?.Kind == NetlinkAttributeKind.Nest && spec.NestedSet is string nested)
                {
                    string? sub = Walk(a.GetNested(), family, family.Set(nested), target, out innerSet);
                    return sub is null ? "." + name : "." + name + sub;
                }

                return "." + name;
            }
        }

        return null;
    }

    // The kernel's own messages (extended ack) that say what to do, in the order they are tried: bind-rx
    // (7.x net/core/netdev_rx_queue.c; 6.12 net/core/netdev-genl.c and net/core/devmem.c), channel changes
    // under a binding (net/ethtool/common.c), netlink's attribute checks (lib/nlattr.c) and bind-tx.
    private static readonly (string Text, string Hint)[] MessageHints =
    [
        ("hds-thresh is not zero", "set the header-split threshold to 0 (ethtool -G IFNAME hds-thresh 0)"),
        ("XDP program attached", "detach the XDP program from the interface first"),
        ("requested channel counts are too low", "a dma-buf is bound to these queues; dispose the binding (close its netlink socket) before reducing channels"),
        ("memory provider bound", "the queue is already bound to a dma-buf or io_uring area; dispose that binding first"),
        ("already in use by AF_XDP", "an AF_XDP socket uses this queue; pick another queue or close that socket"),
        ("Unknown attribute type", "the running kernel does not know an attribute that was sent (rx-page-size needs 7.3)"),
        ("NLA_F_NESTED is missing", "nested attributes must carry NLA_F_NESTED (0x8000)"),
        ("Driver does not support netmem TX", "this interface's driver cannot transmit from device memory (devmem TX drivers: bnxt, gve, mlx5, fbnic)"),
    ];

    /// <summary>
    /// A short suggestion for the failures devmem users meet most: bind-rx's refusals (net/core/netdev-genl.c,
    /// net/core/devmem.c; 7.x net/core/netdev_rx_queue.c: header split, hds-thresh, XDP, a queue already
    /// bound), channel changes under a binding (net/ethtool/common.c) and netlink's own attribute checks.
    /// </summary>
    public static string? Hint(string family, string op, int errno, string? msg, string? bad, string? missing)
    {
        bool bind = op is "bind-rx" or "bind-tx";
        msg ??= "";
        if (errno == 1)
        {
            return "this operation needs CAP_NET_ADMIN (for netdev bind-rx on 6.12: in the initial user namespace); run as root or grant the capability";
        }

        if (msg.Contains("tcp-data-split is disabled", StringComparison.Ordinal) || (op == "bind-rx" && errno == 61))
        {
            return "turn on TCP header/data split (ethtool -G IFNAME tcp-data-split on); on 6.12 ENODATA also means the driver's page pool cannot hold device memory";
        }

        foreach ((string text, string hint) in MessageHints)
        {
            if (msg.Contains(text, StringComparison.Ordinal))
            {
                return hint;
            }
        }

        if (op == "bind-rx" && errno == 95 && (msg.Length == 0 || bad == ".ifindex"))
        {
            return "this interface's driver has no queue management API, so it cannot bind a dma-buf (devmem RX drivers: bnxt, gve, mlx5, fbnic)";
        }

        if (errno == 19)
        {
            return "no interface with this ifindex in the netlink socket's network namespace";
        }

        if (bind && (errno == 34 || (errno == 22 && bad is not null && bad.StartsWith(".queues", StringComparison.Ordinal))))
        {
            return "the queue id must be below the interface's RX queue count (ethtool -l IFNAME) and the type must be rx";
        }

        if (bind && errno == 9)
        {
            return "the dma-buf file descriptor is not open";
        }

        if (bind && errno == 22 && bad == ".fd")
        {
            return "the file descriptor is not a dma-buf";
        }

        if (bind && errno == 7)
        {
            return "the page pool's page order does not match the binding's niov size (rx-page-size)";
        }

        if (missing is not null)
        {
            return $"the request lacks a required attribute ({missing})";
        }

        return family == "ethtool" && errno == 95 ? "the driver does not support this setting" : null;
    }
}
