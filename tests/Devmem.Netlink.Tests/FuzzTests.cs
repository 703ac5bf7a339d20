using CsCheck;
using Devmem.Netlink.Netdev;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink.Tests;

// Malformed input must raise NetlinkProtocolException and nothing else: no IndexOutOfRange, no
// ArgumentOutOfRange, no crash. Every decoder is run over thousands of seeded random buffers, over
// every truncation of valid messages, and over valid messages with bytes flipped.
public class FuzzTests
{
    private static readonly string[] Sets = ["dev", "queue", "napi", "page-pool", "page-pool-stats", "qstats", "dmabuf", "lease"];

    internal static void DecodeEverything(byte[] data)
    {
        try
        {
            foreach (NetlinkMessage m in new NetlinkMessageReader(data))
            {
                Exercise(m, data);
            }
        }
        catch (NetlinkProtocolException)
        {
        }

        // The genl payload decoders, fed the raw bytes as attributes too.
        Attempt(() => NetdevParse.Queue(new NetlinkAttributeReader(data)));
        Attempt(() => NetdevParse.Device(new NetlinkAttributeReader(data)));
        Attempt(() => NetdevParse.Napi(new NetlinkAttributeReader(data)));
        Attempt(() => NetdevParse.PagePool(new NetlinkAttributeReader(data)));
        Attempt(() => NetdevParse.PagePoolStats(new NetlinkAttributeReader(data)));
        Attempt(() => NetdevParse.QueueStats(new NetlinkAttributeReader(data)));
        foreach (string set in Sets)
        {
            Attempt(() =>
            {
                var j = new YnlJson();
                j.WriteMessage(new NetlinkAttributeReader(data), NetdevSpec.Family, NetdevSpec.Family.Set(set));
                return j.ToString();
            });
        }

        foreach (Func<NetlinkAttributeReader, object> parse in FamilyParsers.All)
        {
            Attempt(() => parse(new NetlinkAttributeReader(data)));
        }
    }

    private static void Exercise(NetlinkMessage m, byte[] whole)
    {
        try
        {
            if (m.Type == NLMSG_ERROR)
            {
                if (NetlinkErrors.ParseError(m, out NetlinkExtAck ack) < 0)
                {
                    NetlinkOperationSpec op = NetdevSpec.Family.Operation("bind-rx");
                    _ = NetlinkErrors.Create(NetdevSpec.Family, "netdev", op, op.Name, 22, ack, whole).Message;
                }
            }
            else if (m.Type == NLMSG_DONE)
            {
                NetlinkErrors.ParseDone(m, out _);
            }
            else
            {
                _ = NetdevParse.Queue(m.GetGenlAttributes());
                _ = NetdevParse.QueueStats(m.GetGenlAttributes());
                var j = new YnlJson();
                j.WriteMessage(m.GetGenlAttributes(), NetdevSpec.Family, NetdevSpec.Family.Set("page-pool-stats"));
            }
        }
        catch (NetlinkProtocolException)
        {
        }
    }

    private static void Attempt<T>(Func<T> f)
    {
        try
        {
            f();
        }
        catch (NetlinkProtocolException)
        {
        }
    }

    private static IEnumerable<byte[]> ValidMessages()
    {
        yield return CodecTests.QueueReply(3, 0, 4, 257, new Bytes().Nest(7, new Bytes()).AttrU32(99, 1));
        var buffer = new byte[256];
        int n = CodecTests.WriteBindRx(buffer, 9);
        yield return buffer[..n];
        yield return Bytes.Message(NLMSG_ERROR, (ushort)(NLM_F_CAPPED | NLM_F_ACK_TLVS), 9, 1, new Bytes().S32(-22).Raw(buffer[..16])
            .AttrString(NLMSGERR_ATTR_MSG, "tcp-data-split is disabled").AttrU32(NLMSGERR_ATTR_OFFS, 24)
            .AttrU32(NLMSGERR_ATTR_MISS_TYPE, 2).AttrU32(NLMSGERR_ATTR_MISS_NEST, 36)).ToArray();
        yield return Bytes.Message(NLMSG_ERROR, 0, 9, 1, new Bytes().S32(-22).Raw(buffer[..n])).ToArray();
        yield return Bytes.Message(NLMSG_DONE, NLM_F_ACK_TLVS, 9, 1, new Bytes().S32(-95).AttrString(1, "x")).ToArray();
        yield return Bytes.Message(0x1c, 0, 1, 1, Bytes.Genl(12, 1, new Bytes().AttrU32(1, 4).AttrU32(2, 0).AttrU64(8, 1UL << 40).AttrU32(9, 5)
            .Nest(1, new Bytes().AttrU64(1, 3).AttrU32(2, 4)))).ToArray();
    }

    [Fact]
    public void Every_truncation_of_valid_messages_is_handled()
    {
        int cases = 0;
        foreach (byte[] valid in ValidMessages())
        {
            for (int len = 0; len <= valid.Length; len++)
            {
                DecodeEverything(valid[..len]);
                DecodeEverything(valid[(valid.Length - len)..]);
                cases += 2;
            }
        }

        Assert.True(cases > 500, $"only {cases} truncations");
    }

    [Fact]
    public void Seeded_random_buffers_and_bit_flips_never_escape_as_other_exceptions()
    {
        var random = new Random(20261125);
        byte[][] valid = [.. ValidMessages()];
        for (int i = 0; i < 4000; i++)
        {
            var data = new byte[random.Next(0, 200)];
            random.NextBytes(data);
            DecodeEverything(data);

            byte[] mutated = (byte[])valid[i % valid.Length].Clone();
            for (int k = random.Next(1, 4); k > 0; k--)
            {
                mutated[random.Next(mutated.Length)] ^= (byte)(1 << random.Next(8));
            }

            DecodeEverything(mutated);
        }
    }

    [Fact]
    public void Generated_attribute_streams_never_escape_as_other_exceptions()
    {
        // CsCheck: sequences of (length, type, payload) headers with lengths that may lie.
        Gen<byte[]> attr = Gen.Select(Gen.UShort[0, 80], Gen.UShort, Gen.Byte.Array[0, 40],
            (len, type, payload) => new Bytes().U16(len).U16(type).Raw(payload).ToArray());
        Gen<byte[]> stream = attr.Array[0, 6].Select(parts => parts.SelectMany(p => p).ToArray());
        stream.Sample(DecodeEverything, iter: 3000, threads: 1);
        stream.Select(s => Bytes.Message(0x1c, 0, 1, 1, Bytes.Genl(1, 1, new Bytes().Raw(s))).ToArray()).Sample(DecodeEverything, iter: 2000, threads: 1);
    }
}
