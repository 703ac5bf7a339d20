using System.Buffers.Binary;
using CsCheck;
using Devmem.Receive;

namespace Devmem.Tests.Receive;

// Control buffers built byte by byte to the kernel's layout on 64-bit Linux (include/linux/socket.h
// struct cmsghdr: size_t cmsg_len, int cmsg_level, int cmsg_type, data at CMSG_ALIGN(16);
// include/uapi/linux/uio.h struct dmabuf_cmsg: u64 frag_offset, u32 frag_size, u32 frag_token,
// u32 dmabuf_id, u32 flags). The numbers below are written out rather than taken from the interop
// layer, so a wrong declaration there cannot make both sides agree.
[Tier(Tier.Pure)]
public class DevmemControlMessagesTests
{
    private const int SolSocket = 1;
    private const int ScmDevmemLinear = 78;
    private const int ScmDevmemDmabuf = 79;

    private static void PutDevmem(List<byte> buf, int type, ulong offset, uint size, uint token, uint id)
    {
        var m = new byte[40];
        BinaryPrimitives.WriteUInt64LittleEndian(m.AsSpan(0), 40);   // CMSG_LEN(24)
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(8), SolSocket);
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(12), type);
        BinaryPrimitives.WriteUInt64LittleEndian(m.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(24), size);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(28), token);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(32), id);
        buf.AddRange(m);
    }

    private static void PutOther(List<byte> buf, int level, int type, int dataLength)
    {
        int len = 16 + dataLength;
        int space = (len + 7) & ~7;
        var m = new byte[space];
        BinaryPrimitives.WriteUInt64LittleEndian(m.AsSpan(0), (ulong)len);
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(8), level);
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(12), type);
        buf.AddRange(m);
    }

    [Fact]
    public void Space_per_fragment_is_CMSG_SPACE_of_dmabuf_cmsg()
    {
        Assert.Equal(40, DevmemControlMessages.SpacePerFragment);
    }

    [Fact]
    public void Several_dmabuf_fragments_come_out_in_stream_order()
    {
        var buf = new List<byte>();
        PutDevmem(buf, ScmDevmemDmabuf, 0, 1448, 1, 7);
        PutDevmem(buf, ScmDevmemDmabuf, 4096, 1448, 2, 7);
        PutDevmem(buf, ScmDevmemDmabuf, 0x1_0000_0000, 4096, 0x7FFF_FFFF, 7);
        var frags = new DevmemFragment[8];
        var s = DevmemControlMessages.Parse(buf.ToArray(), frags);
        Assert.Equal(3, s.Fragments);
        Assert.Equal(1448 + 1448 + 4096, s.DmabufBytes);
        Assert.Equal(0, s.LinearMessages);
        Assert.Equal(new DevmemFragment(7, 0, 1448, 1), frags[0]);
        Assert.Equal(new DevmemFragment(7, 4096, 1448, 2), frags[1]);
        Assert.Equal(new DevmemFragment(7, 0x1_0000_0000, 4096, 0x7FFF_FFFF), frags[2]);
    }

    [Fact]
    public void Segments_keep_the_stream_order_of_linear_and_dmabuf_pieces()
    {
        // linear 100, dmabuf 1348, (timestamp, skipped), linear 20, dmabuf 4096: the order the kernel
        // reports them in (tcp_recvmsg_dmabuf walks the skb) is the order the segments come out in, and
        // each linear piece's offset is where it landed in the linear buffer.
        var buf = new List<byte>();
        PutDevmem(buf, ScmDevmemLinear, 0, 100, 0, 0);
        PutDevmem(buf, ScmDevmemDmabuf, 8192, 1348, 5, 2);
        PutOther(buf, SolSocket, 29 /* SO_TIMESTAMP_OLD */, 5);
        PutDevmem(buf, ScmDevmemLinear, 0, 20, 0, 0);
        PutDevmem(buf, ScmDevmemDmabuf, 16384, 4096, 6, 2);
        var segments = new DevmemSegment[5];
        var sink = new SegmentSink(segments, held: null);
        var s = DevmemControlMessages.Parse(buf.ToArray(), ref sink, owner: 0);
        Assert.Equal(4, sink.Count);
        Assert.Equal(2, s.Fragments);
        Assert.Equal(1, s.Unknown);
        Assert.True(segments[0].IsLinear);
        Assert.Equal((0, 100u), (segments[0].LinearOffset, segments[0].Length));
        Assert.False(segments[1].IsLinear);
        Assert.Equal(new DevmemFragment(2, 8192, 1348, 5), segments[1].Fragment);
        Assert.Equal(1348u, segments[1].Length);
        Assert.True(segments[2].IsLinear);
        Assert.Equal((100, 20u), (segments[2].LinearOffset, segments[2].Length));
        Assert.Equal(new DevmemFragment(2, 16384, 4096, 6), segments[3].Fragment);
    }

    [Fact]
    public void Segments_count_linear_pieces_against_the_room_given()
    {
        var buf = new List<byte>();
        PutDevmem(buf, ScmDevmemLinear, 0, 10, 0, 0);
        PutDevmem(buf, ScmDevmemDmabuf, 0, 10, 1, 1);
        var segments = new DevmemSegment[1];
        Assert.Throws<DevmemProtocolException>(() =>
        {
            var sink = new SegmentSink(segments, held: null);
            DevmemControlMessages.Parse(buf.ToArray(), ref sink, owner: 0);
        });
    }

    [Fact]
    public void Linear_and_dmabuf_mixed_are_counted_apart_and_unknown_cmsgs_are_skipped()
    {
        var buf = new List<byte>();
        PutDevmem(buf, ScmDevmemLinear, 0, 100, 0, 0);
        PutOther(buf, 0 /* SOL_IP */, 11 /* IP_RECVERR */, 16);
        PutDevmem(buf, ScmDevmemDmabuf, 8192, 1348, 5, 2);
        PutOther(buf, SolSocket, 29 /* SO_TIMESTAMP_OLD */, 5);   // odd length: padded to 8
        PutDevmem(buf, ScmDevmemLinear, 0, 20, 0, 0);
        var frags = new DevmemFragment[4];
        var s = DevmemControlMessages.Parse(buf.ToArray(), frags);
        Assert.Equal(1, s.Fragments);
        Assert.Equal(new DevmemFragment(2, 8192, 1348, 5), frags[0]);
        Assert.Equal(2, s.LinearMessages);
        Assert.Equal(120, s.LinearBytes);
        Assert.Equal(2, s.Unknown);
    }

    [Fact]
    public void An_empty_control_buffer_has_nothing()
    {
        var s = DevmemControlMessages.Parse([], new DevmemFragment[1]);
        Assert.Equal(default, s);
    }

    [Fact]
    public void A_devmem_cmsg_shorter_than_dmabuf_cmsg_is_a_protocol_error()
    {
        var buf = new List<byte>();
        PutOther(buf, SolSocket, ScmDevmemDmabuf, 8);
        Assert.Throws<DevmemProtocolException>(() => DevmemControlMessages.Parse(buf.ToArray(), new DevmemFragment[1]));
    }

    [Fact]
    public void A_length_past_the_end_of_the_buffer_is_a_protocol_error()
    {
        var buf = new List<byte>();
        PutDevmem(buf, ScmDevmemDmabuf, 0, 1, 1, 1);
        var bytes = buf.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 48);
        Assert.Throws<DevmemProtocolException>(() => DevmemControlMessages.Parse(bytes, new DevmemFragment[1]));
    }

    [Fact]
    public void More_fragments_than_room_is_reported_not_dropped()
    {
        var buf = new List<byte>();
        PutDevmem(buf, ScmDevmemDmabuf, 0, 1, 1, 1);
        PutDevmem(buf, ScmDevmemDmabuf, 0, 1, 2, 1);
        Assert.Throws<DevmemProtocolException>(() => DevmemControlMessages.Parse(buf.ToArray(), new DevmemFragment[1]));
    }

    [Fact]
    public void Truncated_and_random_buffers_raise_only_the_protocol_error()
    {
        var valid = new List<byte>();
        PutDevmem(valid, ScmDevmemDmabuf, 4096, 1448, 3, 1);
        PutDevmem(valid, ScmDevmemLinear, 0, 52, 0, 0);
        PutOther(valid, 41, 25, 20);
        byte[] whole = valid.ToArray();
        for (int cut = 0; cut <= whole.Length; cut++)
        {
            ParseOrProtocolError(whole.AsSpan(0, cut).ToArray());
        }

        Gen.Byte.Array[0, 200].Sample(ParseOrProtocolError, iter: 5000, seed: "0N0XIzNsQ0O2");
        Gen.Int[0, whole.Length - 1].Select(Gen.Byte, (i, b) => (i, b)).Array[1, 6].Sample(edits =>
        {
            var copy = (byte[])whole.Clone();
            foreach (var (i, b) in edits)
            {
                copy[i] = b;
            }

            ParseOrProtocolError(copy);
        }, iter: 5000, seed: "0N0XIzNsQ0O2");
    }

    // One cmsg as generated: a devmem fragment (or LINEAR, or another level's message) whose cmsg_len
    // is honest or lies (0, below the header, below CMSG_LEN(24), past the buffer, 2^32 and more).
    private sealed record Cmsg(int Kind, uint Token, int Lie, ulong LieValue);

    // scripts/fuzz.sh multiplies the iterations (DEVMEM_FUZZ_SCALE); CI runs scale 1.
    private static int FuzzScale { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("DEVMEM_FUZZ_SCALE"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int s) && s > 0 ? s : 1;

    private static readonly Gen<Cmsg> CmsgGen = Gen.Select(Gen.Int[0, 2], Gen.UInt[1, 1_000_000], Gen.Frequency((4, Gen.Const(0)), (1, Gen.Int[1, 6])), Gen.ULong,
        (kind, token, lie, value) => new Cmsg(kind, token, lie, value));

    private static (byte[] Bytes, List<DevmemFragment> Put) Build(Cmsg[] cmsgs)
    {
        var buf = new List<byte>();
        var put = new List<DevmemFragment>();
        foreach (Cmsg c in cmsgs)
        {
            int at = buf.Count;
            switch (c.Kind)
            {
                case 0:
                    PutDevmem(buf, ScmDevmemDmabuf, (ulong)c.Token * 4096, c.Token % 4096 + 1, c.Token, 9);
                    put.Add(new DevmemFragment(9, (ulong)c.Token * 4096, c.Token % 4096 + 1, c.Token));
                    break;
                case 1:
                    PutDevmem(buf, ScmDevmemLinear, 0, c.Token % 4096 + 1, 0, 0);
                    break;
                default:
                    PutOther(buf, 41, 25, (int)(c.Token % 40));
                    break;
            }

            ulong len = c.Lie switch
            {
                1 => 0,
                2 => c.LieValue % 16,                   // below the header
                3 => 16 + (c.LieValue % 24),            // a header, but less than a dmabuf_cmsg
                4 => (ulong)(buf.Count - at) + 1 + (c.LieValue % 64), // past this message (maybe past the buffer)
                5 => 1UL << 32 | (c.LieValue & 0xff),   // 2^32 and more
                6 => c.LieValue,                        // anything
                _ => BinaryPrimitives.ReadUInt64LittleEndian(buf.ToArray().AsSpan(at)),
            };
            byte[] l = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(l, len);
            for (int i = 0; i < 8; i++)
            {
                buf[at + i] = l[i];
            }
        }

        return ([.. buf], put);
    }

    [Fact]
    public void A_lying_cmsg_len_never_yields_bytes_from_outside_its_message()
    {
        // Whatever the lengths say, the walk either refuses (DevmemProtocolException) or returns
        // fragments that were really put there, in order: never one assembled from a neighbour's bytes
        // or from past the buffer. With honest lengths it returns exactly what was put.
        int honest = 0, refused = 0;
        CmsgGen.Array[0, 8].Sample(cmsgs =>
        {
            (byte[] bytes, List<DevmemFragment> put) = Build(cmsgs);
            var frags = new DevmemFragment[16];
            try
            {
                var s = DevmemControlMessages.Parse(bytes, frags);
                var got = frags.AsSpan(0, s.Fragments).ToArray();
                if (cmsgs.All(c => c.Lie == 0))
                {
                    Interlocked.Increment(ref honest);
                    Assert.Equal(put, got);
                    return;
                }

                int j = 0;
                foreach (DevmemFragment f in got)
                {
                    while (j < put.Count && put[j] != f)
                    {
                        j++;
                    }

                    Assert.True(j < put.Count, $"fragment {f} was never put in the buffer");
                    j++;
                }
            }
            catch (DevmemProtocolException)
            {
                Interlocked.Increment(ref refused);
                Assert.Contains(cmsgs, c => c.Lie != 0);
            }
        }, iter: 20000 * FuzzScale, threads: 1);
        Assert.True(honest > 1000 && refused > 1000, $"{honest} honest buffers, {refused} refused");
    }

    private static void ParseOrProtocolError(byte[] bytes)
    {
        try
        {
            var s = DevmemControlMessages.Parse(bytes, new DevmemFragment[4]);
            Assert.InRange(s.Fragments, 0, 4);
        }
        catch (DevmemProtocolException)
        {
        }
    }
}
