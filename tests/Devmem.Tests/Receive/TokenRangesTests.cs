using CsCheck;
using Devmem.Interop;
using Devmem.Receive;

namespace Devmem.Tests.Receive;

[Tier(Tier.Pure)]
public class TokenRangesTests
{
    // Runs the batcher to the end and checks every batch against the kernel's limits
    // (net/core/sock.c sock_devmem_dontneed: ≤ 128 ranges, ≤ 1024 tokens walked per call).
    private static List<dmabuf_token[]> BatchAll(uint[] tokens, out int distinct, out int duplicates)
    {
        distinct = TokenRanges.SortDistinct(tokens, out duplicates);
        var sorted = tokens.AsSpan(0, distinct);
        var batches = new List<dmabuf_token[]>();
        var buffer = new dmabuf_token[TokenRanges.MaxRangesPerCall];
        int position = 0;
        int guard = 0;
        while (true)
        {
            int n = TokenRanges.NextBatch(sorted, ref position, buffer, out int count);
            if (n == 0)
            {
                break;
            }

            Assert.InRange(n, 1, TokenRanges.MaxRangesPerCall);
            Assert.InRange(count, 1, TokenRanges.MaxTokensPerCall);
            long sum = 0;
            foreach (var r in buffer.AsSpan(0, n))
            {
                Assert.True(r.token_count > 0, "a range must cover at least one token");
                sum += r.token_count;
            }

            Assert.Equal(count, sum);
            batches.Add(buffer.AsSpan(0, n).ToArray());
            Assert.True(++guard <= distinct, "more calls than tokens: the batcher does not make progress");
        }

        Assert.Equal(distinct, position);
        return batches;
    }

    private static List<uint> Expand(List<dmabuf_token[]> batches)
    {
        var all = new List<uint>();
        foreach (var b in batches)
        {
            foreach (var r in b)
            {
                for (uint k = 0; k < r.token_count; k++)
                {
                    all.Add(r.token_start + k);
                }
            }
        }

        return all;
    }

    [Fact]
    public void Every_token_is_released_exactly_once_within_the_kernel_limits()
    {
        // Token sequences as the kernel hands them out: small values from 1 (XA_FLAGS_ALLOC1, lowest
        // free first), runs of consecutive ids, gaps, repeats, and values near the 31-bit ceiling.
        var gen = Gen.OneOf(
                Gen.UInt[1, 5000],
                Gen.UInt[1, 40],
                Gen.UInt[0x7FFF_F000, 0x7FFF_FFFF])
            .Array[0, 6000];
        gen.Sample(tokens =>
        {
            var expected = tokens.Distinct().OrderBy(t => t).ToList();
            var batches = BatchAll((uint[])tokens.Clone(), out int distinct, out int duplicates);
            Assert.Equal(expected.Count, distinct);
            Assert.Equal(tokens.Length - expected.Count, duplicates);
            Assert.Equal(expected, Expand(batches));
        }, iter: 300, seed: "0N0XIzNsQ0O2");
    }

    [Fact]
    public void Dense_and_spread_tokens_sort_the_same_whichever_way_SortDistinct_takes()
    {
        // SortDistinct marks tokens in a bitmap when they span at most one 64-bit word per token (the
        // kernel's dense allocation), and sorts by comparison otherwise: both must give the same answer.
        var dense = Gen.UInt[1, 4000].Array[1, 3000];
        var spread = Gen.Select(Gen.UInt[1, 100].Array[1, 200], Gen.UInt[1, 0x7FFF_FFFF], (a, far) => a.Append(far).ToArray());
        foreach (var gen in new[] { dense, spread })
        {
            gen.Sample(tokens =>
            {
                var expected = tokens.Distinct().OrderBy(t => t).ToArray();
                var work = (uint[])tokens.Clone();
                int distinct = TokenRanges.SortDistinct(work, out int duplicates);
                Assert.Equal(expected, work.AsSpan(0, distinct).ToArray());
                Assert.Equal(tokens.Length - expected.Length, duplicates);
            }, iter: 300, seed: "0N0XIzNsQ0O2");
        }
    }

    [Fact]
    public void Tokens_wider_than_the_bitmap_limit_are_still_sorted()
    {
        // 2000 tokens over 1024 * 64 + 1 values: one word more than the bitmap may take.
        uint span = (TokenRanges.MaxBitmapWords * 64) + 1;
        var tokens = Enumerable.Range(0, 2000).Select(i => 1 + (uint)((long)i * 7919 % span)).Append(1u).Append(span).ToArray();
        var expected = tokens.Distinct().OrderBy(t => t).ToArray();
        int distinct = TokenRanges.SortDistinct(tokens, out int duplicates);
        Assert.Equal(expected, tokens.AsSpan(0, distinct).ToArray());
        Assert.Equal(2002 - expected.Length, duplicates);
    }

    [Fact]
    public void A_long_run_is_split_at_the_per_call_token_limit()
    {
        uint[] tokens = Enumerable.Range(1, 3000).Select(i => (uint)i).ToArray();
        var batches = BatchAll(tokens, out _, out _);
        Assert.Equal(3, batches.Count);
        Assert.Equal(new dmabuf_token { token_start = 1, token_count = 1024 }, Assert.Single(batches[0]));
        Assert.Equal(new dmabuf_token { token_start = 1025, token_count = 1024 }, Assert.Single(batches[1]));
        Assert.Equal(new dmabuf_token { token_start = 2049, token_count = 952 }, Assert.Single(batches[2]));
    }

    [Fact]
    public void Scattered_tokens_fill_at_most_128_ranges_per_call()
    {
        // Every other token: no two coalesce, so each call carries exactly 128 single-token ranges.
        uint[] tokens = Enumerable.Range(0, 300).Select(i => (uint)(1 + (2 * i))).ToArray();
        var batches = BatchAll(tokens, out _, out _);
        Assert.Equal([128, 128, 44], batches.Select(b => b.Length));
    }

    [Fact]
    public void A_run_that_meets_the_limit_mid_way_continues_in_the_next_call()
    {
        // 127 single tokens, then a run of 2000: the run is cut where the 1024-token budget ends.
        var tokens = Enumerable.Range(0, 127).Select(i => (uint)(1 + (2 * i))).ToList();
        tokens.AddRange(Enumerable.Range(1000, 2000).Select(i => (uint)i));
        var batches = BatchAll(tokens.ToArray(), out _, out _);
        Assert.Equal(128, batches[0].Length);
        Assert.Equal(1024u - 127u, batches[0][127].token_count);
        Assert.Equal(1000u + (1024u - 127u), batches[1][0].token_start);
    }

    [Fact]
    public void Nothing_to_release_gives_no_call()
    {
        var buffer = new dmabuf_token[4];
        int position = 0;
        Assert.Equal(0, TokenRanges.NextBatch([], ref position, buffer, out int count));
        Assert.Equal(0, count);
    }
}
