using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Devmem.Sys;
using static Devmem.Interop.Netdev;

namespace Devmem.Netlink.Netdev;

/// <summary>
/// The netdev generic netlink family (Documentation/netlink/specs/netdev.yaml), typed: devices, queues,
/// NAPI instances, page pools and their statistics, queue statistics, dma-buf binding (devmem),
/// queue creation, and the family's notifications.
/// </summary>
/// <remarks>
/// Each call checks the family's op list first: an operation the running kernel lacks throws
/// <see cref="NetlinkNotSupportedException"/> naming the kernel version that added it. Kernel errors
/// throw <see cref="NetlinkException"/>; a dump the kernel marks inconsistent throws
/// <see cref="NetlinkDumpInterruptedException"/> (retry it). Not thread-safe.
/// The socket lives in the network namespace of the thread that called <see cref="Open"/>.
/// </remarks>
public sealed class NetdevClient : IDisposable
{
    private readonly GenericNetlinkSocket _socket;

    private NetdevClient(GenericNetlinkSocket socket, GenericNetlinkFamily family)
    {
        _socket = socket;
        Family = family;
    }

    /// <summary>The netdev family as the running kernel describes it (id, ops, groups).</summary>
    public GenericNetlinkFamily Family { get; }

    private static NetlinkFamilySpec Spec => NetdevSpec.Family;

