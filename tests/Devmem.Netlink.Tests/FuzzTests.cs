using System.Globalization;
using CsCheck;
using Devmem.Netlink.Netdev;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink.Tests;

// Malformed input must raise NetlinkProtocolException and nothing else: no IndexOutOfRange, no
// ArgumentOutOfRange, no crash. Every decoder (FamilyParsers: netdev, ethtool, nlctrl, rtnetlink, the
// error and DONE parsers, the YNL JSON writer) runs over seeded random buffers, generated attribute
// trees (nested, with honest and lying lengths), every truncation and bit-flipped copies of valid
// messages and of real kernel replies (Corpus/), and the writer's output is parsed back (round trips).
//
// The CI pass takes seconds. DEVMEM_FUZZ_SCALE=N multiplies every iteration count, DEVMEM_FUZZ_SEED
// seeds the System.Random passes (CsCheck draws fresh seeds each run and prints the failing one);
// scripts/fuzz.sh runs a long randomized pass outside CI's time.
[Tier(Tier.Pure)]
public class FuzzTests
{
    internal static int Scale { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("DEVMEM_FUZZ_SCALE"), NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s > 0 ? s : 1;

    internal static int Seed { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("DEVMEM_FUZZ_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : 20261125;

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

        // The attribute decoders, fed the raw bytes as attributes too.
        foreach (Func<NetlinkAttributeReader, object> parse in FamilyParsers.All)
        {
            Attempt(() => parse(new NetlinkAttributeReader(data)));
        }

        // The error path's attribute walk over a request, for a few target offsets.
        foreach (int target in (ReadOnlySpan<int>)[0, 20, 24, 28, data.Length])
        {
            Attempt(() => NetlinkErrors.AttributePath(data, NetdevSpec.Family, NetdevSpec.Family.Set("dev"), target) ?? "");
        }
    }

    private static void Exercise(NetlinkMessage m, byte[] whole)
    {
        foreach (Func<NetlinkMessage, object> parse in FamilyParsers.Messages)
        {
            try
            {
                parse(m);
            }
            catch (NetlinkProtocolException)
            {
            }
        }

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
            else if (m.Type >= NLMSG_MIN_TYPE && m.Payload.Length >= 4)
            {
                byte[] attrs = m.Payload[4..].ToArray();
                foreach (Func<NetlinkAttributeReader, object> parse in FamilyParsers.All)
                {
                    Attempt(() => parse(new NetlinkAttributeReader(attrs)));
                }
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

    /// <summary>The real kernel replies in Corpus/ (how they were captured: Corpus/README.md).</summary>
    internal static IReadOnlyList<(string Name, byte[] Bytes)> Corpus { get; } =
        [.. Directory.GetFiles(CorpusCapture.CorpusDirectory, "*.bin", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => (Path.ChangeExtension(Path.GetRelativePath(CorpusCapture.CorpusDirectory, f), null), File.ReadAllBytes(f)))];

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
        var random = new Random(Seed);
        byte[][] valid = [.. ValidMessages()];
        for (int i = 0; i < 4000 * Scale; i++)
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
        stream.Sample(DecodeEverything, iter: 3000 * Scale, threads: 1);
        stream.Select(s => Bytes.Message(0x1c, 0, 1, 1, Bytes.Genl(1, 1, new Bytes().Raw(s))).ToArray()).Sample(DecodeEverything, iter: 2000 * Scale, threads: 1);
    }

    // An attribute tree: a leaf (type, payload) or a nest (type, children). Types are small, so they
    // hit the attribute ids the decoders look for.
    internal sealed record Node(ushort Type, byte[]? Value, Node[]? Children)
    {
        public Bytes Encode() => Children is null ? new Bytes().Attr(Type, new Bytes().Raw(Value!)) : new Bytes().Nest(Type, Concat(Children));

        public static Bytes Concat(IEnumerable<Node> nodes)
        {
            var b = new Bytes();
            foreach (Node n in nodes)
            {
                b.Raw(n.Encode().ToArray());
            }

            return b;
        }
    }

    private static readonly Gen<ushort> SmallType = Gen.UShort[0, 40];

    // Payload sizes the decoders accept (1, 2, 4, 8, strings) and sizes they must refuse.
    private static readonly Gen<byte[]> Payload = Gen.OneOf(
        Gen.Byte.Array[0, 12],
        Gen.Const(0).Select(_ => new byte[] { (byte)'l', (byte)'o', 0 }),
        Gen.UInt.Select(v => BitConverter.GetBytes(v)),
        Gen.ULong.Select(v => BitConverter.GetBytes(v)));

    internal static Gen<Node> Tree(int depth) => depth == 0
        ? Gen.Select(SmallType, Payload, (t, v) => new Node(t, v, null))
        : Gen.Frequency(
            (3, Gen.Select(SmallType, Payload, (t, v) => new Node(t, v, null))),
            (1, Gen.Select(SmallType, Tree(depth - 1).Array[0, 4], (t, c) => new Node(t, null, c))));

    internal static readonly Gen<Node[]> Forest = Tree(3).Array[0, 6];

    [Fact]
    public void Nested_attribute_trees_honest_and_lying_never_escape_as_other_exceptions()
    {
        // Honest lengths: the decoders' own checks (sizes, required attributes, nesting) are what refuses.
        Forest.Sample(f =>
        {
            byte[] attrs = Node.Concat(f).ToArray();
            DecodeEverything(attrs);
            DecodeEverything(Bytes.Message(0x1c, NLM_F_MULTI, 1, 1, Bytes.Genl(1, 1, new Bytes().Raw(attrs))).ToArray());
        }, iter: 1500 * Scale, threads: 1);

        // Then one length field anywhere in the tree lies (a random u16 at a random attribute header).
        Gen.Select(Forest, Gen.Int, Gen.UShort, (f, at, len) => (f, at, len)).Sample(t =>
        {
            byte[] attrs = Node.Concat(t.f).ToArray();
            if (attrs.Length >= 4)
            {
                int offset = (int)((uint)t.at % (uint)(attrs.Length - 1)) & ~3;
                BitConverter.TryWriteBytes(attrs.AsSpan(offset), t.len);
            }

            DecodeEverything(attrs);
            DecodeEverything(Bytes.Message(0x1c, 0, 1, 1, Bytes.Genl(1, 1, new Bytes().Raw(attrs))).ToArray());
        }, iter: 1500 * Scale, threads: 1);
    }

    [Fact]
    public void Round_trips_what_the_writer_encodes_the_reader_decodes_exactly()
    {
        // The writer's bytes are compared with the hand-built kernel layout (Bytes), then read back
        // into the same tree.
        Gen.Select(Forest, Gen.UShort[NLMSG_MIN_TYPE, 0x7fff], Gen.UInt, Gen.Byte, (f, type, seq, cmd) => (f, type, seq, cmd)).Sample(t =>
        {
            var buffer = new byte[1 << 16];
            var w = new NetlinkWriter(buffer);
            w.BeginMessage(t.type, NLM_F_REQUEST, t.seq, 77);
            w.WriteGenlHeader(t.cmd, 2);
            foreach (Node n in t.f)
            {
                Write(ref w, n);
            }

            int length = w.EndMessage();
            byte[] written = buffer[..length];
            byte[] expected = Bytes.Message(t.type, NLM_F_REQUEST, t.seq, 77, Bytes.Genl(t.cmd, 2, Node.Concat(t.f))).ToArray();
            Assert.Equal(expected, written);

            var reader = new NetlinkMessageReader(written);
            Assert.True(reader.TryRead(out NetlinkMessage m));
            Assert.Equal((t.type, (ushort)NLM_F_REQUEST, t.seq, 77u, t.cmd, (byte)2), (m.Type, m.Flags, m.Sequence, m.PortId, m.GenlCommand, m.GenlVersion));
            Assert.Equal(t.f, Read(m.GetGenlAttributes()), NodeComparer.Instance);
            Assert.False(reader.TryRead(out _));
        }, iter: 1000 * Scale, threads: 1);
    }

    private static void Write(ref NetlinkWriter w, Node n)
    {
        if (n.Children is null)
        {
            w.WriteBinary(n.Type, n.Value);
            return;
        }

        int token = w.BeginNested(n.Type);
        foreach (Node c in n.Children)
        {
            Write(ref w, c);
        }

        w.EndNested(token);
    }

    private static Node[] Read(NetlinkAttributeReader attrs)
    {
        var nodes = new List<Node>();
        foreach (NetlinkAttr a in attrs)
        {
            nodes.Add(a.IsNested ? new Node(a.Type, null, Read(a.GetNested())) : new Node(a.Type, a.Payload.ToArray(), null));
        }

        return [.. nodes];
    }

    private sealed class NodeComparer : IEqualityComparer<Node>
    {
        public static readonly NodeComparer Instance = new();

        public bool Equals(Node? x, Node? y) =>
            x is not null && y is not null && x.Type == y.Type
            && (x.Value, y.Value) switch
            {
                (null, null) => x.Children!.SequenceEqual(y.Children!, this),
                ({ } a, { } b) => a.AsSpan().SequenceEqual(b),
                _ => false,
            };

        public int GetHashCode(Node obj) => obj.Type;
    }

    [Fact]
    public void The_corpus_holds_each_familys_real_replies_and_they_decode()
    {
        // The corpus is what it says: real replies the decoders accept (FuzzTests would be blind if the
        // files were empty or garbage).
        Assert.True(Corpus.Count >= 50, $"{Corpus.Count} corpus files");
        var names = Corpus.ToDictionary(c => c.Name, c => c.Bytes);
        Assert.Contains("netdev", GenericNetlinkSocket.ParseFamily(First(names["nlctrl-getfamily-netdev"]), "netdev").Name, StringComparison.Ordinal);
        Assert.Contains(Links(names["rtnetlink-getlink-dump"]), l => l.Name == "lo");
        Assert.Contains(Links(names["rtnetlink-getlink-dump-veth-netns"]), l => l.Name == "va");
        Assert.True(Ethtool.EthtoolParse.Channels(First(names["ethtool-channels-get-veth"]).GetGenlAttributes()).RxCount >= 1);
        foreach (string guest in (string[])["testnic-7.3", "testnic-6.12"])
        {
            // The software devmem NIC's RX queues, from the guests' own kernels.
            int rxQueues = 0;
            foreach (NetlinkMessage m in new NetlinkMessageReader(names[$"{guest}/netdev-queue-get-dump"]))
            {
                if (m.Type != NLMSG_DONE && NetdevParse.Queue(m.GetGenlAttributes()).Type == NetdevQueueType.Rx)
                {
                    rxQueues++;
                }
            }

            Assert.True(rxQueues >= 2, $"{guest}: {rxQueues} RX queues");
        }

        foreach ((string name, byte[] bytes) in Corpus)
        {
            int messages = 0;
            foreach (NetlinkMessage m in new NetlinkMessageReader(bytes))
            {
                messages++;
                Assert.True(m.Type is NLMSG_ERROR or NLMSG_DONE || m.Type >= NLMSG_MIN_TYPE, $"{name}: message type {m.Type}");
            }

            Assert.True(messages > 0, name);
        }

        static NetlinkMessage First(byte[] b)
        {
            var r = new NetlinkMessageReader(b);
            Assert.True(r.TryRead(out NetlinkMessage m));
            return m;
        }

        static List<NetworkLink> Links(byte[] b)
        {
            var links = new List<NetworkLink>();
            foreach (NetlinkMessage m in new NetlinkMessageReader(b))
            {
                if (m.Type != NLMSG_DONE)
                {
                    links.Add(RouteLinks.ParseLink(m));
                }
            }

            return links;
        }
    }

    [Fact]
    public void Real_kernel_replies_truncated_flipped_and_spliced_never_escape_as_other_exceptions()
    {
        var random = new Random(Seed);
        foreach ((_, byte[] bytes) in Corpus)
        {
            DecodeEverything(bytes);
            int step = Math.Max(1, bytes.Length / (200 * Scale));
            for (int len = 0; len <= bytes.Length; len += step)
            {
                DecodeEverything(bytes[..len]);
                DecodeEverything(bytes[(bytes.Length - len)..]);
            }

            for (int i = 0; i < 100 * Scale; i++)
            {
                byte[] mutated = (byte[])bytes.Clone();
                for (int k = random.Next(1, 5); k > 0; k--)
                {
                    mutated[random.Next(mutated.Length)] ^= (byte)(1 << random.Next(8));
                }

                DecodeEverything(mutated);
            }
        }

        // Splices: the messages of different replies in one stream (a multi-message datagram the
        // decoders never saw together).
        List<byte[]> messages = [.. Corpus.SelectMany(c => Split(c.Bytes))];
        for (int i = 0; i < 300 * Scale; i++)
        {
            byte[] spliced = [.. Enumerable.Range(0, random.Next(1, 5)).SelectMany(_ => messages[random.Next(messages.Count)])];
            DecodeEverything(spliced);
        }
    }

    internal static List<byte[]> Split(byte[] stream)
    {
        var parts = new List<byte[]>();
        foreach (NetlinkMessage m in new NetlinkMessageReader(stream))
        {
            byte[] one = m.Bytes.ToArray();
            parts.Add([.. one, .. new byte[((one.Length + 3) & ~3) - one.Length]]);
        }

        return parts;
    }
}
