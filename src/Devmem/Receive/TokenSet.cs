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
        int w = (int)(token >> 6);
        if (w >= _words.Length)
        {
            Array.Resize(ref _words, Math.Max(w + 1, _words.Length * 2));
        }

        ulong bit = 1UL << (int)(token & 63);
        if ((_words[w] & bit) != 0)
        {
            return false;
        }

        _words[w] |= bit;
        Count++;
        return true;
    }

    /// <summary>Marks a token given back; false if it was not held.</summary>
    public bool Remove(uint token)
    {
        int w = (int)(token >> 6);
        ulong bit = 1UL << (int)(token & 63);
        if (w >= _words.Length || (_words[w] & bit) == 0)
        {
            return false;
        }

        _words[w] &= ~bit;
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
