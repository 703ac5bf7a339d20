namespace Devmem.Transmit;

/// <summary>
/// Which zerocopy sends are complete, in serial-number arithmetic (the kernel's u32 counter wraps):
/// every send below <see cref="Low"/> is complete, <see cref="Next"/> is the number the next send gets,
/// and ranges completed out of order above <see cref="Low"/> are kept sorted until the gap closes.
/// The kernel usually completes in order and merges adjacent notifications (net/core/skbuff.c
/// <c>__msg_zerocopy_callback</c>), so the list stays empty and nothing is allocated.
/// </summary>
internal sealed class TxCompletionTracker
{
    private readonly List<(uint First, uint Last)> _ahead = new(16);

    /// <summary>A tracker for a socket that has sent nothing (the kernel numbers from 0).</summary>
    public TxCompletionTracker()
    {
    }

    /// <summary>A tracker whose next send is <paramref name="start"/>, everything before it complete (tests of the wrap).</summary>
    internal TxCompletionTracker(uint start)
    {
        Next = start;
        Low = start;
    }

    public uint Next { get; private set; }

    public uint Low { get; private set; }

    public long Outstanding
    {
        get
        {
            long n = unchecked(Next - Low);
            foreach (var (first, last) in _ahead)
            {
                n -= (long)unchecked(last - first) + 1;
            }

            return n;
        }
    }

    /// <summary>Counts one successful sendmsg; returns its sequence number.</summary>
    public uint Sent()
    {
        uint seq = Next;
        Next = unchecked(Next + 1);
        return seq;
    }

    public bool IsCompleted(uint sequence)
    {
        if (Before(sequence, Low))
        {
            return true;
        }

        foreach (var (first, last) in _ahead)
        {
            if (!Before(sequence, first) && !Before(last, sequence))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Records the completed range [first, last] (inclusive).</summary>
    public void Complete(uint first, uint last)
    {
        if (!Before(Low, first))
        {
            // Touches or overlaps the completed prefix.
            if (!Before(last, Low))
            {
                Low = unchecked(last + 1);
            }
        }
        else
        {
            int at = 0;
            while (at < _ahead.Count && Before(_ahead[at].First, first))
            {
                at++;
            }

            _ahead.Insert(at, (first, last));
        }

        // Fold ranges that now touch the completed prefix.
        while (_ahead.Count > 0 && !Before(Low, _ahead[0].First))
        {
            if (!Before(_ahead[0].Last, Low))
            {
                Low = unchecked(_ahead[0].Last + 1);
            }

            _ahead.RemoveAt(0);
        }
    }

    private static bool Before(uint a, uint b) => unchecked((int)(a - b)) < 0;
}
