using Devmem.Interop;
using Devmem.Sys;
using static Devmem.Interop.asm_fcntl;
using static Devmem.Interop.linux_dma_heap;

namespace Devmem.Memory;

/// <summary>
/// A dma-buf allocated from a dma-heap, <c>/dev/dma_heap/NAME</c> (drivers/dma-buf/dma-heap.c), by
/// DMA_HEAP_IOCTL_ALLOC. The "system" heap (CONFIG_DMABUF_HEAPS_SYSTEM) hands out ordinary pages, and
/// reports its exporter name as "system".
/// </summary>
public sealed class DmaHeapMemory : DeviceMemory
{
    /// <summary>The folder of heap device nodes.</summary>
    public const string HeapDirectory = "/dev/dma_heap";

    /// <summary>The default heap.</summary>
    public const string SystemHeap = "system";

    private DmaHeapMemory(long size, SafeDmabufHandle dmabuf, SafeMappingHandle mapping, string exporter, ulong inode, string heap)
        : base(MemoryProviderKind.DmaHeap, size, dmabuf, mapping, null, exporter, inode)
    {
        HeapName = heap;
    }

    /// <summary>The heap it came from, e.g. "system".</summary>
    public string HeapName { get; }

    /// <summary>Allocates <paramref name="size"/> bytes (the kernel rounds up to a page) from a heap and maps them.</summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="heap">The heap's name under /dev/dma_heap.</param>
    /// <exception cref="DmabufException">No such heap, permission, or the allocation failed.</exception>
    public static unsafe DmaHeapMemory Allocate(long size, string heap = SystemHeap)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ArgumentException.ThrowIfNullOrEmpty(heap);
        if (heap.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException("a heap name is a file name under /dev/dma_heap, without '/'", nameof(heap));
        }
        string path = HeapDirectory + "/" + heap;
        string missing = Directory.Exists(HeapDirectory)
            ? $"no heap named '{heap}' (present: {string.Join(", ", Directory.GetFiles(HeapDirectory).Select(Path.GetFileName))}); the system heap needs CONFIG_DMABUF_HEAPS_SYSTEM"
            : "this kernel has no dma-heaps: it was built without CONFIG_DMABUF_HEAPS (and CONFIG_DMABUF_HEAPS_SYSTEM for the system heap)";
        using SafeDeviceFileHandle device = Native.OpenDevice(path, missing);

        var dmabuf = new SafeDmabufHandle();
        SafeMappingHandle? mapping = null;
        try
        {
            // dma-heap.c dma_heap_ioctl_allocate: fd and heap_flags must be 0, fd_flags ⊆ O_CLOEXEC|O_ACCMODE.
            // O_RDWR so that the buffer can be mapped writable.
            var data = new dma_heap_allocation_data { len = (ulong)size, fd_flags = (uint)(O_RDWR | O_CLOEXEC) };
            SysResult r = Syscalls.Ioctl(device, DMA_HEAP_IOCTL_ALLOC, &data);
            if (r.IsError)
            {
                throw DmabufException.Syscall($"DMA_HEAP_IOCTL_ALLOC({path}, {size})", r.Errno, r.Errno switch
                {
                    Errno.ENOMEM => "the heap has not enough memory for that size",
                    Errno.EINVAL => "the kernel refused the request (len 0, or flags it does not know)",
                    Errno.ENOTTY => $"{path} is not a dma-heap",
                    _ => null,
                });
            }
            dmabuf.Own((int)data.fd);
            FdInfo info = FdInfo.Read(dmabuf);
            long actual = info.Size ?? Native.RoundUpToPage(size);
            mapping = Native.Map(dmabuf, actual, "dma-heap " + heap);
            return new DmaHeapMemory(actual, dmabuf, mapping, info.ExporterName ?? heap, Native.Inode(dmabuf), heap);
        }
        catch
        {
            mapping?.Dispose();
            dmabuf.Dispose();
            throw;
        }
    }
}
