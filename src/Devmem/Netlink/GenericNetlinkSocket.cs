using System.Buffers.Binary;
using System.Numerics;
using Devmem.Interop;
using Devmem.Sys;
using static Devmem.Interop.Genetlink;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink;

/// <summary>
/// A generic netlink socket (<c>AF_NETLINK</c>, <c>NETLINK_GENERIC</c>): the one runtime every family
/// here goes through. It owns its file descriptor through a SafeHandle, numbers its requests, reads
/// replies until the ACK or <c>NLMSG_DONE</c>, checks every reply's sequence number and port id,
/// rejects interrupted dumps, and turns kernel errors into <see cref="NetlinkException"/>.
/// </summary>
/// <remarks>
/// <para>Set at open: <c>NETLINK_EXT_ACK</c> (the kernel's error messages and blamed attribute),
/// <c>NETLINK_CAP_ACK</c> (errors do not echo the request) and <c>NETLINK_GET_STRICT_CHK</c> (strict
/// validation of dump requests). The first two are what the kernel's YNL library sets
/// (tools/net/ynl/lib/ynl.c ynl_sock_create); all three are in include/uapi/linux/netlink.h.</para>
/// <para>Not thread-safe: one request at a time. Disposing closes the socket; for netdev that unbinds
/// every dma-buf bound through it.</para>
/// </remarks>
internal sealed class GenericNetlinkSocket : IDisposable
{
    private const int InitialReceiveBuffer = 32 * 1024; // the kernel's largest dump skb (net/netlink/af_netlink.c netlink_dump)
    private readonly SafeSocketFdHandle _handle;
    private byte[] _send = new byte[16 * 1024];
    private byte[] _receive = new byte[InitialReceiveBuffer];
    private int _requestLength;
    private uint _sequence;

    private GenericNetlinkSocket(SafeSocketFdHandle handle, uint portId)
    {
        _handle = handle;
        PortId = portId;
        // Start from a time-derived value, as libmnl does, so replies to an earlier socket that reused
        // this port id cannot be mistaken for ours.
        _sequence = (uint)Environment.TickCount;
    }

    /// <summary>The port id the kernel assigned at bind (nl_pid); every unicast reply carries it.</summary>
    public uint PortId { get; }

    /// <summary>The receive buffer's current size; it grows when a datagram would not fit.</summary>
    public int ReceiveBufferSize => _receive.Length;

    internal SafeSocketFdHandle Handle => _handle;

    /// <summary>Opens a generic netlink socket in the calling thread's network namespace.</summary>
    /// <returns>The socket.</returns>
    /// <exception cref="IOException">socket, setsockopt or bind failed (message names the call and errno).</exception>
    public static GenericNetlinkSocket Open() => Open(InitialReceiveBuffer);

    /// <summary>Opens a socket whose receive buffer starts at <paramref name="receiveBufferSize"/> bytes (tests use a tiny one to exercise growth).</summary>
    internal static GenericNetlinkSocket Open(int receiveBufferSize) => Open(receiveBufferSize, NETLINK_GENERIC);

