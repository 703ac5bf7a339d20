namespace Devmem.Interop;

// /dev/udmabuf: a dma-buf made of memfd pages (include/uapi/linux/udmabuf.h, drivers/dma-buf/udmabuf.c).
// Errors (drivers/dma-buf/udmabuf.c: check_memfd_seals, udmabuf_create, udmabuf_ioctl_create_list):
// EBADFD when the fd is not shmem or hugetlb; EINVAL when F_SEAL_SHRINK is missing or a WRITE seal is
// present, when offset/size are not page-aligned or the total is 0 or above the size_limit_mb module
// parameter (64 MiB up to 7.2, INT_MAX from 7.3), or with more than list_limit (1024) items.

/// <summary>Flags and ioctls of <c>linux/udmabuf.h</c>.</summary>
[UapiHeader("linux/udmabuf.h")]
internal static class linux_udmabuf
{
    /// <summary>The dma-buf fd is opened close-on-exec. Other flag bits are ignored.</summary>
    public const uint UDMABUF_FLAGS_CLOEXEC = 0x1;

    /// <summary><c>_IOW('u', 0x42, struct udmabuf_create)</c>: returns the new dma-buf fd.</summary>
    public static readonly uint UDMABUF_CREATE = asm_ioctl._IOW<udmabuf_create>('u', 0x42);

    /// <summary>
    /// <c>_IOW('u', 0x43, struct udmabuf_create_list)</c>: the argument is the header followed by
    /// <c>count</c> <see cref="udmabuf_create_item"/>s (the size encoded covers only the header).
    /// </summary>
    public static readonly uint UDMABUF_CREATE_LIST = asm_ioctl._IOW<udmabuf_create_list>('u', 0x43);
}

/// <summary><c>struct udmabuf_create</c>: one memfd range.</summary>
[UapiHeader("linux/udmabuf.h")]
internal struct udmabuf_create
{
    public uint memfd;
    /// <summary>UDMABUF_FLAGS_CLOEXEC or 0.</summary>
    public uint flags;
    /// <summary>Page-aligned offset in the memfd.</summary>
    public ulong offset;
    /// <summary>Page-aligned size.</summary>
    public ulong size;
}

/// <summary><c>struct udmabuf_create_item</c>: one range of a UDMABUF_CREATE_LIST.</summary>
[UapiHeader("linux/udmabuf.h")]
internal struct udmabuf_create_item
{
    public uint memfd;
    public uint __pad;
    public ulong offset;
    public ulong size;
}

/// <summary>
/// <c>struct udmabuf_create_list</c>: the header; the C struct ends in the flexible array
/// <c>struct udmabuf_create_item list[]</c>, which starts right after it.
/// </summary>
[UapiHeader("linux/udmabuf.h")]
[FlexibleArray("list", typeof(udmabuf_create_item))]
internal struct udmabuf_create_list
{
    public uint flags;
    public uint count;
}
