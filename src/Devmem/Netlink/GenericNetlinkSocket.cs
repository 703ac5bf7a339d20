using System.Buffers.Binary;
using System.Numerics;
using Devmem.Interop;
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
/// validation of dump requests) — kernel-api.md §8.</para>
/// <para>Not thread-safe: one request at a time. Disposing closes the socket; for netdev that unbinds
/// every dma-buf bound through it.</para>
/// </remarks>
public sealed class GenericNetlinkSocket : IDisposable
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
    /// then start with <see cref="BeginRawRequest"/> and their family's fixed header.
    /// </summary>
    internal static unsafe GenericNetlinkSocket Open(int receiveBufferSize, int protocol)
    {
        var handle = new SafeSocketFdHandle();
        SysResult r = Libc.socket(sys_socket.AF_NETLINK, sys_socket_type.SOCK_RAW | sys_socket_type.SOCK_CLOEXEC, protocol);
        if (r.IsError)
        {
            throw Io(protocol == NETLINK_GENERIC ? "socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)" : $"socket(AF_NETLINK, SOCK_RAW, {protocol})", r.Errno);
        }

        handle.Own(r.Int32);
        try
        {
            int fd = r.Int32;
            int one = 1;
            foreach (int option in (ReadOnlySpan<int>)[NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK])
            {
                SysResult s = Libc.setsockopt(fd, sys_socket.SOL_NETLINK, option, &one, sizeof(int));
                if (s.IsError)
                {
                    throw Io($"setsockopt(SOL_NETLINK, {OptionName(option)})", s.Errno);
                }
            }

            sockaddr_nl addr = new() { nl_family = (ushort)sys_socket.AF_NETLINK };
            SysResult b = Libc.bind(fd, &addr, (uint)sizeof(sockaddr_nl));
            if (b.IsError)
            {
                throw Io("bind(AF_NETLINK)", b.Errno);
            }

            uint len = (uint)sizeof(sockaddr_nl);
            SysResult g = Libc.getsockname(fd, &addr, &len);
            if (g.IsError)
            {
                throw Io("getsockname(AF_NETLINK)", g.Errno);
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
        NetlinkWriter w = BeginRequest(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, dump: false, out uint seq);
        w.WriteString(CTRL_ATTR_FAMILY_NAME, name);
        GenericNetlinkFamily? family = null;
        try
        {
            var replies = new NetlinkReplies(this, ref w, seq, dump: false, NetlinkRequestContext.Nlctrl);
            while (replies.MoveNext())
            {
                family = ParseFamily(replies.Current, name);
            }
        }
        catch (NetlinkException e) when (e.ErrorNumber == (int)Errno.ENOENT)
        {
            throw new NetlinkNotSupportedException(name, null, null,
                $"The running kernel ({RunningKernel.Release}) has no generic netlink family '{name}' (nlctrl: ENOENT).{FamilyNote(name)}");
        }

        return family ?? throw new NetlinkProtocolException($"nlctrl answered the query for '{name}' without a family.");
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
        NetlinkWriter w = BeginRequest(GENL_ID_CTRL, CTRL_CMD_GETPOLICY, 1, dump: true, out uint seq);
        w.WriteString(CTRL_ATTR_FAMILY_NAME, familyName);
        w.WriteU32(CTRL_ATTR_OP, command);
        uint? doPolicy = null;
        var policies = new Dictionary<ushort, HashSet<ushort>>();
        try
        {
            var replies = new NetlinkReplies(this, ref w, seq, dump: true, new NetlinkRequestContext("nlctrl", "getpolicy", null, null));
            while (replies.MoveNext())
            {
                foreach (NetlinkAttr a in replies.Current.GetGenlAttributes())
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
                            throw new NetlinkProtocolException($"nlctrl listed operation id {opId} for '{name}'.");
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
            throw new NetlinkProtocolException($"nlctrl reply for '{name}' has no CTRL_ATTR_FAMILY_ID.");
        }

        return new GenericNetlinkFamily(name, id, version, hdr, maxAttr, ops, groups);
    }

    /// <summary>
    /// Starts a request in the socket's send buffer: nlmsghdr (NLM_F_REQUEST, plus NLM_F_ACK for a do or
    /// NLM_F_DUMP for a dump) and genlmsghdr. Add attributes to the returned writer, then pass it to
    /// <see cref="Send(ref NetlinkWriter, uint, bool, string, string)"/>.
    /// </summary>
    /// <param name="familyId">The family id (nlmsg_type).</param>
    /// <param name="command">The genl command.</param>
    /// <param name="version">The family version.</param>
    /// <param name="dump">true for a dump request.</param>
    /// <param name="sequence">The request's sequence number.</param>
    /// <returns>The writer, positioned after the genl header.</returns>
    public NetlinkWriter BeginRequest(ushort familyId, byte command, byte version, bool dump, out uint sequence)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        sequence = ++_sequence;
        if (sequence == 0)
        {
            sequence = _sequence = 1; // 0 is what notifications carry
        }

        var w = new NetlinkWriter(_send);
        w.BeginMessage(familyId, (ushort)(NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK)), sequence);
        w.WriteGenlHeader(command, version);
        return w;
    }

    /// <summary>Starts a request of a netlink protocol without a genl header (the caller writes its fixed header).</summary>
    internal NetlinkWriter BeginRawRequest(ushort type, bool dump, out uint sequence)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        sequence = ++_sequence;
        if (sequence == 0)
        {
            sequence = _sequence = 1;
        }

        var w = new NetlinkWriter(_send);
        w.BeginMessage(type, (ushort)(NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK)), sequence);
        return w;
    }

    /// <summary>
    /// Sends the request built with <see cref="BeginRequest"/> and returns its replies: enumerate them
    /// to the end (the enumeration stops at the ACK or NLMSG_DONE and throws on an error).
    /// </summary>
    /// <param name="request">The writer <see cref="BeginRequest"/> returned, with attributes added.</param>
    /// <param name="sequence">The sequence number <see cref="BeginRequest"/> gave.</param>
    /// <param name="dump">Whether it is a dump request.</param>
    /// <param name="family">Family name for error messages.</param>
    /// <param name="operation">Operation name for error messages.</param>
    /// <returns>The replies.</returns>
    public NetlinkReplies Send(scoped ref NetlinkWriter request, uint sequence, bool dump, string family, string operation) =>
        new(this, ref request, sequence, dump, new NetlinkRequestContext(family, operation, null, null));

    internal NetlinkReplies Send(scoped ref NetlinkWriter request, uint sequence, bool dump, NetlinkFamilySpec spec, NetlinkOperationSpec op) =>
        new(this, ref request, sequence, dump, new NetlinkRequestContext(spec.Name, op.Name, spec, op));

    internal ReadOnlySpan<byte> LastRequest => _send.AsSpan(0, _requestLength);

    internal unsafe void Transmit(ReadOnlySpan<byte> message)
    {
        _requestLength = message.Length;
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            sockaddr_nl kernel = new() { nl_family = (ushort)sys_socket.AF_NETLINK };
            fixed (byte* p = message)
            {
                SysResult r;
                do
                {
                    r = Libc.sendto(fd, p, (nuint)message.Length, 0, &kernel, (uint)sizeof(sockaddr_nl));
                }
                while (r.IsError && r.Errno == Errno.EINTR);

                if (r.IsError)
                {
                    throw Io("sendto(netlink)", r.Errno);
                }
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Receives one datagram, growing the buffer first if the kernel's datagram is larger
    /// (recv with MSG_PEEK|MSG_TRUNC returns the full length, net/netlink/af_netlink.c netlink_recvmsg).
    /// </summary>
    internal unsafe ReadOnlySpan<byte> ReceiveDatagram(bool nonBlocking = false)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            int dontWait = nonBlocking ? sys_socket.MSG_DONTWAIT : 0;
            SysResult peek;
            byte probe;
            do
            {
                peek = Libc.recv(fd, &probe, 1, sys_socket.MSG_PEEK | sys_socket.MSG_TRUNC | dontWait);
            }
            while (peek.IsError && peek.Errno == Errno.EINTR);

            if (peek.IsError)
            {
                if (nonBlocking && peek.Errno == Errno.EAGAIN)
                {
                    return default;
                }

                throw peek.Errno == Errno.ENOBUFS
                    ? new IOException("netlink: the socket's receive queue overflowed (ENOBUFS); notifications were lost.")
                    : Io("recv(netlink, MSG_PEEK|MSG_TRUNC)", peek.Errno);
            }

            if (peek.Value > _receive.Length)
            {
                _receive = new byte[(int)Math.Min(int.MaxValue / 2, BitOperations.RoundUpToPowerOf2((uint)peek.Value))];
            }

            SysResult r;
            fixed (byte* p = _receive)
            {
                do
                {
                    r = Libc.recv(fd, p, (nuint)_receive.Length, dontWait);
                }
                while (r.IsError && r.Errno == Errno.EINTR);
            }

            if (r.IsError)
            {
                throw Io("recv(netlink)", r.Errno);
            }

            return _receive.AsSpan(0, (int)r.Value);
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Joins a multicast group (setsockopt NETLINK_ADD_MEMBERSHIP).</summary>
    /// <param name="groupId">The group id from <see cref="GenericNetlinkFamily.MulticastGroups"/>.</param>
    public unsafe void JoinGroup(uint groupId)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            SysResult r = Libc.setsockopt((int)_handle.DangerousGetHandle(), sys_socket.SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groupId, sizeof(uint));
            if (r.IsError)
            {
                throw Io($"setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, {groupId})", r.Errno);
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Waits until the socket is readable or <paramref name="timeoutMs"/> passes (poll(2)).</summary>
    internal unsafe bool Poll(int timeoutMs)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            pollfd p = new() { fd = (int)_handle.DangerousGetHandle(), events = sys_poll.POLLIN };
            SysResult r = Libc.poll(&p, 1, timeoutMs);
            if (r.IsError)
            {
                return r.Errno == Errno.EINTR ? false : throw Io("poll(netlink)", r.Errno);
            }

            return r.Value > 0;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    internal static IOException Io(string call, Errno errno) => new($"{call} failed: {errno.Describe()}", (int)errno);

    private static string OptionName(int option) => option switch
    {
        NETLINK_EXT_ACK => "NETLINK_EXT_ACK",
        NETLINK_CAP_ACK => "NETLINK_CAP_ACK",
        NETLINK_GET_STRICT_CHK => "NETLINK_GET_STRICT_CHK",
        _ => option.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    internal static uint ReadSequence(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
}
