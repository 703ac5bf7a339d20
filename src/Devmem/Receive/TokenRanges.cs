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
    public static int SortDistinct(Span<uint> tokens, out int duplicates)
    {
        duplicates = 0;
        if (tokens.Length == 0)
        {
            return 0;
        }

        tokens.Sort();
        int w = 1;
        for (int r = 1; r < tokens.Length; r++)
        {
            if (tokens[r] == tokens[w - 1])
            {
                duplicates++;
                continue;
            }

            tokens[w++] = tokens[r];
        }

        return w;
    }

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
        tokenCount = 0;
        int i = position;
        while (i < sorted.Length && ranges < maxRanges && tokenCount < MaxTokensPerCall)
        {
            uint start = sorted[i];
            uint count = 1;
            i++;
            int budget = MaxTokensPerCall - tokenCount;
            while (i < sorted.Length && count < budget && sorted[i] == start + count)
            {
                count++;
                i++;
            }

            batch[ranges++] = new dmabuf_token { token_start = start, token_count = count };
            tokenCount += (int)count;
        }

        position = i;
        return ranges;
    }
}
