using System.Runtime.CompilerServices;
using Devmem.Interop;
using Microsoft.Extensions.Logging;

namespace Devmem.Receive;

/// <summary>Hands a batch of token ranges back to the kernel (<c>setsockopt(SO_DEVMEM_DONTNEED)</c>); returns how many tokens it freed.</summary>
internal interface ITokenReleaser
{
    int DontNeed(ReadOnlySpan<dmabuf_token> ranges);
}

/// <summary>
/// A devmem socket's token bookkeeping between its two system calls: what one
/// <c>recvmsg(MSG_SOCK_DEVMEM)</c> handed out (parsed, checked and registered as held) and what the
/// application gave back (queued, then sorted and coalesced into the kernel's per-call ranges). No
/// system call is made here: the socket passes its <see cref="ITokenReleaser"/>, and the cmsg benchmark
/// passes a stub, so docs/performance.md measures this very code.
/// </summary>
internal sealed partial class TokenLedger(ILogger logger)
{
    private readonly uint[] _pending = new uint[TokenRanges.MaxTokensPerCall];
    private readonly dmabuf_token[] _batch = new dmabuf_token[TokenRanges.MaxRangesPerCall];

    /// <summary>Tokens received and not yet given back.</summary>
    public TokenSet Held { get; } = new();

    /// <summary>Tokens given back but not yet sent to the kernel.</summary>
    public int PendingCount { get; private set; }

    public long ReleaseCalls { get; private set; }

    public long TokensFreed { get; private set; }

    public long ReleaseShortfall { get; private set; }

    /// <summary>
    /// After a <c>recvmsg(MSG_SOCK_DEVMEM)</c> that returned <paramref name="received"/> bytes: walks
    /// <paramref name="control"/> into <paramref name="sink"/> (built over <see cref="Held"/>, so each token
    /// is registered before any check can throw), checks that the pieces cover the bytes, and counts them. A summary
    /// with no devmem message means the bytes came as ordinary data (unsteered): the caller reports it.
    /// </summary>
    public static ControlSummary Accept<TSink>(ReadOnlySpan<byte> control, int received, ref TSink sink, uint owner)
        where TSink : IReceiveSink, allows ref struct
    {
        var summary = DevmemControlMessages.Parse(control, ref sink, owner);
        sink.RegisterHeld();
        if (summary.Fragments == 0 && summary.LinearMessages == 0)
        {
            return summary;
        }

        if (summary.DmabufBytes + summary.LinearBytes != received)
        {
            throw DevmemProtocolException.Malformed("recvmsg(MSG_SOCK_DEVMEM)",
                $"recvmsg returned {received} bytes but its devmem control messages cover {summary.DmabufBytes + summary.LinearBytes}");
        }

        if (summary.Fragments > 0)
        {
            DevmemMetrics.Fragments.Add(summary.Fragments);
            DevmemMetrics.DmabufBytes.Add(summary.DmabufBytes);
            DevmemMetrics.TokensOutstanding.Add(summary.Fragments);
        }

        if (summary.LinearBytes > 0)
        {
            DevmemMetrics.LinearBytes.Add(summary.LinearBytes);
        }

        return summary;
    }

    /// <summary>
    /// Moves a held token to the pending batch; false when the token is not held. When
    /// <see cref="PendingFull"/> becomes true the caller flushes (<see cref="FlushPending"/>): kept apart so
    /// that this per-fragment step stays small enough to inline.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryQueue(uint token)
    {
        if (!Held.Remove(token))
        {
            return false;
        }

        _pending[PendingCount++] = token;
        return true;
    }

    /// <summary>The pending batch holds one kernel call's worth of tokens: flush it before queueing more.</summary>
    public bool PendingFull => PendingCount == _pending.Length;

    /// <summary>Sends the pending batch to the kernel; returns the tokens freed.</summary>
    public int FlushPending<TReleaser>(ref TReleaser releaser)
        where TReleaser : ITokenReleaser, allows ref struct =>
        Flush(_pending.AsSpan(0, PendingCount), clearPending: true, ref releaser);

    /// <summary>Sends <paramref name="tokens"/> (sorted here, in place) to the kernel in as few calls as its limits allow.</summary>
    public int Flush<TReleaser>(Span<uint> tokens, bool clearPending, ref TReleaser releaser)
        where TReleaser : ITokenReleaser, allows ref struct
    {
        if (tokens.Length == 0)
        {
            return 0;
        }

        int distinct = TokenRanges.SortDistinct(tokens, out _);
        ReadOnlySpan<uint> sorted = tokens[..distinct];
        int position = 0;
        int freedTotal = 0;
        try
        {
            while (true)
            {
                int ranges = TokenRanges.NextBatch(sorted, ref position, _batch, out int count);
                if (ranges == 0)
                {
                    break;
                }

                int freed = releaser.DontNeed(_batch.AsSpan(0, ranges));
                ReleaseCalls++;
                DevmemMetrics.ReleaseCalls.Add(1);
                freedTotal += freed;
                DevmemMetrics.TokensOutstanding.Add(-count);
                if (freed != count)
                {
                    ReleaseShortfall += count - freed;
                    LogShortfall(logger, count, freed);
                }
            }
        }
        finally
        {
            if (clearPending)
            {
                PendingCount = 0;
            }
        }

        TokensFreed += freedTotal;
        return freedTotal;
    }

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "SO_DEVMEM_DONTNEED freed {Freed} of {Count} tokens: the kernel did not hold the others for this socket")]
    private static partial void LogShortfall(ILogger logger, int count, int freed);
}
