using Devmem.Interop;
using Devmem.Netlink.Netdev;
using static Devmem.Interop.Netdev;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink.Tests;

// Pure tests of the codec: our encoder against bytes laid out as the kernel lays them out, and the
// decoders against such bytes.
[Tier(Tier.Pure)]
public class CodecTests
{
    private static byte[] BindRxRequestBytes(uint seq) =>
        Bytes.Message(0x1c, NLM_F_REQUEST | NLM_F_ACK, seq, 0, Bytes.Genl(NETDEV_CMD_BIND_RX, 1, new Bytes()
            .AttrU32(NETDEV_A_DMABUF_IFINDEX, 4)
            .AttrU32(NETDEV_A_DMABUF_FD, 7)
            .Nest(NETDEV_A_DMABUF_QUEUES, new Bytes().AttrU32(NETDEV_A_QUEUE_ID, 2).AttrU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX))
            .Nest(NETDEV_A_DMABUF_QUEUES, new Bytes().AttrU32(NETDEV_A_QUEUE_ID, 3).AttrU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX)))).ToArray();

    internal static int WriteBindRx(Span<byte> buffer, uint seq)
    {
        var w = new NetlinkWriter(buffer);
        w.BeginMessage(0x1c, NLM_F_REQUEST | NLM_F_ACK, seq);
        w.WriteGenlHeader(NETDEV_CMD_BIND_RX, 1);
        w.WriteU32(NETDEV_A_DMABUF_IFINDEX, 4);
        w.WriteU32(NETDEV_A_DMABUF_FD, 7);
        foreach (uint q in (ReadOnlySpan<uint>)[2, 3])
        {
            int n = w.BeginNested(NETDEV_A_DMABUF_QUEUES);
            w.WriteU32(NETDEV_A_QUEUE_ID, q);
            w.WriteU32(NETDEV_A_QUEUE_TYPE, NETDEV_QUEUE_TYPE_RX);
            w.EndNested(n);
        }

        return w.EndMessage();
    }

    [Fact]
    public void Bind_rx_request_is_byte_for_byte_the_kernel_layout()
    {
        byte[] expected = BindRxRequestBytes(42);
        var buffer = new byte[256];
        int length = WriteBindRx(buffer, 42);
        Assert.Equal(expected, buffer[..length]);
        // 16 nlmsghdr + 4 genlmsghdr + 8 ifindex + 8 fd + 2 × (4 + 8 + 8) queue nests = 76.
        Assert.Equal(76, length);
        Assert.Equal(0x8002, BitConverter.ToUInt16(buffer, 16 + 4 + 8 + 8 + 2)); // NLA_F_NESTED | NETDEV_A_DMABUF_QUEUES
    }

    [Fact]
    public void Every_attribute_type_round_trips_with_alignment()
    {
        var buffer = new byte[512];
        var w = new NetlinkWriter(buffer);
        w.WriteU8(1, 0xab);
        w.WriteU16(2, 0xbeef);
        w.WriteU32(3, 0xdeadbeef);
        w.WriteS32(4, -5);
        w.WriteU64(5, 0x0102030405060708);
        w.WriteUInt(6, 7);
        w.WriteUInt(7, 1UL << 40);
        w.WriteString(8, "eth0");
        w.WriteFlag(9);
        w.WriteBinary(10, [1, 2, 3]);
        int n = w.BeginNested(11);
        w.WriteU32(1, 99);
        w.EndNested(n);
        Assert.Equal(0, w.Position % 4);

        var r = new NetlinkAttributeReader(w.Written);
        Assert.True(r.TryRead(out NetlinkAttr a)); Assert.Equal(0xab, a.GetU8()); Assert.Equal(8, a.Offset + 8);
        Assert.True(r.TryRead(out a)); Assert.Equal(0xbeef, a.GetU16());
        Assert.True(r.TryRead(out a)); Assert.Equal(0xdeadbeef, a.GetU32());
        Assert.True(r.TryRead(out a)); Assert.Equal(-5, a.GetS32());
        Assert.True(r.TryRead(out a)); Assert.Equal(0x0102030405060708UL, a.GetU64());
        Assert.True(r.TryRead(out a)); Assert.Equal(4, a.Payload.Length); Assert.Equal(7UL, a.GetUInt());
        Assert.True(r.TryRead(out a)); Assert.Equal(8, a.Payload.Length); Assert.Equal(1UL << 40, a.GetUInt());
        Assert.True(r.TryRead(out a)); Assert.Equal("eth0", a.GetString());
        Assert.True(r.TryRead(out a)); Assert.Equal(9, a.Type); Assert.Equal(0, a.Payload.Length);
        Assert.True(r.TryRead(out a)); Assert.Equal([1, 2, 3], a.Payload.ToArray());
        Assert.True(r.TryRead(out a)); Assert.True(a.IsNested); Assert.Equal(11, a.Type);
        NetlinkAttributeReader inner = a.GetNested();
        Assert.True(inner.TryRead(out NetlinkAttr i)); Assert.Equal(99u, i.GetU32());
        Assert.False(inner.TryRead(out _));
        Assert.False(r.TryRead(out _));
    }

    [Fact]
    public void Wrong_payload_sizes_and_overruns_are_protocol_errors()
    {
        byte[] u16 = new Bytes().Attr(1, new Bytes().U16(5)).ToArray();
        Assert.Throws<NetlinkProtocolException>(() => { var r = new NetlinkAttributeReader(u16); r.TryRead(out NetlinkAttr a); a.GetU32(); });
        byte[] overrun = new Bytes().U16(12).U16(1).U32(0).ToArray(); // nla_len 12, only 8 bytes
        Assert.Throws<NetlinkProtocolException>(() => new NetlinkAttributeReader(overrun).TryRead(out _));
        byte[] tooShort = new Bytes().U16(3).U16(1).ToArray(); // nla_len < NLA_HDRLEN
        Assert.Throws<NetlinkProtocolException>(() => new NetlinkAttributeReader(tooShort).TryRead(out _));
        byte[] stray = new Bytes().AttrU32(1, 1).Raw(0, 0).ToArray(); // two bytes after the last attribute
        Assert.Throws<NetlinkProtocolException>(() => { foreach (NetlinkAttr _ in new NetlinkAttributeReader(stray)) { } });
        byte[] noNul = new Bytes().Attr(1, new Bytes().Raw(0x61, 0x62)).ToArray();
        Assert.Throws<NetlinkProtocolException>(() => { var r = new NetlinkAttributeReader(noNul); r.TryRead(out NetlinkAttr a); a.GetString(); });
        byte[] msg = new Bytes().U32(40).U16(0x10).U16(0).U32(1).U32(0).ToArray(); // nlmsg_len 40 of 16
        Assert.Throws<NetlinkProtocolException>(() => new NetlinkMessageReader(msg).TryRead(out _));
    }

    [Fact]
    public void Writer_refuses_to_overflow_its_buffer()
    {
        var buffer = new byte[24];
        Assert.Throws<InvalidOperationException>(() =>
        {
            var w = new NetlinkWriter(buffer.AsSpan(0, 16));
            w.WriteString(1, "longer than the buffer");
        });
        Assert.All(buffer[16..], b => Assert.Equal(0, b));
    }

    // NLMSG_ERROR as net/netlink/af_netlink.c netlink_ack builds it with NETLINK_CAP_ACK and NETLINK_EXT_ACK:
    // s32 error, the request's nlmsghdr (capped: no payload), then the TLVs.
    private static byte[] ErrorBytes(byte[] request, int error, Bytes tlvs, bool capped = true)
    {
        var body = new Bytes().S32(error);
        body.Raw(capped ? request[..16] : request).Pad();
        body.Raw(tlvs.ToArray());
        ushort flags = (ushort)((capped ? NLM_F_CAPPED : 0) | (tlvs.Length > 0 ? NLM_F_ACK_TLVS : 0));
        return Bytes.Message(NLMSG_ERROR, flags, 42, 1234, body).ToArray();
    }

    private static NetlinkException Decode(byte[] request, byte[] error)
    {
        var reader = new NetlinkMessageReader(error);
        Assert.True(reader.TryRead(out NetlinkMessage m));
        int e = NetlinkErrors.ParseError(m, out NetlinkExtAck ack);
        Assert.True(e < 0);
        NetlinkOperationSpec op = NetdevSpec.Family.Operation("bind-rx");
        return NetlinkErrors.Create(NetdevSpec.Family, "netdev", op, op.Name, -e, ack, request);
    }

    [Fact]
    public void Ext_ack_offset_becomes_an_attribute_path_and_the_message_reads_like_ynl()
    {
        byte[] request = BindRxRequestBytes(42);
        // 6.18 host, bind-rx on lo: EOPNOTSUPP, bad attribute = ifindex at offset 20 (vm-harness.md).
        NetlinkException e = Decode(request, ErrorBytes(request, -95, new Bytes().AttrU32(NLMSGERR_ATTR_OFFS, 20)));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal(95, e.HResult);
        Assert.Equal("EOPNOTSUPP", e.ErrnoName);
        Assert.Equal(".ifindex", e.BadAttribute);
        Assert.Null(e.KernelMessage);
        Assert.StartsWith("netdev bind-rx: Netlink error: Operation not supported (EOPNOTSUPP, errno 95) {'bad-attr': '.ifindex'}", e.Message, StringComparison.Ordinal);
        Assert.Contains("queue management", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Offsets_inside_nests_give_nested_paths()
    {
        byte[] request = BindRxRequestBytes(42);
        int secondQueueId = 16 + 4 + 8 + 8 + 20 + 4; // second queues nest, then its first attribute (id)
        NetlinkException e = Decode(request, ErrorBytes(request, -22, new Bytes().AttrU32(NLMSGERR_ATTR_OFFS, (uint)secondQueueId)));
        Assert.Equal(".queues.id", e.BadAttribute);
        Assert.Contains("RX queue count", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Kernel_message_and_missing_attributes_are_decoded()
    {
        byte[] request = BindRxRequestBytes(42);
        NetlinkException missing = Decode(request, ErrorBytes(request, -22, new Bytes().AttrU32(NLMSGERR_ATTR_MISS_TYPE, NETDEV_A_DMABUF_FD)));
        Assert.Equal(".fd", missing.MissingAttribute);
        Assert.Contains("'miss-type': '.fd'", missing.Message, StringComparison.Ordinal);

        NetlinkException nested = Decode(request, ErrorBytes(request, -22, new Bytes()
            .AttrU32(NLMSGERR_ATTR_MISS_TYPE, NETDEV_A_QUEUE_TYPE)
            .AttrU32(NLMSGERR_ATTR_MISS_NEST, 16 + 4 + 8 + 8)));
        Assert.Equal(".queues.type", nested.MissingAttribute);

        // Not capped: the whole request is echoed before the TLVs.
        NetlinkException text = Decode(request, ErrorBytes(request, -22, new Bytes().AttrString(NLMSGERR_ATTR_MSG, "tcp-data-split is disabled"), capped: false));
        Assert.Equal("tcp-data-split is disabled", text.KernelMessage);
        Assert.StartsWith("netdev bind-rx: Netlink error: tcp-data-split is disabled: Invalid argument (EINVAL, errno 22)", text.Message, StringComparison.Ordinal);
        Assert.Contains("tcp-data-split on", text.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kernel_message_cut_at_the_80_byte_format_limit_is_said_to_be_cut()
    {
        // net/core/devmem.c formats "dmabuf sg entry (addr=%pad, len=%zu) not aligned to niov size %zu" into
        // an 80-byte buffer (NETLINK_MAX_FMTMSG_LEN, include/linux/netlink.h): 16384 arrives as "16".
        byte[] request = BindRxRequestBytes(42);
        const string cut = "dmabuf sg entry (addr=0x0000000104a00000, len=4096) not aligned to niov size 16";
        Assert.Equal(NetlinkException.KernelFormattedMessageLimit, System.Text.Encoding.UTF8.GetByteCount(cut));
        NetlinkException e = Decode(request, ErrorBytes(request, -22, new Bytes().AttrString(NLMSGERR_ATTR_MSG, cut), capped: false));
        Assert.Equal(cut, e.KernelMessage);
        Assert.True(e.KernelMessageMayBeTruncated);
        Assert.StartsWith($"netdev bind-rx: Netlink error: {cut} [cut short: the kernel truncates formatted messages at 80 bytes]: Invalid argument (EINVAL, errno 22)", e.Message, StringComparison.Ordinal);

        // One byte shorter: a whole message, said as it is.
        NetlinkException whole = Decode(request, ErrorBytes(request, -22, new Bytes().AttrString(NLMSGERR_ATTR_MSG, cut[..^1]), capped: false));
        Assert.False(whole.KernelMessageMayBeTruncated);
        Assert.DoesNotContain("cut short", whole.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Done_carries_a_dump_error_and_its_ext_ack()
    {
        byte[] done = Bytes.Message(NLMSG_DONE, (ushort)(NLM_F_MULTI | NLM_F_ACK_TLVS), 1, 1, new Bytes().S32(-95).AttrString(NLMSGERR_ATTR_MSG, "nope")).ToArray();
        var reader = new NetlinkMessageReader(done);
        Assert.True(reader.TryRead(out NetlinkMessage m));
        Assert.Equal(-95, NetlinkErrors.ParseDone(m, out NetlinkExtAck ack));
        Assert.Equal("nope", ack.Message);
    }

    internal static byte[] QueueReply(uint id, uint type, uint ifindex, uint? napi, Bytes? extra = null)
    {
        var attrs = new Bytes().AttrU32(NETDEV_A_QUEUE_ID, id).AttrU32(NETDEV_A_QUEUE_TYPE, type);
        if (napi is uint n)
        {
            attrs.AttrU32(NETDEV_A_QUEUE_NAPI_ID, n);
        }

        attrs.AttrU32(NETDEV_A_QUEUE_IFINDEX, ifindex);
        if (extra is not null)
        {
            attrs.Raw(extra.ToArray());
        }

        return Bytes.Message(0x1c, NLM_F_MULTI, 5, 77, Bytes.Genl(NETDEV_CMD_QUEUE_GET, 1, attrs)).ToArray();
    }

    [Fact]
    public void Queue_reply_decodes_typed_and_keeps_unknown_attributes()
    {
        byte[] reply = QueueReply(3, 0, 4, 257, new Bytes().AttrU32(99, 0x1234).Nest(NETDEV_A_QUEUE_XSK, new Bytes()));
        var reader = new NetlinkMessageReader(reply);
        Assert.True(reader.TryRead(out NetlinkMessage m));
        NetdevQueueInfo q = NetdevParse.Queue(m.GetGenlAttributes());
        Assert.Equal(new NetdevQueueInfo(3, 4, NetdevQueueType.Rx, 257, null, false, true, null, q.UnknownAttributes), q);
        NetlinkRawAttr u = Assert.Single(q.UnknownAttributes);
        Assert.Equal(99, u.Type);
        Assert.Equal(new byte[] { 0x34, 0x12, 0, 0 }, u.Payload.ToArray());
    }

    [Fact]
    public void Io_uring_nests_decode_their_rx_buf_len_and_render_as_ynl_prints_them()
    {
        // io_uring/zcrx.c io_pp_nl_fill: a nest (NLA_F_NESTED) holding rx-buf-len as a uint (nla_put_uint: 8 bytes above 2^32, else 4).
        byte[] queue = QueueReply(2, 0, 4, 257, new Bytes().Nest(NETDEV_A_QUEUE_IO_URING, new Bytes().AttrU32(NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN, 8192)));
        var reader = new NetlinkMessageReader(queue);
        Assert.True(reader.TryRead(out NetlinkMessage m));
        NetdevQueueInfo q = NetdevParse.Queue(m.GetGenlAttributes());
        Assert.True(q.HasIoUring);
        Assert.Equal(8192UL, q.IoUringRxBufferLength);
        Assert.Empty(q.UnknownAttributes);
        var json = new YnlJson();
        json.WriteMessage(m.GetGenlAttributes(), NetdevSpec.Family, NetdevSpec.Family.Set("queue"));
        Assert.Equal("""{"id": 2, "type": "rx", "napi-id": 257, "ifindex": 4, "io-uring": {"rx-buf-len": 8192}}""", json.ToString());

        // 6.15 to 6.19: the nest is empty. Still an io_uring queue, without a size.
        var empty = new NetlinkMessageReader(QueueReply(2, 0, 4, null, new Bytes().Nest(NETDEV_A_QUEUE_IO_URING, new Bytes())));
        Assert.True(empty.TryRead(out NetlinkMessage e));
        NetdevQueueInfo eq = NetdevParse.Queue(e.GetGenlAttributes());
        Assert.True(eq.HasIoUring);
        Assert.Null(eq.IoUringRxBufferLength);

        byte[] pool = Bytes.Message(0x1c, NLM_F_MULTI, 5, 77, Bytes.Genl(NETDEV_CMD_PAGE_POOL_GET, 1, new Bytes()
            .AttrU64(NETDEV_A_PAGE_POOL_ID, 9)
            .AttrU32(NETDEV_A_PAGE_POOL_IFINDEX, 4)
            .AttrU64(NETDEV_A_PAGE_POOL_INFLIGHT, 3)
            .Nest(NETDEV_A_PAGE_POOL_IO_URING, new Bytes().AttrU64(NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN, 1UL << 33)))).ToArray();
        var pr = new NetlinkMessageReader(pool);
        Assert.True(pr.TryRead(out NetlinkMessage pm));
        NetdevPagePool p = NetdevParse.PagePool(pm.GetGenlAttributes());
        Assert.True(p.HasIoUring);
        Assert.Equal(1UL << 33, p.IoUringRxBufferLength);
        Assert.Null(p.DmabufId);
        var pj = new YnlJson();
        pj.WriteMessage(pm.GetGenlAttributes(), NetdevSpec.Family, NetdevSpec.Family.Set("page-pool"));
        Assert.Equal("""{"id": 9, "ifindex": 4, "inflight": 3, "io-uring": {"rx-buf-len": 8589934592}}""", pj.ToString());

        // A pool without the nest (the driver's own, or devmem's) has no size.
        var dr = new NetlinkMessageReader(Bytes.Message(0x1c, NLM_F_MULTI, 5, 77, Bytes.Genl(NETDEV_CMD_PAGE_POOL_GET, 1,
            new Bytes().AttrU64(NETDEV_A_PAGE_POOL_ID, 10).AttrU32(NETDEV_A_PAGE_POOL_DMABUF, 3))).ToArray());
        Assert.True(dr.TryRead(out NetlinkMessage dm));
        NetdevPagePool devmem = NetdevParse.PagePool(dm.GetGenlAttributes());
        Assert.False(devmem.HasIoUring);
        Assert.Null(devmem.IoUringRxBufferLength);
    }

    [Fact]
    public void Json_is_rendered_as_ynl_prints_it()
    {
        var json = new YnlJson();
        json.StartArray();
        var reader = new NetlinkMessageReader(QueueReply(0, 1, 4, null));
        reader.TryRead(out NetlinkMessage q);
        json.WriteMessage(q.GetGenlAttributes(), NetdevSpec.Family, NetdevSpec.Family.Set("queue"));
        // dev: pad skipped, flags as names sorted like Python's sorted(), u32 plain.
        byte[] dev = Bytes.Message(0x1c, 0, 1, 1, Bytes.Genl(NETDEV_CMD_DEV_GET, 1, new Bytes()
            .AttrU32(NETDEV_A_DEV_IFINDEX, 4)
            .Attr(NETDEV_A_DEV_PAD, new Bytes())
            .AttrU64(NETDEV_A_DEV_XDP_FEATURES, NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_REDIRECT | NETDEV_XDP_ACT_RX_SG | NETDEV_XDP_ACT_XSK_ZEROCOPY)
            .AttrU64(NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, 0)
            .AttrU32(NETDEV_A_DEV_XDP_ZC_MAX_SEGS, 1)
            .AttrU32(200, 7))).ToArray();
        var dr = new NetlinkMessageReader(dev);
        dr.TryRead(out NetlinkMessage d);
        json.WriteMessage(d.GetGenlAttributes(), NetdevSpec.Family, NetdevSpec.Family.Set("dev"));
        json.EndArray();
        Assert.Equal(
            """[{"id": 0, "type": "tx", "ifindex": 4}, {"ifindex": 4, "xdp-features": ["basic", "redirect", "rx-sg", "xsk-zerocopy"], "xdp-rx-metadata-features": [], "xdp-zc-max-segs": 1, "UnknownAttr(200)": "07000000"}]""",
            json.ToString());
    }

    [Fact]
    public void Multi_attributes_render_as_lists()
    {
        var r = new NetlinkMessageReader(BindRxRequestBytes(1));
        r.TryRead(out NetlinkMessage m);
        var json = new YnlJson();
        json.WriteMessage(m.GetGenlAttributes(), NetdevSpec.Family, NetdevSpec.Family.Set("dmabuf"));
        Assert.Equal("""{"ifindex": 4, "fd": 7, "queues": [{"id": 2, "type": "rx"}, {"id": 3, "type": "rx"}]}""", json.ToString());
    }

    [Fact]
    public void Encoding_and_decoding_allocate_nothing_in_steady_state()
    {
        var buffer = new byte[4096];
        byte[] reply = QueueReply(3, 0, 4, 257);
        ulong Work()
        {
            ulong sum = (ulong)WriteBindRx(buffer, 7);
            foreach (NetlinkMessage m in new NetlinkMessageReader(buffer.AsSpan(0, (int)sum)))
            {
                foreach (NetlinkAttr a in m.GetGenlAttributes())
                {
                    sum += a.IsNested ? (ulong)a.Payload.Length : a.GetU32();
                }
            }

            foreach (NetlinkMessage m in new NetlinkMessageReader(reply))
            {
                NetdevQueueInfo q = NetdevParse.Queue(m.GetGenlAttributes());
                sum += q.Id + (q.NapiId ?? 0);
            }

            return sum;
        }

        Work(); // JIT and static initialisation
        long before = GC.GetAllocatedBytesForCurrentThread();
        ulong total = 0;
        for (int i = 0; i < 1000; i++)
        {
            total += Work();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0UL, total);
    }
}
