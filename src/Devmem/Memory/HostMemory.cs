namespace Devmem.Memory;

/// <summary>
/// Plain host memory (a memfd, mapped shared). NOT a dma-buf: it cannot be bound to a NIC, so devmem TCP
/// cannot place payload in it. It exists only for the copy fallback, where received bytes are copied
/// into ordinary memory because no dma-buf provider works on this machine; <see cref="DeviceMemory.IsDmabuf"/>
/// is false and <see cref="DeviceMemory.ExporterName"/> is null.
/// </summary>
public sealed class HostMemory : DeviceMemory
{
    private HostMemory(long size, SafeMappingHandle mapping, SafeMemfdHandle memfd, ulong inode)
        : base(MemoryProviderKind.HostMemory, size, null, mapping, memfd, null, inode)
    {
    }

    /// <summary>The memfd behind the memory (owned by this object).</summary>
    public System.Runtime.InteropServices.SafeHandle MemfdHandle => Memfd!;

    /// <summary>Creates <paramref name="size"/> bytes (rounded up to a page) of host memory.</summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="name">The memfd's name (shown as <c>/memfd:NAME</c> in /proc/PID/fd and maps).</param>
    /// <exception cref="DmabufException">memfd_create, ftruncate or mmap failed.</exception>
    public static HostMemory Create(long size, string name = "devmem-host")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        long rounded = Native.RoundUpToPage(size);
        SafeMemfdHandle memfd = Native.CreateMemfd(name, 0, rounded, seals: 0);
        try
        {
            SafeMappingHandle mapping = Native.Map(memfd, rounded, "memfd");
            return new HostMemory(rounded, mapping, memfd, Native.Inode(memfd));
        }
        catch
        {
            memfd.Dispose();
            throw;
        }
    }
}
