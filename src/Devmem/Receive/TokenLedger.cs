using System.Diagnostics.CodeAnalysis;
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

        return summary;
    }

    /// <summary>
    /// Zero-copy release of a batch (<c>DevmemSocket.Release</c>): each fragment received by
    /// <paramref name="owner"/> and still held moves to the pending batch, which goes to the kernel through
    /// <paramref name="releaser"/> each time it holds one call's worth; the others are noted in
    /// <paramref name="problems"/> and left alone. The batch's state stays in locals for the loop: this runs
    /// once per fragment (the cmsg benchmark in docs/performance.md calls this very method).
    /// </summary>
    public void Queue<TReleaser>(ReadOnlySpan<DevmemFragment> fragments, uint owner, ref TReleaser releaser, ref ReleaseProblems problems)
        where TReleaser : ITokenReleaser, allows ref struct
    {
        int count = PendingCount;
        int i = 0;
        while (true)
        {
            count = QueueUntilFull(fragments, ref i, owner, Held, _pending, count, ref problems);
            if (count < _pending.Length)
            {
                break;
            }

            PendingCount = count;
            count = 0;
            FlushPending(ref releaser);
        }

        PendingCount = count;
    }

    // The per-fragment loop, in a method with no call in it so that the JIT keeps its state in registers
    // (with the flush's call in the same loop it spilled them once per fragment). Stops at the end of
    // fragments or when pending is full; returns the new pending count.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int QueueUntilFull(ReadOnlySpan<DevmemFragment> fragments, ref int next, uint owner, TokenSet held, uint[] pending, int count, ref ReleaseProblems problems)
    {
        int i = next;
        for (; i < fragments.Length && count < pending.Length; i++)
        {
            ref readonly DevmemFragment f = ref fragments[i];
            if (f.Owner != owner)
            {
                problems.NoteForeign(f.Token);
            }
            else if (!held.Remove(f.Token))
            {
                problems.NoteUnknown(f.Token);
            }
            else
            {
                pending[count++] = f.Token;
            }
        }

        next = i;
        return count;
    }

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
                freedTotal += freed;
                if (freed != count)
                {
                    ReleaseShortfall += count - freed;
                    Log.Shortfall(logger, count, freed);
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

    /// <summary>The ledger's log message, in a class of its own: its format is parsed when first logged, not when the first socket is made.</summary>
    private static partial class Log
    {
        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "SO_DEVMEM_DONTNEED freed {Freed} of {Count} tokens: the kernel did not hold the others for this socket")]
        public static partial void Shortfall(ILogger logger, int count, int freed);
    }
}

/// <summary>What a release found wrong, reported after the whole batch was handled (<see cref="ThrowIfAny"/>).</summary>
internal struct ReleaseProblems
{
    private int _foreign;
    private int _unknown;
    private uint _firstForeign;
    private uint _firstUnknown;

    /// <summary>A fragment received on another socket, or made by hand.</summary>
    public void NoteForeign(uint token)
    {
        if (_foreign++ == 0)
        {
            _firstForeign = token;
        }
    }

    /// <summary>A fragment of this socket whose token is not held any more (released twice).</summary>
    public void NoteUnknown(uint token)
    {
        if (_unknown++ == 0)
        {
            _firstUnknown = token;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void ThrowIfAny()
    {
        if ((_foreign | _unknown) != 0)
        {
            Throw();
        }
    }

    [DoesNotReturn]
    private readonly void Throw()
    {
        if (_foreign > 0)
        {
            throw new InvalidOperationException(
                $"{_foreign} fragment(s) (first token: {_firstForeign}) were received on another socket (or not received at all): release a fragment on the DevmemSocket that received it.{(_unknown > 0 ? $" Also {_unknown} not held any more (released twice)." : "")}");
        }

        throw new InvalidOperationException(
            $"{_unknown} fragment token(s) (first: {_firstUnknown}) are not held by this socket any more: released twice.");
    }
}
