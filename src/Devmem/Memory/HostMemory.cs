using Devmem.Interop;

namespace Devmem.Memory;

/// <summary>
/// Plain host memory (a memfd, mapped shared; or, from <see cref="CreateAnonymous"/>, a private anonymous
/// mapping). NOT a dma-buf: it cannot be bound to a NIC with bind-rx,
/// so devmem TCP cannot place payload in it. It serves the copy fallback, where received bytes are copied
/// into ordinary memory because no dma-buf provider works on this machine, and io_uring zero-copy
/// receive (<see cref="Zcrx.ZcrxInstance"/>), whose areas may be host memory. <see cref="DeviceMemory.IsDmabuf"/>
/// is false and <see cref="DeviceMemory.ExporterName"/> is null.
/// </summary>
public sealed class HostMemory : DeviceMemory
{
    private HostMemory(long size, SafeMappingHandle mapping, SafeMemfdHandle? memfd, ulong inode)
        : base(MemoryProviderKind.HostMemory, size, null, mapping, memfd, null, inode)
    {
    }

    /// <summary>The memfd behind the memory (owned by this object).</summary>
    /// <exception cref="InvalidOperationException">The memory came from <see cref="CreateAnonymous"/>, which has no memfd.</exception>
    public System.Runtime.InteropServices.SafeHandle MemfdHandle =>
        Memfd ?? throw new InvalidOperationException("This host memory is an anonymous mapping (HostMemory.CreateAnonymous): it has no memfd. Use HostMemory.Create for memory with a file descriptor.");

    /// <summary>
    /// Creates <paramref name="size"/> bytes (rounded up to a page) of private anonymous memory
    /// (<c>mmap(MAP_PRIVATE | MAP_ANONYMOUS)</c>, populated), with no file descriptor: what the kernel's
    /// <c>iou-zcrx</c> uses for its zcrx area. Cheaper to release than <see cref="Create"/>'s memfd, whose
    /// pages the kernel removes from its page cache one by one when the last reference closes (tens of
    /// milliseconds for a 32 MiB zcrx area on a slow machine); it cannot be shared with another process.
    /// </summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <returns>The memory.</returns>
    /// <exception cref="DmabufException">mmap failed (ENOMEM: not enough memory or address space).</exception>
    public static HostMemory CreateAnonymous(long size)
    {
        long rounded = Native.RoundUpToPage(size > 0 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "The size must be positive."));
        return new HostMemory(rounded, Native.MapAnonymous(rounded), null, 0);
    }

    /// <summary>Creates <paramref name="size"/> bytes (rounded up to a page) of host memory.</summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="name">The memfd's name (shown as <c>/memfd:NAME</c> in /proc/PID/fd and maps).</param>
    /// <exception cref="DmabufException">memfd_create, ftruncate or mmap failed.</exception>
    public static HostMemory Create(long size, string name = "devmem-host") =>
        CreateMemfdBacked(Native.RoundUpToPage(size > 0 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "The size must be positive.")), name, 0);

    /// <summary>
    /// Creates <paramref name="size"/> bytes (rounded up to 2 MiB) of host memory from 2 MiB huge pages
    /// (a memfd with <c>MFD_HUGETLB | MFD_HUGE_2MB</c>): what a zcrx area needs for buffers larger than a
    /// page. Needs that many free huge pages (<c>/proc/sys/vm/nr_hugepages</c>).
    /// </summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="name">The memfd's name.</param>
    /// <returns>The memory.</returns>
    /// <exception cref="DmabufException">Too few free huge pages (said before any call, with the fix), or memfd_create, ftruncate or mmap failed.</exception>
    public static HostMemory CreateHugePages(long size, string name = "devmem-host-huge")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        long rounded = checked((size + UdmabufMemory.HugePageSize - 1) / UdmabufMemory.HugePageSize * UdmabufMemory.HugePageSize);
        UdmabufMemory.RequireFreeHugePages(rounded, "huge-page host memory");
        return CreateMemfdBacked(rounded, name, linux_memfd.MFD_HUGETLB | linux_memfd.MFD_HUGE_2MB);
    }

    private static HostMemory CreateMemfdBacked(long rounded, string name, uint flags)
    {
        SafeMemfdHandle memfd = Native.CreateMemfd(name, flags, rounded, seals: 0);
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
