using CsCheck;
using Devmem.Interop;
using Devmem.Netlink.Netdev;
using static Devmem.Interop.Netdev;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink.Tests;

// The reply loop (NetlinkReplies) against generated multi-message dumps: sequences of family messages
// (NLM_F_MULTI, some marked NLM_F_DUMP_INTR), NLMSG_DONE with and without an error, ACKs and errors,
// NOOP, OVERRUN, unknown control types, stale and future sequence numbers and foreign port ids, cut
// into one to three datagrams. They are sent to a real socket's port id before its netdev queue-get
// dump goes out (root may unicast between netlink sockets, net/netlink/af_netlink.c netlink_sendmsg),
// so the loop meets them first and the kernel's own replies after them. A model of the loop's rules
// (the remarks of NetlinkReplies) says what each sequence must give: so many messages, the kernel's
// error, a dump-interrupted refusal, or a protocol error; nothing else may come out.
[Tier(Tier.HostKernel)]
public sealed unsafe class DumpLoopFuzzTests : IDisposable
{
    private readonly NetdevClient _client = NetdevClient.Open();
    private readonly int _injector;
    private readonly int _kernelQueues;

    public DumpLoopFuzzTests()
    {
        SysResult s = Libc.socket(sys_socket.AF_NETLINK, sys_socket_type.SOCK_RAW | sys_socket_type.SOCK_CLOEXEC, NETLINK_GENERIC);
        Assert.False(s.IsError, s.ToString());
        _injector = s.Int32;
        _kernelQueues = _client.GetQueues().Count;
    }

    public void Dispose()
    {
        Libc.close(_injector);
        _client.Dispose();
    }

    internal enum Kind
    {
        Family,
        Noop,
        Done,
        Ack,
        Error,
        Overrun,
        UnknownControl,
        StaleSequence,
        FutureSequence,
        OtherPort,
        StaleOtherPort,
    }

    internal sealed record Item(Kind Kind, bool Interrupted, int Error, int Delta, FuzzTests.Node[] Payload);

    internal enum Outcome
    {
        Messages,
        KernelError,
        DumpInterrupted,
        ProtocolError,
    }

    private static readonly Gen<Item> ItemGen = Gen.Select(
        Gen.Frequency((6, Gen.Const(Kind.Family)), (1, Gen.Enum<Kind>())),
        Gen.Frequency((5, Gen.Const(false)), (1, Gen.Const(true))),
        Gen.OneOf(Gen.Const(0), Gen.Const(-22), Gen.Const(-95), Gen.Const(-1)),
        Gen.Int[1, 5],
        FuzzTests.Tree(2).Array[0, 3],
        (k, intr, err, delta, payload) => new Item(k, intr, err, delta, payload));

    // The loop's rules, item by item; kernel replies (queue-get, then DONE) follow what was injected.
    private (Outcome, int) Model(Item[] items)
    {
        bool interrupted = false;
        int messages = 0;
        foreach (Item i in items)
        {
            switch (i.Kind)
            {
                case Kind.StaleSequence:
                    continue;
                case Kind.FutureSequence or Kind.OtherPort or Kind.StaleOtherPort:
                    return (Outcome.ProtocolError, 0);
            }

            interrupted |= i.Interrupted;
            switch (i.Kind)
            {
                case Kind.Noop:
                    continue;
                case Kind.Ack:
                    return (Outcome.Messages, messages);
                case Kind.Error:
                    return i.Error == 0 ? (Outcome.Messages, messages) : (Outcome.KernelError, 0);
                case Kind.Done:
                    return i.Error < 0 ? (Outcome.KernelError, 0) : interrupted ? (Outcome.DumpInterrupted, 0) : (Outcome.Messages, messages);
                case Kind.Overrun or Kind.UnknownControl:
                    return (Outcome.ProtocolError, 0);
                default:
                    messages++;
                    break;
            }
        }

        return interrupted ? (Outcome.DumpInterrupted, 0) : (Outcome.Messages, messages + _kernelQueues);
    }