    /// <summary>
    /// Opens a socket of another netlink protocol with the same runtime (sequence and port checks, ACK
    /// and DONE handling, extended acks); the doctor reads links over NETLINK_ROUTE with it. Requests
    /// then start with <see cref="CreateRawRequest"/> and their family's fixed header.
    /// </summary>
    internal static unsafe GenericNetlinkSocket Open(int receiveBufferSize, int protocol)
    {
        var handle = new SafeSocketFdHandle();
        SysResult r = Syscalls.Socket(sys_socket.AF_NETLINK, sys_socket_type.SOCK_RAW | sys_socket_type.SOCK_CLOEXEC, protocol);
        if (r.IsError)
        {
            handle.Dispose();
            throw Syscalls.Failure(protocol == NETLINK_GENERIC ? "socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)" : $"socket(AF_NETLINK, SOCK_RAW, {protocol})", r.Errno);
        }

        handle.Own(r.Int32);
        try
        {
            int one = 1;
            foreach (int option in (ReadOnlySpan<int>)[NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK])
            {
                SysResult s = Syscalls.SetSockOpt(handle, sys_socket.SOL_NETLINK, option, &one, sizeof(int));
                if (s.IsError)
                {
                    throw Syscalls.Failure($"setsockopt(SOL_NETLINK, {OptionName(option)})", s.Errno);
                }
            }

            sockaddr_nl addr = new() { nl_family = (ushort)sys_socket.AF_NETLINK };
            SysResult b = Syscalls.Bind(handle, &addr, (uint)sizeof(sockaddr_nl));
            if (b.IsError)
            {
                throw Syscalls.Failure("bind(AF_NETLINK)", b.Errno);
            }

            uint len = (uint)sizeof(sockaddr_nl);
            SysResult g = Syscalls.GetSockName(handle, &addr, &len);
            if (g.IsError)
            {
                throw Syscalls.Failure("getsockname(AF_NETLINK)", g.Errno);
            }

            return new GenericNetlinkSocket(handle, addr.nl_pid) { _receive = new byte[Math.Max(16, receiveBufferSize)] };
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Closes the socket. The kernel then drops every state tied to it (netdev: its dma-buf bindings).</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>
    /// Resolves a family by name with nlctrl (CTRL_CMD_GETFAMILY): id, version, op list with flags,
    /// multicast groups.
    /// </summary>
    /// <param name="name">The family name, e.g. "netdev".</param>
    /// <returns>The family as the running kernel describes it.</returns>
    /// <exception cref="NetlinkNotSupportedException">The kernel has no such family (nlctrl answered ENOENT).</exception>
    public GenericNetlinkFamily GetFamily(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        NetlinkRequest request = CreateRequest(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, dump: false, "nlctrl", "getfamily");
        request.Writer.WriteString(CTRL_ATTR_FAMILY_NAME, name);
        GenericNetlinkFamily? family = null;
        try
        {
            foreach (NetlinkMessage m in request.Send())
            {
                family = ParseFamily(m, name);
            }
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT)
        {
            throw NetlinkNotSupportedException.MissingFamily(name,
                $"The running kernel ({KernelFiles.KernelRelease}) has no generic netlink family '{name}' (nlctrl: ENOENT).{FamilyNote(name)}");
        }

        return family ?? throw NetlinkProtocolException.Malformed($"nlctrl answered the query for '{name}' without a family.");
    }

    /// <summary>
    /// The attribute types the do request of <paramref name="command"/> accepts, as the running kernel's
    /// policy says (nlctrl CTRL_CMD_GETPOLICY for one op, 5.12+; net/netlink/genetlink.c
    /// ctrl_dumppolicy). Attributes the policy rejects (NLA_REJECT, unknown) are not listed, so this
    /// tells whether the kernel knows an attribute without sending it.
    /// </summary>
    /// <param name="familyName">The family, e.g. "netdev".</param>
    /// <param name="command">The op's command number.</param>
    /// <returns>The accepted attribute types of the op's top-level request set; null when the kernel does not answer policy queries.</returns>
    internal HashSet<ushort>? GetDoPolicyAttributes(string familyName, byte command)
    {
        NetlinkRequest request = CreateRequest(GENL_ID_CTRL, CTRL_CMD_GETPOLICY, 1, dump: true, "nlctrl", "getpolicy");
        request.Writer.WriteString(CTRL_ATTR_FAMILY_NAME, familyName);
        request.Writer.WriteU32(CTRL_ATTR_OP, command);
        uint? doPolicy = null;
        var policies = new Dictionary<ushort, HashSet<ushort>>();
        try
        {
            foreach (NetlinkMessage m in request.Send())
            {
                foreach (NetlinkAttr a in m.GetGenlAttributes())
                {
                    if (a.Type == CTRL_ATTR_OP_POLICY)
                    {
                        // { [cmd] { CTRL_ATTR_POLICY_DO: idx, CTRL_ATTR_POLICY_DUMP: idx } }
                        foreach (NetlinkAttr op in a.GetNested())
                        {
                            foreach (NetlinkAttr f in op.GetNested())
                            {
                                if (op.Type == command && f.Type == CTRL_ATTR_POLICY_DO)
                                {
                                    doPolicy = f.GetU32();
                                }
                            }
                        }
                    }
                    else if (a.Type == CTRL_ATTR_POLICY)
                    {
                        // { [policy index] { [attribute type] { NL_POLICY_TYPE_ATTR_* } } } (net/netlink/policy.c)
                        foreach (NetlinkAttr policy in a.GetNested())
                        {
                            if (!policies.TryGetValue(policy.Type, out HashSet<ushort>? set))
                            {
                                policies[policy.Type] = set = [];
                            }

                            foreach (NetlinkAttr attr in policy.GetNested())
                            {
                                set.Add(attr.Type);
                            }
                        }
                    }
                }
            }
        }
        catch (NetlinkException e) when (e.Errno is Errno.EOPNOTSUPP or Errno.EINVAL or Errno.ENOENT)
        {
            return null; // kernels before per-op policy dumps, or an op without a policy
        }

        return doPolicy is uint idx && idx <= ushort.MaxValue && policies.TryGetValue((ushort)idx, out HashSet<ushort>? attrs) ? attrs : null;
    }

    private static string FamilyNote(string name) => name switch
    {
        "netdev" => " The netdev family needs Linux 6.3 or newer; devmem bind-rx needs 6.12.",
        "ethtool" => " The ethtool family needs Linux 5.6 or newer with CONFIG_ETHTOOL_NETLINK.",
        _ => "",
    };

    internal static GenericNetlinkFamily ParseFamily(NetlinkMessage m, string name)
    {
        ushort id = 0;
        uint version = 0, hdr = 0, maxAttr = 0;
        var ops = new Dictionary<byte, GenericNetlinkOperationCapabilities>();
        var groups = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (NetlinkAttr a in m.GetGenlAttributes())
        {
            switch (a.Type)
            {
                case CTRL_ATTR_FAMILY_ID: id = a.GetU16(); break;
                case CTRL_ATTR_VERSION: version = a.GetU32(); break;
                case CTRL_ATTR_HDRSIZE: hdr = a.GetU32(); break;
                case CTRL_ATTR_MAXATTR: maxAttr = a.GetU32(); break;
                case CTRL_ATTR_OPS:
                    // An array: nests numbered 1..n, each holding CTRL_ATTR_OP_ID and CTRL_ATTR_OP_FLAGS
                    // (net/netlink/genetlink.c ctrl_fill_info).
                    foreach (NetlinkAttr entry in a.GetNested())
                    {
                        uint opId = 0, flags = 0;
                        foreach (NetlinkAttr f in entry.GetNested())
                        {
                            if (f.Type == CTRL_ATTR_OP_ID)
                            {
                                opId = f.GetU32();
                            }
                            else if (f.Type == CTRL_ATTR_OP_FLAGS)
                            {
                                flags = f.GetU32();
                            }
                        }

                        if (opId is 0 or > byte.MaxValue)
                        {
                            throw NetlinkProtocolException.Malformed($"nlctrl listed operation id {opId} for '{name}'.");
                        }

                        ops[(byte)opId] = (GenericNetlinkOperationCapabilities)flags;
                    }

                    break;
                case CTRL_ATTR_MCAST_GROUPS:
                    foreach (NetlinkAttr entry in a.GetNested())
                    {
                        string? groupName = null;
                        uint groupId = 0;
                        foreach (NetlinkAttr f in entry.GetNested())
                        {
                            if (f.Type == CTRL_ATTR_MCAST_GRP_NAME)
                            {
                                groupName = f.GetString();
                            }
                            else if (f.Type == CTRL_ATTR_MCAST_GRP_ID)
                            {
                                groupId = f.GetU32();
                            }
                        }

                        if (groupName is not null)
                        {
                            groups[groupName] = groupId;
                        }
                    }

                    break;
                default:
                    break;
            }
        }

        if (id == 0)
        {
            throw NetlinkProtocolException.Malformed($"nlctrl reply for '{name}' has no CTRL_ATTR_FAMILY_ID.");
        }

        return new GenericNetlinkFamily(name, id, version, hdr, maxAttr, ops, groups);
    }

    /// <summary>
    /// Starts a request in the socket's send buffer, numbered by the socket: nlmsghdr (NLM_F_REQUEST, plus
    /// NLM_F_ACK for a do or NLM_F_DUMP for a dump, and the next sequence number) and genlmsghdr. Add
    /// attributes through <see cref="NetlinkRequest.Writer"/>, then <see cref="NetlinkRequest.Send"/> it.
    /// </summary>
    /// <param name="familyId">The family id (nlmsg_type).</param>
    /// <param name="command">The genl command.</param>
    /// <param name="version">The family version.</param>
    /// <param name="dump">true for a dump request.</param>
    /// <param name="family">Family name for error messages.</param>
    /// <param name="operation">Operation name for error messages.</param>
    /// <returns>The request.</returns>
    public NetlinkRequest CreateRequest(ushort familyId, byte command, byte version, bool dump, string family, string operation) =>
        Create(familyId, dump, genl: (command, version), new NetlinkRequestContext(family, operation, null, null));

    /// <summary>A request of <paramref name="op"/> of a family with a spec (its attribute names decode the kernel's extended ack).</summary>
    internal NetlinkRequest CreateRequest(ushort familyId, NetlinkFamilySpec spec, NetlinkOperationSpec op, bool dump) =>
        Create(familyId, dump, genl: (op.Command, spec.Version), new NetlinkRequestContext(spec.Name, op.Name, spec, op));

    /// <summary>A request of a netlink protocol without a genl header (the caller writes its fixed header).</summary>
    internal NetlinkRequest CreateRawRequest(ushort type, bool dump, string family, string operation) =>
        Create(type, dump, genl: null, new NetlinkRequestContext(family, operation, null, null));

    private NetlinkRequest Create(ushort type, bool dump, (byte Command, byte Version)? genl, NetlinkRequestContext context)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        uint sequence = ++_sequence;
        if (sequence == 0)
        {
            sequence = _sequence = 1; // 0 is what notifications carry
        }

        ushort flags = (ushort)(NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK));
        var w = new NetlinkWriter(_send);
        w.BeginMessage(type, flags, sequence);
        if (genl is var (command, version))
        {
            w.WriteGenlHeader(command, version);
        }

        return new NetlinkRequest(this, w, sequence, dump, context);
    }

