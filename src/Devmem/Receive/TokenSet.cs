namespace Devmem.Receive;

/// <summary>
/// The tokens a socket holds: a bitmap, because the kernel allocates them densely from 1, lowest free
/// value first (sk_user_frags is an XA_FLAGS_ALLOC1 xarray, net/ipv4/tcp.c). It grows by doubling, so
/// steady state allocates nothing.
/// </summary>
internal sealed class TokenSet
{
    private ulong[] _words = new ulong[64];

    public long Count { get; private set; }

    /// <summary>Marks a token held; false if it already was (the kernel handed it out twice).</summary>
    public bool Add(uint token)
    {
        uint w = token >> 6;
        ulong[] words = _words;
        if (w >= (uint)words.Length)
        {
            words = Grow(w);
        }

        // One bounds check (w < words.Length) per call: this runs once per received fragment.
        ref ulong word = ref words[w];
        ulong bit = 1UL << (int)(token & 63);
        if ((word & bit) != 0)
        {
            return false;
        }

        word |= bit;
        Count++;
        return true;
    }

    private ulong[] Grow(uint w)
    {
        Array.Resize(ref _words, (int)Math.Max(w + 1, (uint)_words.Length * 2));
        return _words;
    }

    /// <summary>Marks a token given back; false if it was not held.</summary>
    public bool Remove(uint token)
    {
        uint w = token >> 6;
        ulong[] words = _words;
        if (w >= (uint)words.Length)
        {
            return false;
        }

        ref ulong word = ref words[w];
        ulong bit = 1UL << (int)(token & 63);
        if ((word & bit) == 0)
        {
            return false;
        }

        word &= ~bit;
        Count--;
        return true;
    }

    /// <summary>Moves every held token into <paramref name="sink"/> (ascending) and empties the set.</summary>
    public void Drain(List<uint> sink)
    {
        for (int w = 0; w < _words.Length; w++)
        {
            ulong word = _words[w];
            while (word != 0)
            {
                int b = System.Numerics.BitOperations.TrailingZeroCount(word);
                sink.Add((uint)((w << 6) | b));
                word &= word - 1;
            }

            _words[w] = 0;
        }

        Count = 0;
    }
}