    /// <summary>Opens a netlink socket and resolves the netdev family.</summary>
    /// <returns>The client.</returns>
    /// <exception cref="NetlinkNotSupportedException">The kernel has no netdev family (before 6.3).</exception>
    public static NetdevClient Open()
    {
        GenericNetlinkSocket socket = GenericNetlinkSocket.Open();
        try
        {
            return new NetdevClient(socket, socket.GetFamily(NETDEV_FAMILY_NAME));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose() => _socket.Dispose();

    /// <summary>Whether the running kernel offers a netdev operation (by its spec name, e.g. "bind-tx").</summary>
    /// <param name="operation">The spec name.</param>
    /// <param name="dump">Dump mode rather than do.</param>
    /// <returns>true if the op list has it.</returns>
    public bool Supports(string operation, bool dump = false) => Family.Supports(Spec.Operation(operation).Command, dump);

    /// <summary>dev-get dump: every device in the socket's network namespace.</summary>
    /// <returns>The devices.</returns>
    public IReadOnlyList<NetdevDevice> GetDevices() => Dump("dev-get", null, 0, NetdevParse.Device);

    /// <summary>dev-get do: one device.</summary>
    /// <param name="ifindex">Interface index.</param>
    /// <returns>The device.</returns>
    public NetdevDevice GetDevice(int ifindex) => Do("dev-get", (ref NetlinkWriter w) => w.WriteU32(NETDEV_A_DEV_IFINDEX, (uint)ifindex), NetdevParse.Device);

    /// <summary>queue-get dump: the configured queues, of one device or of all.</summary>
    /// <param name="ifindex">Only this device (the dump's ifindex filter), or all.</param>
    /// <returns>The queues.</returns>
    public IReadOnlyList<NetdevQueueInfo> GetQueues(int? ifindex = null) => Dump("queue-get", ifindex, NETDEV_A_QUEUE_IFINDEX, NetdevParse.Queue);

    /// <summary>queue-get do: one queue.</summary>
    /// <param name="ifindex">Interface index.</param>
    /// <param name="type">Queue type.</param>
    /// <param name="id">Queue id.</param>
    /// <returns>The queue.</returns>
    public NetdevQueueInfo GetQueue(int ifindex, NetdevQueueType type, uint id) => Do("queue-get", (ref NetlinkWriter w) =>
    {
        w.WriteU32(NETDEV_A_QUEUE_IFINDEX, (uint)ifindex);
        w.WriteU32(NETDEV_A_QUEUE_TYPE, (uint)type);
        w.WriteU32(NETDEV_A_QUEUE_ID, id);
    }, NetdevParse.Queue);

    /// <summary>napi-get dump.</summary>
    /// <param name="ifindex">Only this device, or all.</param>
    /// <returns>The NAPI instances.</returns>
    public IReadOnlyList<NetdevNapi> GetNapis(int? ifindex = null) => Dump("napi-get", ifindex, NETDEV_A_NAPI_IFINDEX, NetdevParse.Napi);

    /// <summary>napi-get do.</summary>
    /// <param name="id">NAPI id.</param>
    /// <returns>The NAPI instance.</returns>
    public NetdevNapi GetNapi(uint id) => Do("napi-get", (ref NetlinkWriter w) => w.WriteU32(NETDEV_A_NAPI_ID, id), NetdevParse.Napi);

    /// <summary>napi-set (6.13+, CAP_NET_ADMIN): changes the given settings of one NAPI instance.</summary>
    /// <param name="settings">The settings; null members are left unchanged.</param>
    public void SetNapi(NetdevNapiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        NetlinkRequest request = Begin("napi-set", dump: false);
        ref NetlinkWriter w = ref request.Writer;
        w.WriteU32(NETDEV_A_NAPI_ID, settings.Id);
        if (settings.DeferHardIrqs is uint d)
        {
            w.WriteU32(NETDEV_A_NAPI_DEFER_HARD_IRQS, d);
        }

        if (settings.GroFlushTimeoutNs is ulong g)
        {
            w.WriteUInt(NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT, g);
        }

        if (settings.IrqSuspendTimeoutNs is ulong s)
        {
            w.WriteUInt(NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT, s);
        }

        if (settings.Threaded is NetdevNapiThreaded t)
        {
            w.WriteU32(NETDEV_A_NAPI_THREADED, (uint)t);
        }

        request.Send().Drain();
    }

    /// <summary>page-pool-get dump (filtered here by device, which works on every kernel).</summary>
    /// <param name="ifindex">Only pools of this device, or all.</param>
    /// <returns>The page pools.</returns>
    public IReadOnlyList<NetdevPagePool> GetPagePools(int? ifindex = null)
    {
        IReadOnlyList<NetdevPagePool> all = Dump("page-pool-get", null, 0, NetdevParse.PagePool);
        return ifindex is int i ? all.Where(p => p.Ifindex == i).ToList() : all;
    }

    /// <summary>page-pool-get do.</summary>
    /// <param name="id">Page pool id.</param>
    /// <returns>The page pool.</returns>
    public NetdevPagePool GetPagePool(ulong id) => Do("page-pool-get", (ref NetlinkWriter w) => w.WriteUInt(NETDEV_A_PAGE_POOL_ID, id), NetdevParse.PagePool);

    /// <summary>page-pool-stats-get dump (needs CONFIG_PAGE_POOL_STATS).</summary>
    /// <param name="ifindex">Only pools of this device, or all.</param>
    /// <returns>The statistics.</returns>
    public IReadOnlyList<NetdevPagePoolStats> GetPagePoolStats(int? ifindex = null)
    {
        IReadOnlyList<NetdevPagePoolStats> all = Dump("page-pool-stats-get", null, 0, NetdevParse.PagePoolStats);
        return ifindex is int i ? all.Where(p => p.Ifindex == i).ToList() : all;
    }

    /// <summary>qstats-get dump: statistics per device or per queue.</summary>
    /// <param name="ifindex">Only this device, or all.</param>
    /// <param name="scope">Per device, or per queue.</param>
    /// <returns>The statistics.</returns>
    public IReadOnlyList<NetdevQueueStats> GetQueueStats(int? ifindex = null, NetdevQstatsScope scope = NetdevQstatsScope.Device)
    {
        return Dump("qstats-get", (ref NetlinkWriter w) =>
        {
            if (ifindex is int i)
            {
                w.WriteU32(NETDEV_A_QSTATS_IFINDEX, (uint)i);
            }

            if (scope == NetdevQstatsScope.Queue)
            {
                w.WriteUInt(NETDEV_A_QSTATS_SCOPE, NETDEV_QSTATS_SCOPE_QUEUE);
            }
        }, NetdevParse.QueueStats);
    }

    /// <summary>
    /// bind-rx (6.12+, CAP_NET_ADMIN): binds a dma-buf to RX queues of a device, through a new netlink
    /// socket that the returned binding owns (opened in the calling thread's network namespace, where
    /// the kernel looks the device up).
    /// </summary>
    /// <param name="ifindex">The device.</param>
    /// <param name="dmabuf">The dma-buf's file descriptor (the kernel takes its own reference; it may be closed afterwards).</param>
    /// <param name="rxQueueIds">The RX queue ids to bind (at least one).</param>
    /// <param name="rxPageSize">rx-page-size (7.3+); null sends nothing (PAGE_SIZE).</param>
    /// <returns>The binding; dispose it to unbind.</returns>
    /// <exception cref="NetlinkException">The kernel refused, with its message and a hint (the refusals of net/core/netdev-genl.c and net/core/devmem.c; 7.x also net/core/netdev_rx_queue.c).</exception>
    public DmabufBinding BindRx(int ifindex, SafeHandle dmabuf, IEnumerable<uint> rxQueueIds, uint? rxPageSize = null)
    {
        ArgumentNullException.ThrowIfNull(dmabuf);
        ArgumentNullException.ThrowIfNull(rxQueueIds);
        uint[] queues = rxQueueIds.ToArray();
        if (queues.Length == 0)
        {
            throw new ArgumentException("bind-rx needs at least one RX queue.", nameof(rxQueueIds));
        }

        return Bind("bind-rx", ifindex, dmabuf, queues, rxPageSize);
    }

    /// <summary>
    /// bind-rx with <paramref name="count"/> queue nests that hold neither id nor type: a request the
    /// kernel must refuse (EINVAL, missing attribute). The kernel ncdevmem's first bind self-test.
    /// </summary>
    internal DmabufBinding BindRxEmptyQueueNests(int ifindex, SafeHandle dmabuf, int count, uint? rxPageSize = null) => Bind("bind-rx", ifindex, dmabuf, [], rxPageSize, count);

    /// <summary>
    /// bind-tx (6.16+): binds a dma-buf to a device for transmit, through a new netlink socket that the
    /// returned binding owns.
    /// </summary>
    /// <param name="ifindex">The device.</param>
    /// <param name="dmabuf">The dma-buf's file descriptor.</param>
    /// <returns>The binding; dispose it to unbind.</returns>
    /// <exception cref="NetlinkNotSupportedException">The kernel is older than 6.16.</exception>
    /// <exception cref="NetlinkException">The kernel refused (e.g. "Driver does not support netmem TX").</exception>
    public DmabufBinding BindTx(int ifindex, SafeHandle dmabuf)
    {
        ArgumentNullException.ThrowIfNull(dmabuf);
        return Bind("bind-tx", ifindex, dmabuf, [], null);
    }

    /// <summary>
    /// A bind-rx that cannot bind anything, sent to learn how far the kernel gets: fd is U32_MAX (no
    /// such file: dma_buf_get fails with EBADF) and the one queue is U32_MAX (past any queue count).
    /// On 6.15+ kernels netdev_nl_bind_rx_doit refuses a device without the queue API or instance
    /// lock first (EOPNOTSUPP, bad attribute .ifindex), and otherwise reaches the queue list (EINVAL,
    /// bad attribute .queues.id) before it looks at the fd. 6.12 checks XDP (EEXIST), then the fd
    /// (EBADF), before any queue. Nothing is attached or mapped on any path. It goes through its own
    /// socket, closed at once, so even an unexpected success would unbind.
    /// </summary>
    /// <param name="ifindex">The device.</param>
    /// <returns>The kernel's refusal; null if it accepted (not expected).</returns>
    internal NetlinkException? ProbeBindRx(int ifindex)
    {
        NetlinkOperationSpec op = Require("bind-rx", dump: false);
        using GenericNetlinkSocket socket = GenericNetlinkSocket.Open();
        NetlinkRequest request = socket.CreateRequest(Family.Id, Spec, op, dump: false);
        ref NetlinkWriter w = ref request.Writer;
        w.WriteU32(NETDEV_A_DMABUF_IFINDEX, (uint)ifindex);
        w.WriteU32(NETDEV_A_DMABUF_FD, uint.MaxValue);
        int nest = w.BeginNested(NETDEV_A_DMABUF_QUEUES);
        w.WriteU32(NETDEV_A_QUEUE_ID, uint.MaxValue);
        w.WriteU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX);
        w.EndNested(nest);
        try
        {
            request.Send().Drain();
            return null;
        }
        catch (NetlinkException e)
        {
            return e;
        }
    }

    /// <summary>
    /// The attribute types the running kernel's bind-rx accepts (its policy, via nlctrl
    /// CTRL_CMD_GETPOLICY); null when the kernel does not answer policy queries.
    /// </summary>
    internal HashSet<ushort>? GetBindRxPolicy() => _socket.GetDoPolicyAttributes(NETDEV_FAMILY_NAME, NETDEV_CMD_BIND_RX);

    private DmabufBinding Bind(string opName, int ifindex, SafeHandle dmabuf, uint[] queues, uint? rxPageSize, int emptyQueueNests = 0)
    {
        NetlinkOperationSpec op = Require(opName, dump: false);
        GenericNetlinkSocket socket = GenericNetlinkSocket.Open();
        try
        {
            // The dma-buf's fd number travels in the request: its reference is held until the kernel has answered.
            using FdLease fd = Syscalls.Enter(dmabuf);
            NetlinkRequest request = socket.CreateRequest(Family.Id, Spec, op, dump: false);
            ref NetlinkWriter w = ref request.Writer;
            w.WriteU32(NETDEV_A_DMABUF_IFINDEX, (uint)ifindex);
            w.WriteU32(NETDEV_A_DMABUF_FD, (uint)fd.Fd);
            foreach (uint q in queues)
            {
                int nest = w.BeginNested(NETDEV_A_DMABUF_QUEUES);
                w.WriteU32(NETDEV_A_QUEUE_ID, q);
                w.WriteU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX);
                w.EndNested(nest);
            }

            for (int i = 0; i < emptyQueueNests; i++)
            {
                w.EndNested(w.BeginNested(NETDEV_A_DMABUF_QUEUES));
            }

            if (rxPageSize is uint ps)
            {
                w.WriteU32(NETDEV_A_DMABUF_RX_PAGE_SIZE, ps);
            }

            uint? id = null;
            foreach (NetlinkMessage m in request.Send())
            {
                id = NetdevParse.BindingId(m.GetGenlAttributes());
            }

            return new DmabufBinding(socket, id ?? throw NetlinkProtocolException.Malformed($"{opName}: the kernel acknowledged without a binding id."),
                ifindex, opName == "bind-rx" ? DmabufBindingDirection.Receive : DmabufBindingDirection.Transmit, queues);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// queue-create (7.0+, CAP_NET_ADMIN): creates an RX queue on a virtual device (netkit) leased from a
    /// physical device's queue.
    /// </summary>
    /// <param name="ifindex">The virtual device.</param>
    /// <param name="leaseIfindex">The physical device.</param>
    /// <param name="leaseQueueId">The physical RX queue.</param>
    /// <param name="leaseNetnsId">The physical device's netns id, if it is in another namespace.</param>
    /// <returns>The new queue's id.</returns>
    public uint CreateQueue(int ifindex, int leaseIfindex, uint leaseQueueId, int? leaseNetnsId = null)
    {
        NetlinkRequest request = Begin("queue-create", dump: false);
        ref NetlinkWriter w = ref request.Writer;
        w.WriteU32(NETDEV_A_QUEUE_IFINDEX, (uint)ifindex);
        w.WriteU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX);
        int lease = w.BeginNested(NETDEV_A_QUEUE_LEASE);
        w.WriteU32(NETDEV_A_LEASE_IFINDEX, (uint)leaseIfindex);
        int q = w.BeginNested(NETDEV_A_LEASE_QUEUE);
        w.WriteU32(NETDEV_A_QUEUE_ID, leaseQueueId);
        w.WriteU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX);
        w.EndNested(q);
        if (leaseNetnsId is int ns)
        {
            w.WriteS32(NETDEV_A_LEASE_NETNS_ID, ns);
        }

        w.EndNested(lease);
        uint? id = null;
        foreach (NetlinkMessage m in request.Send())
        {
            foreach (NetlinkAttr a in m.GetGenlAttributes())
            {
                if (a.Type == NETDEV_A_QUEUE_ID)
                {
                    id = a.GetU32();
                }
            }
        }

        return id ?? throw NetlinkProtocolException.Malformed("queue-create: the kernel acknowledged without a queue id.");
    }