    internal ReadOnlySpan<byte> LastRequest => _send.AsSpan(0, _requestLength);

    internal unsafe void Transmit(ReadOnlySpan<byte> message)
    {
        _requestLength = message.Length;
        sockaddr_nl kernel = new() { nl_family = (ushort)sys_socket.AF_NETLINK };
        fixed (byte* p = message)
        {
            SysResult r = Syscalls.SendTo(_handle, p, (nuint)message.Length, 0, &kernel, (uint)sizeof(sockaddr_nl));
            if (r.IsError)
            {
                throw Syscalls.Failure("sendto(netlink)", r.Errno);
            }
        }
    }

    /// <summary>
    /// Receives one datagram with one recv, as YNL does (tools/net/ynl/lib/ynl.c). The buffer starts at the
    /// size of the kernel's largest dump datagram (net/netlink/af_netlink.c: netlink_recvmsg caps
    /// max_recvmsg_len, which sizes each dump skb, at 32 KiB), so dumps fit. A larger datagram (a do reply
    /// over 32 KiB) is cut by the kernel and the rest dropped: MSG_TRUNC in the flags makes recv return its
    /// full length, the buffer grows to it for the next request, and this one fails with
    /// <see cref="NetlinkProtocolException"/> saying so.
    /// </summary>
    internal unsafe ReadOnlySpan<byte> ReceiveDatagram(bool nonBlocking = false)
    {
        int flags = sys_socket.MSG_TRUNC | (nonBlocking ? sys_socket.MSG_DONTWAIT : 0);
        SysResult r;
        fixed (byte* p = _receive)
        {
            r = Syscalls.Recv(_handle, p, (nuint)_receive.Length, flags);
        }

        if (r.IsError)
        {
            if (nonBlocking && r.Errno == Errno.EAGAIN)
            {
                return default;
            }

            throw r.Errno == Errno.ENOBUFS
                ? DevmemException.Syscall("recv(netlink)", Errno.ENOBUFS, "the socket's receive queue overflowed and notifications were lost: read them sooner, or resubscribe and dump the state again")
                : Syscalls.Failure("recv(netlink)", r.Errno);
        }

        if (r.Value > _receive.Length)
        {
            int had = _receive.Length;
            _receive = new byte[(int)Math.Min(int.MaxValue / 2, BitOperations.RoundUpToPowerOf2((uint)r.Value))];
            throw NetlinkProtocolException.Malformed(
                $"a {r.Value}-byte datagram did not fit the {had}-byte receive buffer, and the kernel dropped what did not fit (MSG_TRUNC). The buffer now holds {_receive.Length} bytes: retry the request.");
        }

        return _receive.AsSpan(0, (int)r.Value);
    }

