using Devmem.Memory;

namespace Devmem.Receive;

/// <summary>
/// The copy fallback's memory: <see cref="DeviceMemory"/> cut into equal slots, each lent to one fragment
/// until its token (slot + 1, so never 0) is released. One ring per memory (<see cref="For"/>), shared
/// by every copy-fallback socket over it, so two connections never write into the same slot: taking and
/// giving are under one lock, and a slot is lent to one fragment at a time (giving back a slot that is
/// not lent throws). Free slots are a stack, so the most recently released (cache-warm) slot is reused
/// first; taking and giving allocate nothing. A socket that finds every slot held by other sockets waits
/// for a release (<see cref="WaitForFree"/>, <see cref="WaitForFreeAsync"/>), as a zero-copy flow stalls
/// when the NIC runs out of buffers.
/// </summary>
internal sealed class CopyRing
{
    /// <summary>At most this many slots (iovecs) per receive.</summary>
    public const int MaxSlotsPerReceive = 64;

    // A monitor, not a Lock: blocking receivers wait on it for a release.
    private readonly object _lock = new();
    private readonly int[] _free;
    private readonly bool[] _lent;
    private int _freeCount;
    private int _waiters;
    private TaskCompletionSource? _freed;

    private CopyRing(DeviceMemory memory, int slotSize, string reason)
    {
        Memory = memory;
        SlotSize = slotSize;
        Reason = reason;
        SlotCount = (int)Math.Min(memory.Size / slotSize, int.MaxValue - 1);
        _free = new int[SlotCount];
        _lent = new bool[SlotCount];
        for (int i = 0; i < SlotCount; i++)
        {
            _free[i] = SlotCount - 1 - i;
        }

        _freeCount = SlotCount;
    }

    public DeviceMemory Memory { get; }

    public int SlotSize { get; }

    public int SlotCount { get; }

    /// <summary>Why zero copy was not possible, as given by whoever made the ring first.</summary>
    public string Reason { get; }

    public int FreeCount
    {
        get
        {
            lock (_lock)
            {
                return _freeCount;
            }
        }
    }

    /// <summary>
    /// The ring of <paramref name="memory"/>, made on first use with <paramref name="slotSize"/>-byte
    /// slots; <paramref name="created"/> is true for the caller that made it (it logs the fallback once).
    /// </summary>
    /// <exception cref="ArgumentException">The memory already serves the copy fallback with another slot size.</exception>
    public static CopyRing For(DeviceMemory memory, int slotSize, string reason, out bool created)
    {
        created = false;
        CopyRing? ring = Volatile.Read(ref memory.CopyRing);
        if (ring is null)
        {
            var fresh = new CopyRing(memory, slotSize, reason);
            ring = Interlocked.CompareExchange(ref memory.CopyRing, fresh, null) ?? fresh;
            created = ReferenceEquals(ring, fresh);
        }

        if (ring.SlotSize != slotSize)
        {
            throw new ArgumentException(
                $"This {memory.Kind} memory already serves the copy fallback with {ring.SlotSize}-byte slots; every socket over one memory shares its slots, so they must all use {ring.SlotSize}.",
                nameof(slotSize));
        }

        return ring;
    }

    /// <summary>Lends up to <c>slots.Length</c> free slots; returns how many (0 when none is free).</summary>
    public int Take(Span<int> slots)
    {
        lock (_lock)
        {
            int k = Math.Min(slots.Length, _freeCount);
            for (int i = 0; i < k; i++)
            {
                int slot = _free[--_freeCount];
                _lent[slot] = true;
                slots[i] = slot;
            }

            return k;
        }
    }

    /// <summary>Takes back slots that were lent and not used.</summary>
    public void Give(ReadOnlySpan<int> slots)
    {
        lock (_lock)
        {
            foreach (int slot in slots)
            {
                GiveLocked(slot);
            }
        }
    }

    /// <summary>Takes back the slot of a released token (slot + 1).</summary>
    /// <exception cref="InvalidOperationException">The token names no slot, or its slot is not lent.</exception>
    public void Free(uint token)
    {
        int slot = (int)token - 1;
        if ((uint)slot >= (uint)SlotCount)
        {
            throw new InvalidOperationException($"copy-fallback token {token} does not name a slot of this memory");
        }

        lock (_lock)
        {
            GiveLocked(slot);
        }
    }

    /// <summary>Blocks until a slot is free.</summary>
    public void WaitForFree()
    {
        lock (_lock)
        {
            _waiters++;
            try
            {
                while (_freeCount == 0)
                {
                    Monitor.Wait(_lock);
                }
            }
            finally
            {
                _waiters--;
            }
        }
    }

    /// <summary>Completes when a slot is free (allocates only when it has to wait).</summary>
    public Task WaitForFreeAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_freeCount > 0)
            {
                return Task.CompletedTask;
            }

            _freed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _freed.Task.WaitAsync(cancellationToken);
        }
    }

    private void GiveLocked(int slot)
    {
        if (!_lent[slot])
        {
            throw new InvalidOperationException($"copy-fallback slot {slot} is not lent (given back twice: this is a bug in Devmem, please report it)");
        }

        _lent[slot] = false;
        _free[_freeCount++] = slot;
        if (_waiters > 0)
        {
            Monitor.PulseAll(_lock);
        }

        if (_freed is { } freed)
        {
            _freed = null;
            freed.TrySetResult();
        }
    }
}
