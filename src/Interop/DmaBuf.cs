namespace Devmem.Interop;

// dma-buf CPU access and naming (include/uapi/linux/dma-buf.h, drivers/dma-buf/dma-buf.c) and the
// dma-heap allocator (include/uapi/linux/dma-heap.h, drivers/dma-buf/dma-heap.c).

/// <summary>Sync flags and ioctls of <c>linux/dma-buf.h</c>.</summary>
[UapiHeader("linux/dma-buf.h")]
internal static class linux_dma_buf
{
    /// <summary>CPU reads. DMA_BUF_IOCTL_SYNC fails with EINVAL unless READ or WRITE is set.</summary>
    public const ulong DMA_BUF_SYNC_READ = 1 << 0;
    public const ulong DMA_BUF_SYNC_WRITE = 2 << 0;
    public const ulong DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
    /// <summary>Begin CPU access (0: combine with READ and/or WRITE).</summary>
    public const ulong DMA_BUF_SYNC_START = 0 << 2;
    /// <summary>End CPU access.</summary>
    public const ulong DMA_BUF_SYNC_END = 1 << 2;
    public const ulong DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;

    /// <summary>Longest name, NUL included, that DMA_BUF_SET_NAME keeps.</summary>
    public const int DMA_BUF_NAME_LEN = 32;

    public const char DMA_BUF_BASE = 'b';

    /// <summary><c>_IOW(DMA_BUF_BASE, 0, struct dma_buf_sync)</c>.</summary>
    public static readonly uint DMA_BUF_IOCTL_SYNC = asm_ioctl._IOW<dma_buf_sync>(DMA_BUF_BASE, 0);

    /// <summary><c>_IOW(DMA_BUF_BASE, 1, const char *)</c>: the argument is a pointer to a NUL-terminated name.</summary>
    public static readonly uint DMA_BUF_SET_NAME = asm_ioctl._IOW<nint>(DMA_BUF_BASE, 1);
    /// <summary><c>_IOW(DMA_BUF_BASE, 1, __u32)</c>: the same ioctl as a 32-bit process encodes it.</summary>
    public static readonly uint DMA_BUF_SET_NAME_A = asm_ioctl._IOW<uint>(DMA_BUF_BASE, 1);
    /// <summary><c>_IOW(DMA_BUF_BASE, 1, __u64)</c>: the same ioctl as a 64-bit process encodes it.</summary>
    public static readonly uint DMA_BUF_SET_NAME_B = asm_ioctl._IOW<ulong>(DMA_BUF_BASE, 1);
}

/// <summary><c>struct dma_buf_sync</c>: the DMA_BUF_IOCTL_SYNC argument.</summary>
[UapiHeader("linux/dma-buf.h")]
internal struct dma_buf_sync
{
    /// <summary>DMA_BUF_SYNC_START or _END, with READ and/or WRITE.</summary>
    public ulong flags;
}

/// <summary>The allocation ioctl of <c>linux/dma-heap.h</c> (heaps are /dev/dma_heap/NAME).</summary>
[UapiHeader("linux/dma-heap.h")]
[UapiHeader("linux/fcntl.h")]
internal static class linux_dma_heap
{
    /// <summary>The fd_flags a heap accepts: O_CLOEXEC | O_ACCMODE.</summary>
    public const uint DMA_HEAP_VALID_FD_FLAGS = asm_fcntl.O_CLOEXEC | asm_fcntl.O_ACCMODE;
    /// <summary>No heap flags are defined; heap_flags must be 0.</summary>
    public const ulong DMA_HEAP_VALID_HEAP_FLAGS = 0;

    public const char DMA_HEAP_IOC_MAGIC = 'H';

    /// <summary><c>_IOWR(DMA_HEAP_IOC_MAGIC, 0x0, struct dma_heap_allocation_data)</c>: fills in <c>fd</c>.</summary>
    public static readonly uint DMA_HEAP_IOCTL_ALLOC = asm_ioctl._IOWR<dma_heap_allocation_data>(DMA_HEAP_IOC_MAGIC, 0x0);
}

/// <summary><c>struct dma_heap_allocation_data</c>.</summary>
[UapiHeader("linux/dma-heap.h")]
internal struct dma_heap_allocation_data
{
    /// <summary>Size to allocate; rounded up to a page; 0 is EINVAL.</summary>
    public ulong len;
    /// <summary>Out: the dma-buf fd. Must be 0 on input.</summary>
    public uint fd;
    /// <summary>O_CLOEXEC and O_ACCMODE bits for the new fd.</summary>
    public uint fd_flags;
    /// <summary>Must be 0.</summary>
    public ulong heap_flags;
}
