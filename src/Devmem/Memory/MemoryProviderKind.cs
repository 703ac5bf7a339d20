namespace Devmem.Memory;

/// <summary>Where a <see cref="DeviceMemory"/>'s bytes live and how it was made (ncdevmem's "memory provider").</summary>
public enum MemoryProviderKind
{
    /// <summary>GPU memory exported as a dma-buf by the CUDA driver (cuMemGetHandleForAddressRange).</summary>
    Cuda,
    /// <summary>A udmabuf: memfd pages wrapped as a dma-buf by /dev/udmabuf (CONFIG_UDMABUF).</summary>
    Udmabuf,
    /// <summary>A buffer from a dma-heap, /dev/dma_heap/NAME (CONFIG_DMABUF_HEAPS_SYSTEM for "system").</summary>
    DmaHeap,
    /// <summary>A dma-buf fd made elsewhere and handed in by the caller.</summary>
    Imported,
    /// <summary>Plain host memory (a memfd): NOT a dma-buf; only for the copy fallback.</summary>
    HostMemory,
}

/// <summary>Which direction the CPU accesses a dma-buf in (the READ/WRITE bits of DMA_BUF_IOCTL_SYNC).</summary>
[Flags]
public enum CpuAccess
{
    /// <summary>The CPU reads what a device wrote (DMA_BUF_SYNC_READ).</summary>
    Read = 1,
    /// <summary>The CPU writes what a device will read (DMA_BUF_SYNC_WRITE).</summary>
    Write = 2,
    /// <summary>Both (DMA_BUF_SYNC_RW).</summary>
    ReadWrite = Read | Write,
}
