using static Devmem.Interop.Netdev;

namespace Devmem.Netlink.Netdev;

/// <summary>Decodes netdev replies into the typed records. Unknown attributes are kept.</summary>
internal static class NetdevParse
{
    public static NetdevDevice Device(NetlinkAttributeReader attrs)
    {
        int ifindex = 0;
        ulong xdp = 0, meta = 0, xsk = 0;
        uint? zc = null;
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case NETDEV_A_DEV_IFINDEX: ifindex = (int)a.GetU32(); break;
                case NETDEV_A_DEV_PAD: break;
                case NETDEV_A_DEV_XDP_FEATURES: xdp = a.GetU64(); break;
                case NETDEV_A_DEV_XDP_ZC_MAX_SEGS: zc = a.GetU32(); break;
                case NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: meta = a.GetU64(); break;
                case NETDEV_A_DEV_XSK_FEATURES: xsk = a.GetU64(); break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new NetdevDevice(ifindex, (NetdevXdpFeatures)xdp, zc, (NetdevXdpRxMetadata)meta, (NetdevXskFeatures)xsk, NetlinkRawAttr.Done(unknown));
    }

    public static NetdevQueueInfo Queue(NetlinkAttributeReader attrs)
    {
        uint id = 0, type = 0;
        int ifindex = 0;
        uint? napi = null, dmabuf = null;
        bool ioUring = false, xsk = false;
        ulong? rxBufLen = null;
        NetdevQueueLease? lease = null;
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case NETDEV_A_QUEUE_ID: id = a.GetU32(); break;
                case NETDEV_A_QUEUE_IFINDEX: ifindex = (int)a.GetU32(); break;
                case NETDEV_A_QUEUE_TYPE: type = a.GetU32(); break;
                case NETDEV_A_QUEUE_NAPI_ID: napi = a.GetU32(); break;
                case NETDEV_A_QUEUE_DMABUF: dmabuf = a.GetU32(); break;
                case NETDEV_A_QUEUE_IO_URING: ioUring = true; rxBufLen = IoUringRxBufLen(a.GetNested()); break;
                case NETDEV_A_QUEUE_XSK: xsk = true; break;
                case NETDEV_A_QUEUE_LEASE: lease = Lease(a.GetNested()); break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new NetdevQueueInfo(id, ifindex, (NetdevQueueType)type, napi, dmabuf, ioUring, xsk, lease, NetlinkRawAttr.Done(unknown)) { IoUringRxBufferLength = rxBufLen };
    }

    /// <summary>rx-buf-len of an io-uring nest (io-uring-provider-info), on a queue or a page pool; null when absent (before 7.0).</summary>
    private static ulong? IoUringRxBufLen(NetlinkAttributeReader attrs)
    {
        foreach (NetlinkAttr a in attrs)
        {
            if (a.Type == NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN)
            {
                return a.GetUInt();
            }
        }

        return null;
    }