    /// <summary>Joins a multicast group (setsockopt NETLINK_ADD_MEMBERSHIP).</summary>
    /// <param name="groupId">The group id from <see cref="GenericNetlinkFamily.MulticastGroups"/>.</param>
    public unsafe void JoinGroup(uint groupId)
    {
        SysResult r = Syscalls.SetSockOpt(_handle, sys_socket.SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groupId, sizeof(uint));
        if (r.IsError)
        {
            throw Syscalls.Failure($"setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, {groupId})", r.Errno);
        }
    }

    /// <summary>Waits until the socket is readable or <paramref name="timeoutMs"/> passes (poll(2)); false on timeout or a signal.</summary>
    internal bool Poll(int timeoutMs)
    {
        SysResult r = Syscalls.Poll(_handle, sys_poll.POLLIN, timeoutMs, out _);
        return r.IsError ? throw Syscalls.Failure("poll(netlink)", r.Errno) : r.Value > 0;
    }

    private static string OptionName(int option) => option switch
    {
        NETLINK_EXT_ACK => "NETLINK_EXT_ACK",
        NETLINK_CAP_ACK => "NETLINK_CAP_ACK",
        NETLINK_GET_STRICT_CHK => "NETLINK_GET_STRICT_CHK",
        _ => option.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    internal static uint ReadSequence(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
}