    private static byte[] Encode(Item i, ushort family, uint seq, uint port)
    {
        ushort intr = i.Interrupted ? NLM_F_DUMP_INTR : (ushort)0;
        var header = new Bytes().U32(16).U16(family).U16(NLM_F_REQUEST | NLM_F_DUMP).U32(seq).U32(port);
        return (i.Kind switch
        {
            Kind.Noop => Bytes.Message(NLMSG_NOOP, intr, seq, port, new Bytes()),
            Kind.Done => Bytes.Message(NLMSG_DONE, (ushort)(NLM_F_MULTI | intr), seq, port, new Bytes().S32(i.Error)),
            Kind.Ack => Bytes.Message(NLMSG_ERROR, (ushort)(NLM_F_CAPPED | intr), seq, port, new Bytes().S32(0).Raw(header.ToArray())),
            Kind.Error => Bytes.Message(NLMSG_ERROR, (ushort)(NLM_F_CAPPED | intr), seq, port, new Bytes().S32(i.Error).Raw(header.ToArray())),
            Kind.Overrun => Bytes.Message(NLMSG_OVERRUN, intr, seq, port, new Bytes()),
            Kind.UnknownControl => Bytes.Message((ushort)(5 + i.Delta), intr, seq, port, new Bytes()),
            Kind.StaleSequence => Family(i, family, seq - (uint)i.Delta, port),
            Kind.FutureSequence => Family(i, family, seq + (uint)i.Delta, port),
            Kind.OtherPort => Family(i, family, seq, port + (uint)i.Delta),
            Kind.StaleOtherPort => Family(i, family, seq - (uint)i.Delta, port + (uint)i.Delta),
            _ => Family(i, family, seq, port),
        }).ToArray();
    }

    private static Bytes Family(Item i, ushort family, uint seq, uint port) =>
        Bytes.Message(family, (ushort)(NLM_F_MULTI | (i.Interrupted ? NLM_F_DUMP_INTR : 0)), seq, port, Bytes.Genl(NETDEV_CMD_QUEUE_GET, 1,
            i.Payload.Length == 0
                ? new Bytes().AttrU32(NETDEV_A_QUEUE_ID, 0).AttrU32(NETDEV_A_QUEUE_TYPE, 0).AttrU32(NETDEV_A_QUEUE_IFINDEX, 1)
                : FuzzTests.Node.Concat(i.Payload)));

    private void Inject(uint portId, byte[] datagram)
    {
        sockaddr_nl to = new() { nl_family = (ushort)sys_socket.AF_NETLINK, nl_pid = portId };
        fixed (byte* p = datagram)
        {
            SysResult r = Libc.sendto(_injector, p, (nuint)datagram.Length, 0, &to, (uint)sizeof(sockaddr_nl));
            Assert.False(r.IsError, r.ToString());
        }
    }

    private (Outcome, int) Run(Item[] items, int cuts)
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        ushort id = _client.Family.Id;
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("queue-get");
        NetlinkRequest request = s.CreateRequest(id, NetdevSpec.Family, op, dump: true);
        uint seq = request.Sequence;
        ref NetlinkWriter w = ref request.Writer;

        // One to three datagrams, each whole messages.
        byte[][] encoded = [.. items.Select(i => Encode(i, id, seq, s.PortId))];
        int per = Math.Max(1, (encoded.Length + cuts - 1) / cuts);
        foreach (byte[][] chunk in encoded.Chunk(per))
        {
            Inject(s.PortId, [.. chunk.SelectMany(b => b)]);
        }

        int n = 0;
        try
        {
            foreach (NetlinkMessage m in request.Send())
            {
                n++;
                try
                {
                    NetdevParse.Queue(m.GetGenlAttributes());
                }
                catch (NetlinkProtocolException)
                {
                    // A garbage payload: the consumer's problem, not the loop's.
                }
            }
        }
        catch (NetlinkDumpInterruptedException)
        {
            return (Outcome.DumpInterrupted, 0);
        }
        catch (NetlinkException)
        {
            return (Outcome.KernelError, 0);
        }
        catch (NetlinkProtocolException)
        {
            return (Outcome.ProtocolError, 0);
        }

        return (Outcome.Messages, n);
    }

    [Fact]
    public void Generated_dumps_end_as_the_loops_rules_say()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Skip("sending to another socket's netlink port id needs root (net/netlink/af_netlink.c netlink_sendmsg)");
        }

        var seen = new Dictionary<Outcome, int>();
        Gen.Select(ItemGen.Array[0, 8], Gen.Int[1, 3], (items, cuts) => (items, cuts)).Sample(t =>
        {
            (Outcome, int) expected = Model(t.items);
            (Outcome, int) actual = Run(t.items, t.cuts);
            seen[expected.Item1] = seen.GetValueOrDefault(expected.Item1) + 1;
            return expected == actual;
        }, iter: 300 * FuzzTests.Scale, threads: 1, print: t => string.Join(", ", t.items.Select(i => $"{i.Kind}{(i.Interrupted ? "+INTR" : "")}({i.Error},{i.Delta},{i.Payload.Length})")) + $" in {t.cuts} datagram(s)");

        // Every outcome was generated (the sample is not stuck on one path).
        Assert.Equal(4, seen.Count);
        TestContext.Current.SendDiagnosticMessage(string.Join(", ", seen.Select(kv => $"{kv.Key}: {kv.Value}")));
    }
}