    private static NetdevQueueLease Lease(NetlinkAttributeReader attrs)
    {
        int? ifindex = null, netns = null;
        uint? qid = null;
        NetdevQueueType? qtype = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case NETDEV_A_LEASE_IFINDEX: ifindex = (int)a.GetU32(); break;
                case NETDEV_A_LEASE_NETNS_ID: netns = a.GetS32(); break;
                case NETDEV_A_LEASE_QUEUE:
                    foreach (NetlinkAttr q in a.GetNested())
                    {
                        if (q.Type == NETDEV_A_QUEUE_ID)
                        {
                            qid = q.GetU32();
                        }
                        else if (q.Type == NETDEV_A_QUEUE_TYPE)
                        {
                            qtype = (NetdevQueueType)q.GetU32();
                        }
                    }

                    break;
                default: break;
            }
        }

        return new NetdevQueueLease(ifindex, qid, qtype, netns);
    }

    public static NetdevNapi Napi(NetlinkAttributeReader attrs)
    {
        uint id = 0;
        int ifindex = 0;
        uint? irq = null, pid = null, defer = null;
        ulong? gro = null, suspend = null;
        NetdevNapiThreaded? threaded = null;
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case NETDEV_A_NAPI_ID: id = a.GetU32(); break;
                case NETDEV_A_NAPI_IFINDEX: ifindex = (int)a.GetU32(); break;
                case NETDEV_A_NAPI_IRQ: irq = a.GetU32(); break;
                case NETDEV_A_NAPI_PID: pid = a.GetU32(); break;
                case NETDEV_A_NAPI_DEFER_HARD_IRQS: defer = a.GetU32(); break;
                case NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT: gro = a.GetUInt(); break;
                case NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT: suspend = a.GetUInt(); break;
                case NETDEV_A_NAPI_THREADED: threaded = (NetdevNapiThreaded)a.GetU32(); break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new NetdevNapi(id, ifindex, irq, pid, defer, gro, suspend, threaded, NetlinkRawAttr.Done(unknown));
    }

    public static NetdevPagePool PagePool(NetlinkAttributeReader attrs)
    {
        ulong id = 0;
        int? ifindex = null;
        ulong? napi = null, inflight = null, mem = null, detach = null;
        uint? dmabuf = null;
        bool ioUring = false;
        ulong? rxBufLen = null;
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case NETDEV_A_PAGE_POOL_ID: id = a.GetUInt(); break;
                case NETDEV_A_PAGE_POOL_IFINDEX: ifindex = (int)a.GetU32(); break;
                case NETDEV_A_PAGE_POOL_NAPI_ID: napi = a.GetUInt(); break;
                case NETDEV_A_PAGE_POOL_INFLIGHT: inflight = a.GetUInt(); break;
                case NETDEV_A_PAGE_POOL_INFLIGHT_MEM: mem = a.GetUInt(); break;
                case NETDEV_A_PAGE_POOL_DETACH_TIME: detach = a.GetUInt(); break;
                case NETDEV_A_PAGE_POOL_DMABUF: dmabuf = a.GetU32(); break;
                case NETDEV_A_PAGE_POOL_IO_URING: ioUring = true; rxBufLen = IoUringRxBufLen(a.GetNested()); break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new NetdevPagePool(id, ifindex, napi, inflight, mem, detach, dmabuf, ioUring, NetlinkRawAttr.Done(unknown)) { IoUringRxBufferLength = rxBufLen };
    }

    public static NetdevPagePoolStats PagePoolStats(NetlinkAttributeReader attrs)
    {
        ulong? id = null;
        int? ifindex = null;
        var counters = new Dictionary<string, ulong>(StringComparer.Ordinal);
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            int counter = a.Type - NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST;
            if (a.Type == NETDEV_A_PAGE_POOL_STATS_INFO)
            {
                foreach (NetlinkAttr i in a.GetNested())
                {
                    if (i.Type == NETDEV_A_PAGE_POOL_ID)
                    {
                        id = i.GetUInt();
                    }
                    else if (i.Type == NETDEV_A_PAGE_POOL_IFINDEX)
                    {
                        ifindex = (int)i.GetU32();
                    }
                }
            }
            else if (counter >= 0 && counter < NetdevSpec.PagePoolStatsCounterNames.Count)
            {
                counters[NetdevSpec.PagePoolStatsCounterNames[counter]] = a.GetUInt();
            }
            else
            {
                NetlinkRawAttr.Add(ref unknown, a);
            }
        }

        return new NetdevPagePoolStats(id, ifindex, counters, NetlinkRawAttr.Done(unknown));
    }

    public static NetdevQueueStats QueueStats(NetlinkAttributeReader attrs)
    {
        int ifindex = 0;
        NetdevQueueType? type = null;
        uint? qid = null;
        var counters = new Dictionary<string, ulong>(StringComparer.Ordinal);
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            int counter = a.Type - NETDEV_A_QSTATS_RX_PACKETS;
            switch (a.Type)
            {
                case NETDEV_A_QSTATS_IFINDEX: ifindex = (int)a.GetU32(); break;
                case NETDEV_A_QSTATS_QUEUE_TYPE: type = (NetdevQueueType)a.GetU32(); break;
                case NETDEV_A_QSTATS_QUEUE_ID: qid = a.GetU32(); break;
                case NETDEV_A_QSTATS_SCOPE: break;
                default:
                    if (counter >= 0 && counter < NetdevSpec.QstatsCounterNames.Count)
                    {
                        counters[NetdevSpec.QstatsCounterNames[counter]] = a.GetUInt();
                    }
                    else
                    {
                        NetlinkRawAttr.Add(ref unknown, a);
                    }

                    break;
            }
        }

        return new NetdevQueueStats(ifindex, type, qid, counters, NetlinkRawAttr.Done(unknown));
    }

    /// <summary>The id attribute of a bind-rx/bind-tx reply.</summary>
    public static uint BindingId(NetlinkAttributeReader attrs)
    {
        foreach (NetlinkAttr a in attrs)
        {
            if (a.Type == NETDEV_A_DMABUF_ID)
            {
                return a.GetU32();
            }
        }

        throw NetlinkProtocolException.Malformed("bind reply without NETDEV_A_DMABUF_ID.");
    }
}
