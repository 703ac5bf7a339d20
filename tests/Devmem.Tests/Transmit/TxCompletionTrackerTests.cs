using Devmem.Transmit;

namespace Devmem.Tests.Transmit;

// The completed-range bookkeeping behind DevmemTxSocket: ranges as the kernel reports them in
// sock_extended_err (ee_info..ee_data, inclusive), in order, merged, out of order, across the u32 wrap.
[Tier(Tier.Pure)]
public class TxCompletionTrackerTests
{
    private static TxCompletionTracker WithSends(int n)
    {
        var t = new TxCompletionTracker();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal((uint)i, t.Sent());
        }

        return t;
    }

    [Fact]
    public void In_order_completions_advance_the_prefix()
    {
        var t = WithSends(5);
        Assert.Equal(5, t.Outstanding);
        t.Complete(0, 0);
        Assert.True(t.IsCompleted(0));
        Assert.False(t.IsCompleted(1));
        t.Complete(1, 3);
        Assert.Equal(1, t.Outstanding);
        Assert.True(t.IsCompleted(3));
        Assert.False(t.IsCompleted(4));
        t.Complete(4, 4);
        Assert.Equal(0, t.Outstanding);
        Assert.Equal(5u, t.Low);
    }

    [Fact]
    public void Out_of_order_ranges_wait_for_the_gap_then_fold_in()
    {
        var t = WithSends(10);
        t.Complete(6, 7);
        t.Complete(3, 4);
        Assert.Equal(6, t.Outstanding);
        Assert.True(t.IsCompleted(3));
        Assert.True(t.IsCompleted(7));
        Assert.False(t.IsCompleted(5));
        Assert.Equal(0u, t.Low);
        t.Complete(0, 2);
        Assert.Equal(5u, t.Low);
        t.Complete(5, 5);
        Assert.Equal(8u, t.Low);
        Assert.Equal(2, t.Outstanding);
    }

    [Fact]
    public void A_range_repeated_or_overlapping_the_prefix_counts_once()
    {
        var t = WithSends(4);
        t.Complete(0, 2);
        t.Complete(1, 2);
        Assert.Equal(3u, t.Low);
        Assert.Equal(1, t.Outstanding);
    }

    [Fact]
    public void Sequence_numbers_wrap_at_two_to_the_32()
    {
        var t = new TxCompletionTracker(uint.MaxValue - 1);
        Assert.Equal(uint.MaxValue - 1, t.Sent());
        Assert.Equal(uint.MaxValue, t.Sent());
        Assert.Equal(0u, t.Sent());
        Assert.Equal(3, t.Outstanding);
        t.Complete(0, 0);
        Assert.True(t.IsCompleted(0));
        Assert.False(t.IsCompleted(uint.MaxValue));
        Assert.Equal(2, t.Outstanding);
        t.Complete(uint.MaxValue - 1, uint.MaxValue);
        Assert.Equal(0, t.Outstanding);
        Assert.Equal(1u, t.Low);
        Assert.True(t.IsCompleted(uint.MaxValue - 5));
    }
}
