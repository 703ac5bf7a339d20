using Devmem.Transmit;

namespace Devmem.Tests.Transmit;

// The completed-range bookkeeping behind DevmemTxSocket: ranges as the kernel reports them in
// sock_extended_err (ee_info..ee_data, inclusive), in order, merged, out of order, across the u32 wrap.
[Tier(Tier.Pure)]
public class TxCompletionTrackerTests
{
    // Send i carries 100 * (i + 1) bytes, so a wrong subtraction shows as a wrong total.
    private static long BytesOf(uint sequence) => 100L * (sequence + 1);

    private static TxCompletionTracker WithSends(int n)
    {
        var t = new TxCompletionTracker();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal((uint)i, t.Sent(BytesOf((uint)i)));
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
        Assert.Equal(uint.MaxValue - 1, t.Sent(10));
        Assert.Equal(uint.MaxValue, t.Sent(20));
        Assert.Equal(0u, t.Sent(40));
        Assert.Equal(70, t.BytesInFlight);
        Assert.Equal(3, t.Outstanding);
        t.Complete(0, 0);
        Assert.True(t.IsCompleted(0));
        Assert.False(t.IsCompleted(uint.MaxValue));
        Assert.Equal(2, t.Outstanding);
        Assert.Equal(30, t.BytesInFlight);
        t.Complete(uint.MaxValue - 1, uint.MaxValue);
        Assert.Equal(0, t.Outstanding);
        Assert.Equal(0, t.BytesInFlight);
        Assert.Equal(1u, t.Low);
        Assert.True(t.IsCompleted(uint.MaxValue - 5));
    }

    [Fact]
    public void Bytes_in_flight_count_each_send_until_its_own_completion_in_any_order()
    {
        var t = WithSends(10);
        long all = Enumerable.Range(0, 10).Sum(i => BytesOf((uint)i));
        Assert.Equal(all, t.BytesInFlight);
        t.Complete(6, 7);
        Assert.Equal(all - BytesOf(6) - BytesOf(7), t.BytesInFlight);
        t.Complete(6, 8);   // 6 and 7 again: counted once
        Assert.Equal(all - BytesOf(6) - BytesOf(7) - BytesOf(8), t.BytesInFlight);
        t.Complete(0, 5);
        Assert.Equal(BytesOf(9), t.BytesInFlight);
        t.Complete(9, 9);
        Assert.Equal(0, t.BytesInFlight);
        t.Complete(20, 30);   // never sent: ignored
        Assert.Equal(0, t.BytesInFlight);
        Assert.Equal(10u, t.Sent(5));
        Assert.Equal(5, t.BytesInFlight);
    }

    [Fact]
    public void Bytes_in_flight_survive_the_ring_growing_past_its_first_size()
    {
        var t = new TxCompletionTracker();
        long sum = 0;
        for (uint i = 0; i < 1000; i++)
        {
            t.Sent(BytesOf(i));
            sum += BytesOf(i);
            if (i % 7 == 6)
            {
                // Complete every other older send out of order, so the ring keeps holes while it grows.
                t.Complete(i - 3, i - 3);
                sum -= BytesOf(i - 3);
            }
        }

        Assert.Equal(sum, t.BytesInFlight);
        t.Complete(0, 999);
        Assert.Equal(0, t.BytesInFlight);
        Assert.Equal(0, t.Outstanding);
    }
}
