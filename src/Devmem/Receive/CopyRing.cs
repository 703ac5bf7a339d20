using Devmem.Memory;

namespace Devmem.Receive;

/// <summary>
/// The copy fallback's memory: <see cref="DeviceMemory"/> cut into equal slots, each lent to one fragment
/// until its token (slot + 1, so never 0) is released. Free slots are a stack, so the most recently
/// released (cache-warm) slot is reused first; taking and giving allocate nothing.
/// </summary>
internal sealed class CopyRing
{
    /// <summary>At most this many slots (iovecs) per receive.</summary>
    public const int MaxSlotsPerReceive = 64;

    private readonly int[] _free;
    private int _freeCount;

    public CopyRing(DeviceMemory memory, int slotSize, string reason)
    {
        Memory = memory;
        SlotSize = slotSize;
        Reason = reason;
        SlotCount = (int)Math.Min(memory.Size / slotSize, int.MaxValue - 1);
        _free = new int[SlotCount];
        for (int i = 0; i < SlotCount; i++)
        {
            _free[i] = SlotCount - 1 - i;
        }

        _freeCount = SlotCount;
    }

    public DeviceMemory Memory { get; }

    public int SlotSize { get; }

    public int SlotCount { get; }

    public string Reason { get; }

    public int FreeCount => _freeCount;

    public int Take()
    {
        return _free[--_freeCount];
    }

    public void Give(int slot)
    {
        _free[_freeCount++] = slot;
    }

    /// <summary>
    /// Returns the slot of a released token. Which slots are lent is not tracked here: the socket's
    /// held-token set already refuses a token it did not hand out, before this is called.
    /// </summary>
    public void Free(uint token)
    {
        int slot = (int)token - 1;
        if ((uint)slot >= (uint)SlotCount)
        {
            throw new InvalidOperationException($"copy-fallback token {token} does not name a lent slot");
        }

        Give(slot);
    }
}
