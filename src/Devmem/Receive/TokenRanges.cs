using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Devmem.Interop;

namespace Devmem.Receive;

/// <summary>
/// Turns released fragment tokens into the <c>dmabuf_token</c> ranges that
/// <c>setsockopt(SO_DEVMEM_DONTNEED)</c> takes, within the kernel's per-call limits.
/// </summary>
/// <remarks>
/// The kernel (net/core/sock.c, <c>sock_devmem_dontneed</c>, identical in 6.12 and 7.x) accepts at most
/// <see cref="MaxRangesPerCall"/> ranges (optlen ≤ 1024 bytes) and walks at most
/// <see cref="MaxTokensPerCall"/> tokens in one call, counting unknown tokens too; past that limit it
/// stops silently. So a range longer than what is left of a call's token budget is split, and the
/// remainder opens the next call. Every step consumes at least one token, so batching always ends.
/// </remarks>
internal static class TokenRanges
{
    /// <summary><c>MAX_DONTNEED_TOKENS</c>: ranges per call.</summary>
    public const int MaxRangesPerCall = 128;

    /// <summary><c>MAX_DONTNEED_FRAGS</c>: tokens walked per call.</summary>
    public const int MaxTokensPerCall = 1024;

    /// <summary>
    /// Sorts <paramref name="tokens"/> in place and removes duplicates; returns the number of distinct
    /// tokens (now at the front) and, in <paramref name="duplicates"/>, how many were dropped.
    /// </summary>
    /// <remarks>
    /// The kernel hands tokens out densely (lowest free value first, from 1), so a flush's tokens span a
    /// range not much wider than their count: they are sorted by marking them in a bitmap over that range
    /// and reading it back, linear time and no comparisons. Tokens spread wider than
    /// <see cref="MaxBitmapWords"/> words, or wider than one word per token, take a comparison sort.
    /// </remarks>
    public static int SortDistinct(Span<uint> tokens, out int duplicates)
    {
        duplicates = 0;
        if (tokens.Length == 0)
        {
            return 0;
        }

        (uint min, uint max) = MinMax(tokens);
        ulong words = ((ulong)(max - min) >> 6) + 1;
        int w;
        if (words <= MaxBitmapWords && words <= (ulong)tokens.Length)
        {
            w = BitmapSortDistinct(tokens, min, (int)words);
        }
        else
        {
            tokens.Sort();
            w = 1;
            for (int r = 1; r < tokens.Length; r++)
            {
                if (tokens[r] == tokens[w - 1])
                {
                    continue;
                }

                tokens[w++] = tokens[r];
            }
        }

        duplicates = tokens.Length - w;
        return w;
    }

    /// <summary>Widest bitmap <see cref="SortDistinct"/> uses, in 64-bit words (8 KiB of stack: 65536 token values).</summary>
    internal const int MaxBitmapWords = 1024;

    /// <summary>
    /// Fills <paramref name="batch"/> with the next call's ranges from sorted, distinct tokens.
    /// </summary>
    /// <param name="sorted">Tokens in ascending order without duplicates.</param>
    /// <param name="position">Index of the first token not yet batched; advanced past what was batched.</param>
    /// <param name="batch">Destination; at most <see cref="MaxRangesPerCall"/> entries are used.</param>
    /// <param name="tokenCount">How many tokens the returned ranges cover (≤ <see cref="MaxTokensPerCall"/>).</param>
    /// <returns>The number of ranges written; 0 only when no tokens are left.</returns>
    public static int NextBatch(ReadOnlySpan<uint> sorted, ref int position, Span<dmabuf_token> batch, out int tokenCount)
    {
        int maxRanges = Math.Min(batch.Length, MaxRangesPerCall);
        if (maxRanges <= 0)
        {
            throw new ArgumentException("The batch buffer must hold at least one range.", nameof(batch));
        }

        int ranges = 0;
        int tokens = 0;   // a local, not the out parameter, so it stays in a register
        int i = position;
        while (i < sorted.Length && ranges < maxRanges && tokens < MaxTokensPerCall)
        {
            uint start = sorted[i];
            uint count = 1;
            i++;
            int budget = MaxTokensPerCall - tokens;
            while (i < sorted.Length && count < budget && sorted[i] == start + count)
            {
                count++;
                i++;
            }

            batch[ranges++] = new dmabuf_token { token_start = start, token_count = count };
            tokens += (int)count;
        }

        position = i;
        tokenCount = tokens;
        return ranges;
    }

    private static (uint Min, uint Max) MinMax(ReadOnlySpan<uint> tokens)
    {
        uint min = uint.MaxValue, max = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && tokens.Length >= Vector256<uint>.Count)
        {
            var vmin = Vector256.Create(uint.MaxValue);
            var vmax = Vector256<uint>.Zero;
            for (; i <= tokens.Length - Vector256<uint>.Count; i += Vector256<uint>.Count)
            {
                var v = Vector256.Create(tokens.Slice(i, Vector256<uint>.Count));
                vmin = Vector256.Min(vmin, v);
                vmax = Vector256.Max(vmax, v);
            }

            for (int k = 0; k < Vector256<uint>.Count; k++)
            {
                min = Math.Min(min, vmin[k]);
                max = Math.Max(max, vmax[k]);
            }
        }

        for (; i < tokens.Length; i++)
        {
            min = Math.Min(min, tokens[i]);
            max = Math.Max(max, tokens[i]);
        }

        return (min, max);
    }

    private static int BitmapSortDistinct(Span<uint> tokens, uint min, int words)
    {
        Span<ulong> bits = stackalloc ulong[words];
        bits.Clear();

        // Every t - min is below words * 64 (min and max bound the tokens), and at most tokens.Length
        // tokens are written back: the reads and writes stay inside both spans without range checks.
        ref ulong b = ref MemoryMarshal.GetReference(bits);
        foreach (uint t in tokens)
        {
            uint d = t - min;
            Unsafe.Add(ref b, d >> 6) |= 1UL << (int)(d & 63);
        }

        ref uint dst = ref MemoryMarshal.GetReference(tokens);
        int n = 0;
        for (int i = 0; i < words; i++)
        {
            ulong word = Unsafe.Add(ref b, i);
            uint baseToken = min + ((uint)i << 6);
            while (word != 0)
            {
                Unsafe.Add(ref dst, n++) = baseToken + (uint)BitOperations.TrailingZeroCount(word);
                word &= word - 1;
            }
        }

        return n;
    }
}
