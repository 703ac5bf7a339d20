using Devmem.Interop;
using Devmem.Netlink.Netdev;
using static Devmem.Interop.Netdev;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink.Tests;

// The reply loop's checks, driven by the real kernel plus messages a second netlink socket sends to
// our port id (root may unicast between netlink sockets, net/netlink/af_netlink.c netlink_sendmsg).
// The injected datagram is queued before the kernel's replies, so the loop meets it first.
[Tier(Tier.HostKernel)]
public sealed unsafe class ReplyLoopTests : IDisposable
{
    private readonly NetdevClient _client = NetdevClient.Open();
    private readonly int _injector;

    public ReplyLoopTests()
    {
        SysResult s = Libc.socket(sys_socket.AF_NETLINK, sys_socket_type.SOCK_RAW | sys_socket_type.SOCK_CLOEXEC, NETLINK_GENERIC);
        Assert.False(s.IsError, s.ToString());
        _injector = s.Int32;
    }

    public void Dispose()
    {
        Libc.close(_injector);
        _client.Dispose();
    }

    private void Inject(uint portId, byte[] datagram)
    {
        sockaddr_nl to = new() { nl_family = (ushort)sys_socket.AF_NETLINK, nl_pid = portId };
        fixed (byte* p = datagram)
        {
            SysResult r = Libc.sendto(_injector, p, (nuint)datagram.Length, 0, &to, (uint)sizeof(sockaddr_nl));
            Assert.False(r.IsError, r.ToString());
        }
    }

    private static byte[] QueueMessage(ushort familyId, ushort flags, uint seq, uint pid) =>
        Bytes.Message(familyId, flags, seq, pid, Bytes.Genl(NETDEV_CMD_QUEUE_GET, 1, new Bytes()
            .AttrU32(NETDEV_A_QUEUE_ID, 0).AttrU32(NETDEV_A_QUEUE_TYPE, 0).AttrU32(NETDEV_A_QUEUE_IFINDEX, 1))).ToArray();

    private static int DumpQueues(GenericNetlinkSocket s, ushort familyId, Action<uint> beforeSend)
    {
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("queue-get");
        NetlinkRequest request = s.CreateRequest(familyId, NetdevSpec.Family, op, dump: true);
        uint seq = request.Sequence;
        ref NetlinkWriter w = ref request.Writer;
        beforeSend(seq);
        int n = 0;
        foreach (NetlinkMessage m in request.Send())
        {
            n++;
        }

        return n;
    }

    [Fact]
    public void A_dump_marked_interrupted_is_read_to_its_end_then_refused_as_retryable()
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        ushort id = _client.Family.Id;
        NetlinkDumpInterruptedException e = Assert.Throws<NetlinkDumpInterruptedException>(() =>
            DumpQueues(s, id, seq => Inject(s.PortId, QueueMessage(id, NLM_F_MULTI | NLM_F_DUMP_INTR, seq, s.PortId))));
        Assert.True(NetlinkDumpInterruptedException.IsRetryable);
        Assert.Equal("queue-get", e.Operation);
        // The loop read through NLMSG_DONE first, so the socket is in step for the next request.
        Assert.Equal(_client.GetQueues().Count, DumpQueues(s, id, _ => { }));
    }

    [Fact]
    public void A_reply_for_another_port_or_a_future_sequence_is_a_protocol_error()
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        ushort id = _client.Family.Id;
        NetlinkProtocolException port = Assert.Throws<NetlinkProtocolException>(() =>
            DumpQueues(s, id, seq => Inject(s.PortId, QueueMessage(id, NLM_F_MULTI, seq, s.PortId + 1))));
        Assert.Contains("port id", port.Message, StringComparison.Ordinal);

        using GenericNetlinkSocket s2 = GenericNetlinkSocket.Open();
        NetlinkProtocolException future = Assert.Throws<NetlinkProtocolException>(() =>
            DumpQueues(s2, id, seq => Inject(s2.PortId, QueueMessage(id, NLM_F_MULTI, seq + 5, s2.PortId))));
        Assert.Contains("sequence", future.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stale_reply_from_an_earlier_request_is_skipped()
    {
        using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
        ushort id = _client.Family.Id;
        int n = DumpQueues(s, id, seq => Inject(s.PortId, QueueMessage(id, NLM_F_MULTI, seq - 1, s.PortId)));
        Assert.Equal(_client.GetQueues().Count, n);
    }
}
