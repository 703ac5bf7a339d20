using Devmem.Interop;
using Devmem.Receive;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Tests.Receive;

/// <summary>
/// The zero-copy release step (<see cref="TokenLedger.Queue"/>), with a releaser that records what
/// would have gone to <c>setsockopt(SO_DEVMEM_DONTNEED)</c>: which tokens, in how many calls.
/// </summary>
[Tier(Tier.Pure)]
public class TokenLedgerTests
{
    private const uint Owner = 7;

    private sealed class Calls
    {
        public List<uint> Freed { get; } = [];

        public int Count { get; set; }
    }

    private readonly struct RecordingReleaser(Calls calls) : ITokenReleaser
    {
        public int DontNeed(ReadOnlySpan<dmabuf_token> ranges)
        {
            calls.Count++;
            int n = 0;
            foreach (var r in ranges)
            {
                for (uint t = r.token_start; t < r.token_start + r.token_count; t++)
                {
                    calls.Freed.Add(t);
                    n++;
                }
            }

            return n;
        }
    }

    private static DevmemFragment Fragment(uint token, uint owner = Owner) => new(1, token * 4096UL, 4096, token, owner);

    [Fact]
    public void Queue_sends_each_full_batch_and_keeps_the_rest_pending()
    {
        var ledger = new TokenLedger(NullLogger.Instance);
        const int total = 2500;
        var order = Enumerable.Range(0, total).Select(i => (uint)i).ToArray();
        new Random(42).Shuffle(order);
        foreach (uint t in order)
        {
            Assert.True(ledger.Held.Add(t));
        }

        var fragments = order.Select(t => Fragment(t)).ToArray();
        var calls = new Calls();
        var releaser = new RecordingReleaser(calls);
        var problems = default(ReleaseProblems);

        // In uneven pieces, so that batches fill in the middle of a call to Queue.
        for (int at = 0; at < total; at += 333)
        {
            ledger.Queue(fragments.AsSpan(at, Math.Min(333, total - at)), Owner, ref releaser, ref problems);
        }

        problems.ThrowIfAny();
        int perCall = TokenRanges.MaxTokensPerCall;
        Assert.Equal(total % perCall, ledger.PendingCount);
        Assert.Equal(0, ledger.Held.Count);

        // Exactly the first two full batches went to the kernel, each once, in order of release.
        var expected = order.Take(2 * perCall).ToHashSet();
        Assert.Equal(2 * perCall, calls.Freed.Count);
        Assert.True(expected.SetEquals(calls.Freed), "the tokens sent are not the first 2048 released");
        Assert.True(order.Take(perCall).ToHashSet().SetEquals(calls.Freed.Take(perCall)), "the first call did not carry the first batch");

        Assert.Equal(total - (2 * perCall), ledger.FlushPending(ref releaser));
        Assert.Equal(0, ledger.PendingCount);
        Assert.Equal(Enumerable.Range(0, total).Select(i => (uint)i), calls.Freed.Order());
    }

    [Fact]
    public void Queue_reports_foreign_and_twice_released_fragments_after_queueing_the_others()
    {
        var ledger = new TokenLedger(NullLogger.Instance);
        for (uint t = 1; t <= 10; t++)
        {
            ledger.Held.Add(t);
        }

        var calls = new Calls();
        var releaser = new RecordingReleaser(calls);
        var problems = default(ReleaseProblems);
        DevmemFragment[] batch =
        [
            Fragment(1), Fragment(2), Fragment(6, owner: 8), Fragment(3), Fragment(2), Fragment(4), Fragment(9, owner: 8), Fragment(5),
        ];
        ledger.Queue(batch, Owner, ref releaser, ref problems);

        Assert.Equal(5, ledger.PendingCount);
        Assert.Equal(5, ledger.Held.Count);
        Assert.True(ledger.Held.Remove(6) && ledger.Held.Remove(9), "a foreign fragment's token was taken from this socket's held set");
        var ex = Assert.Throws<InvalidOperationException>(() => problems.ThrowIfAny());
        Assert.Equal(
            "2 fragment(s) (first token: 6) were received on another socket (or not received at all): release a fragment on the DevmemSocket that received it. Also 1 not held any more (released twice).",
            ex.Message);

        var twice = default(ReleaseProblems);
        ledger.Queue([Fragment(1)], Owner, ref releaser, ref twice);
        ex = Assert.Throws<InvalidOperationException>(() => twice.ThrowIfAny());
        Assert.Equal("1 fragment token(s) (first: 1) are not held by this socket any more: released twice.", ex.Message);
        Assert.Equal(0, calls.Count);
    }
}