    /// <summary>
    /// The family's notifications (mgmt: devices; page-pool: page pools) as they arrive, on a socket of
    /// their own, until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <param name="groups">Which multicast groups to join.</param>
    /// <param name="cancellationToken">Ends the stream (the enumeration then throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>The notifications.</returns>
    public async IAsyncEnumerable<NetdevNotification> WatchAsync(NetdevMulticastGroups groups, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (groups == NetdevMulticastGroups.None)
        {
            throw new ArgumentException("Join at least one group.", nameof(groups));
        }

        using GenericNetlinkSocket socket = GenericNetlinkSocket.Open();
        foreach ((NetdevMulticastGroups flag, string name) in (ReadOnlySpan<(NetdevMulticastGroups, string)>)[(NetdevMulticastGroups.Management, NETDEV_MCGRP_MGMT), (NetdevMulticastGroups.PagePool, NETDEV_MCGRP_PAGE_POOL)])
        {
            if ((groups & flag) == 0)
            {
                continue;
            }

            if (!Family.MulticastGroups.TryGetValue(name, out uint id))
            {
                throw NetlinkNotSupportedException.MissingOperation(Family.Name, name, null,
                    $"netdev multicast group '{name}' is not available in the running kernel ({KernelFiles.KernelRelease}){(name == NETDEV_MCGRP_PAGE_POOL ? "; it needs CONFIG_PAGE_POOL" : "")}.");
            }

            socket.JoinGroup(id);
        }

        var batch = new List<NetdevNotification>();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Wait on a pool thread in short polls so that cancellation is noticed within 100 ms.
            bool readable = await Task.Run(() => socket.Poll(100), cancellationToken).ConfigureAwait(false);
            if (!readable)
            {
                continue;
            }

            ReadNotifications(socket, batch);
            foreach (NetdevNotification n in batch)
            {
                yield return n;
            }

            batch.Clear();
        }
    }

    private void ReadNotifications(GenericNetlinkSocket socket, List<NetdevNotification> into)
    {
        ReadOnlySpan<byte> datagram = socket.ReceiveDatagram(nonBlocking: true);
        foreach (NetlinkMessage m in new NetlinkMessageReader(datagram))
        {
            if (m.Type != Family.Id)
            {
                continue;
            }

            NetdevNotification? n = m.GenlCommand switch
            {
                NETDEV_CMD_DEV_ADD_NTF => new(NetdevNotificationKind.DeviceAdded, NetdevParse.Device(m.GetGenlAttributes()), null),
                NETDEV_CMD_DEV_DEL_NTF => new(NetdevNotificationKind.DeviceDeleted, NetdevParse.Device(m.GetGenlAttributes()), null),
                NETDEV_CMD_DEV_CHANGE_NTF => new(NetdevNotificationKind.DeviceChanged, NetdevParse.Device(m.GetGenlAttributes()), null),
                NETDEV_CMD_PAGE_POOL_ADD_NTF => new(NetdevNotificationKind.PagePoolAdded, null, NetdevParse.PagePool(m.GetGenlAttributes())),
                NETDEV_CMD_PAGE_POOL_DEL_NTF => new(NetdevNotificationKind.PagePoolDeleted, null, NetdevParse.PagePool(m.GetGenlAttributes())),
                NETDEV_CMD_PAGE_POOL_CHANGE_NTF => new(NetdevNotificationKind.PagePoolChanged, null, NetdevParse.PagePool(m.GetGenlAttributes())),
                _ => null,
            };
            if (n is not null)
            {
                into.Add(n);
            }
        }
    }

    /// <summary>
    /// Runs a netdev dump and renders it as the kernel's YNL CLI prints it with <c>--output-json</c>
    /// (same keys, enum and flag names, key order), so scripts can use either.
    /// </summary>
    /// <param name="operation">dev-get, queue-get, napi-get, page-pool-get, page-pool-stats-get or qstats-get.</param>
    /// <param name="ifindex">Only this device: sent as the dump's ifindex filter where the spec has one
    /// (queue-get, napi-get, qstats-get), else applied to the replies.</param>
    /// <param name="scope">For qstats-get: per device or per queue.</param>
    /// <returns>A JSON array, one object per reply message.</returns>
    public string DumpAsYnlJson(string operation, int? ifindex = null, NetdevQstatsScope scope = NetdevQstatsScope.Device)
    {
        NetlinkOperationSpec op = Require(operation, dump: true);
        NetlinkRequest request = _socket.CreateRequest(Family.Id, Spec, op, dump: true);
        ref NetlinkWriter w = ref request.Writer;
        ushort filterAttr = operation switch
        {
            "queue-get" => NETDEV_A_QUEUE_IFINDEX,
            "napi-get" => NETDEV_A_NAPI_IFINDEX,
            "qstats-get" => NETDEV_A_QSTATS_IFINDEX,
            _ => 0,
        };
        if (ifindex is int i && filterAttr != 0)
        {
            w.WriteU32(filterAttr, (uint)i);
        }

        if (operation == "qstats-get" && scope == NetdevQstatsScope.Queue)
        {
            w.WriteUInt(NETDEV_A_QSTATS_SCOPE, NETDEV_QSTATS_SCOPE_QUEUE);
        }

        var json = new YnlJson();
        json.StartArray();
        NetlinkAttributeSetSpec set = Spec.Set(op.AttributeSet);
        foreach (NetlinkMessage m in request.Send())
        {
            if (ifindex is int want && filterAttr == 0 && ReplyIfindex(operation, m.GetGenlAttributes()) != want)
            {
                continue;
            }

            json.WriteMessage(m.GetGenlAttributes(), Spec, set);
        }

        json.EndArray();
        return json.ToString();
    }

    private static int? ReplyIfindex(string operation, NetlinkAttributeReader attrs)
    {
        foreach (NetlinkAttr a in attrs)
        {
            if (operation == "page-pool-stats-get" && a.Type == NETDEV_A_PAGE_POOL_STATS_INFO)
            {
                return ReplyIfindex("page-pool-get", a.GetNested());
            }

            if ((operation == "dev-get" && a.Type == NETDEV_A_DEV_IFINDEX) || (operation == "page-pool-get" && a.Type == NETDEV_A_PAGE_POOL_IFINDEX))
            {
                return (int)a.GetU32();
            }
        }

        return null;
    }

    // The op from the spec, refused before anything is sent when the running kernel lacks it.
    private NetlinkOperationSpec Require(string opName, bool dump)
    {
        NetlinkOperationSpec op = Spec.Operation(opName);
        Family.Require(op, dump);
        return op;
    }

    private NetlinkRequest Begin(string opName, bool dump) => _socket.CreateRequest(Family.Id, Spec, Require(opName, dump), dump);

    private List<T> Dump<T>(string opName, int? ifindex, ushort ifindexAttr, Func<NetlinkAttributeReader, T> parse) =>
        Dump(opName, (ref NetlinkWriter w) =>
        {
            if (ifindex is int i)
            {
                w.WriteU32(ifindexAttr, (uint)i);
            }
        }, parse);

    private List<T> Dump<T>(string opName, WriterAction filter, Func<NetlinkAttributeReader, T> parse)
    {
        NetlinkRequest request = Begin(opName, dump: true);
        filter(ref request.Writer);
        var list = new List<T>();
        foreach (NetlinkMessage m in request.Send())
        {
            list.Add(parse(m.GetGenlAttributes()));
        }

        return list;
    }

    private T Do<T>(string opName, WriterAction build, Func<NetlinkAttributeReader, T> parse)
    {
        NetlinkRequest request = Begin(opName, dump: false);
        build(ref request.Writer);
        T? result = default;
        bool got = false;
        foreach (NetlinkMessage m in request.Send())
        {
            result = parse(m.GetGenlAttributes());
            got = true;
        }

        return got ? result! : throw NetlinkProtocolException.Malformed($"netdev {opName}: acknowledged without a reply.");
    }

    private delegate void WriterAction(ref NetlinkWriter writer);
}
