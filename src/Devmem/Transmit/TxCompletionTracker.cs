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

    // Bytes of each send not yet retired, in send order from _bytesFirst (a ring from _bytesHead);
    // a completed send's entry is -1 until the ones before it complete too.
    private long[] _bytes = new long[64];
    private int _bytesHead;
    private int _bytesCount;
    private uint _bytesFirst;

    /// <summary>A tracker for a socket that has sent nothing (the kernel numbers from 0).</summary>
    public TxCompletionTracker()
    {
    }

    /// <summary>A tracker whose next send is <paramref name="start"/>, everything before it complete (tests of the wrap).</summary>
    internal TxCompletionTracker(uint start)
    {
        Next = start;
        Low = start;
        _bytesFirst = start;
    }

    /// <summary>Bytes of the sends not yet reported complete (what the NIC may still read).</summary>
    public long BytesInFlight { get; private set; }

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

    /// <summary>Counts one successful sendmsg of <paramref name="bytes"/> bytes (positive); returns its sequence number.</summary>
    public uint Sent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        uint seq = Next;
        Next = unchecked(Next + 1);
        if (_bytesCount == _bytes.Length)
        {
            var grown = new long[_bytes.Length * 2];
            for (int i = 0; i < _bytesCount; i++)
            {
                grown[i] = _bytes[(_bytesHead + i) % _bytes.Length];
            }

            _bytes = grown;
            _bytesHead = 0;
        }

        _bytes[(_bytesHead + _bytesCount) % _bytes.Length] = bytes;
        _bytesCount++;
        BytesInFlight += bytes;
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
        RetireBytes(first, last);
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

    // Subtracts the bytes of the sends in [first, last] not counted yet, then drops the completed entries
    // at the front. Numbers outside what was sent (a notification for sends this tracker never saw) are ignored.
    private void RetireBytes(uint first, uint last)
    {
        long from = Math.Max(0L, unchecked((int)(first - _bytesFirst)));
        long to = Math.Min(_bytesCount - 1L, unchecked((int)(last - _bytesFirst)));
        for (long i = from; i <= to; i++)
        {
            ref long entry = ref _bytes[(_bytesHead + (int)i) % _bytes.Length];
            if (entry > 0)
            {
                BytesInFlight -= entry;
                entry = -1;
            }
        }

        while (_bytesCount > 0 && _bytes[_bytesHead] < 0)
        {
            _bytesHead = (_bytesHead + 1) % _bytes.Length;
            _bytesCount--;
            _bytesFirst = unchecked(_bytesFirst + 1);
        }
    }

    private static bool Before(uint a, uint b) => unchecked((int)(a - b)) < 0;
}
