using BenchmarkDotNet.Attributes;
using Devmem.Netlink;
using Devmem.Netlink.Netdev;
using static Devmem.Interop.Netdev;
using static Devmem.Interop.Netlink;

namespace Devmem.Benchmarks;

/// <summary>
/// Encode + decode of the two messages devmem setup handles most: a queue-get dump reply (one datagram
/// of 16 queue messages, as the kernel packs them) and a bind-rx request (4 queue nests). Buffers are
/// allocated once; the goal is 0 bytes allocated per message.
/// </summary>
[MemoryDiagnoser]
public class NetlinkCodecBenchmarks
{
    private const int QueuesPerDatagram = 16;
    private readonly byte[] _buffer = new byte[8192];

    [Benchmark(OperationsPerInvoke = QueuesPerDatagram, Description = "queue-get dump reply: encode + decode, per message")]
    public ulong QueueGetReply()
    {
        var w = new NetlinkWriter(_buffer);
        for (uint i = 0; i < QueuesPerDatagram; i++)
        {
            w.BeginMessage(0x1c, NLM_F_MULTI, 7, 1234);
            w.WriteGenlHeader(NETDEV_CMD_QUEUE_GET, 1);
            w.WriteU32(NETDEV_A_QUEUE_ID, i / 2);
            w.WriteU32(NETDEV_A_QUEUE_TYPE, i % 2);
            w.WriteU32(NETDEV_A_QUEUE_NAPI_ID, 8192 + i);
            w.WriteU32(NETDEV_A_QUEUE_IFINDEX, 4);
            w.EndMessage();
        }

        ulong sum = 0;
        foreach (NetlinkMessage m in new NetlinkMessageReader(w.Written))
        {
            NetdevQueueInfo q = NetdevParse.Queue(m.GetGenlAttributes());
            sum += q.Id + (q.NapiId ?? 0) + (ulong)q.Ifindex;
        }

        return sum;
    }

    [Benchmark(Description = "bind-rx request (4 queues): encode + decode")]
    public ulong BindRxRequest()
    {
        var w = new NetlinkWriter(_buffer);
        w.BeginMessage(0x1c, NLM_F_REQUEST | NLM_F_ACK, 9);
        w.WriteGenlHeader(NETDEV_CMD_BIND_RX, 1);
        w.WriteU32(NETDEV_A_DMABUF_IFINDEX, 4);
        w.WriteU32(NETDEV_A_DMABUF_FD, 17);
        for (uint q = 4; q < 8; q++)
        {
            int n = w.BeginNested(NETDEV_A_DMABUF_QUEUES);
            w.WriteU32(NETDEV_A_QUEUE_ID, q);
            w.WriteU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX);
            w.EndNested(n);
        }

        w.EndMessage();
        ulong sum = 0;
        foreach (NetlinkMessage m in new NetlinkMessageReader(w.Written))
        {
            foreach (NetlinkAttr a in m.GetGenlAttributes())
            {
                if (a.Type == NETDEV_A_DMABUF_QUEUES)
                {
                    foreach (NetlinkAttr q in a.GetNested())
                    {
                        sum += q.GetU32();
                    }
                }
                else
                {
                    sum += a.GetU32();
                }
            }
        }

        return sum;
    }
}
