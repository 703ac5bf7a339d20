namespace Devmem.Interop;

// Memory that backs a udmabuf: memfd_create(2) flags, file seals (fcntl(2) F_ADD_SEALS) and the
// architecture-independent mmap(2) sharing types. PROT_* and MAP_ANONYMOUS etc.: Arch.cs (asm_mman).
// Recipe (drivers/dma-buf/udmabuf.c check_memfd_seals wants F_SEAL_SHRINK and refuses F_SEAL_WRITE and
// F_SEAL_FUTURE_WRITE; udmabuf_create wants page-aligned sizes; the kernel's own test,
// tools/testing/selftests/drivers/dma-buf/udmabuf.c, does the same): memfd_create(MFD_ALLOW_SEALING) →
// fcntl(F_ADD_SEALS, F_SEAL_SHRINK) → ftruncate(page multiple) → UDMABUF_CREATE; no F_SEAL_WRITE.

/// <summary>memfd_create(2) flags, <c>linux/memfd.h</c>.</summary>
[UapiHeader("linux/memfd.h")]
internal static class linux_memfd
{
    public const uint MFD_CLOEXEC = 0x1;
    /// <summary>Allow seals; udmabuf requires F_SEAL_SHRINK, so its memfd needs this.</summary>
    public const uint MFD_ALLOW_SEALING = 0x2;
    public const uint MFD_HUGETLB = 0x4;
    /// <summary>Non-executable and sealed against chmod +x (since 6.3).</summary>
    public const uint MFD_NOEXEC_SEAL = 0x8;
    /// <summary>Executable (since 6.3).</summary>
    public const uint MFD_EXEC = 0x10;

    /// <summary>With MFD_HUGETLB: log2 of the huge page size, shifted (asm-generic/hugetlb_encode.h).</summary>
    public const int MFD_HUGE_SHIFT = 26;
    public const uint MFD_HUGE_MASK = 0x3f;
    public const uint MFD_HUGE_2MB = 21u << MFD_HUGE_SHIFT;
    public const uint MFD_HUGE_1GB = 30u << MFD_HUGE_SHIFT;
}

/// <summary>File-seal commands and seals, <c>linux/fcntl.h</c> (the same on every architecture).</summary>
[UapiHeader("linux/fcntl.h")]
internal static class linux_fcntl
{
    public const int F_LINUX_SPECIFIC_BASE = 1024;
    /// <summary>Duplicate the fd to the lowest free number ≥ arg, with FD_CLOEXEC set.</summary>
    public const int F_DUPFD_CLOEXEC = F_LINUX_SPECIFIC_BASE + 6;
    public const int F_ADD_SEALS = F_LINUX_SPECIFIC_BASE + 9;
    public const int F_GET_SEALS = F_LINUX_SPECIFIC_BASE + 10;

    public const int F_SEAL_SEAL = 0x1;
    /// <summary>Required by UDMABUF_CREATE (else EINVAL).</summary>
    public const int F_SEAL_SHRINK = 0x2;
    public const int F_SEAL_GROW = 0x4;
    /// <summary>Refused by UDMABUF_CREATE (EINVAL).</summary>
    public const int F_SEAL_WRITE = 0x8;
    /// <summary>Refused by UDMABUF_CREATE (EINVAL).</summary>
    public const int F_SEAL_FUTURE_WRITE = 0x10;
    public const int F_SEAL_EXEC = 0x20;

    /// <summary>statx(2)/*at(2): operate on the fd itself when the path is "".</summary>
    public const int AT_EMPTY_PATH = 0x1000;
}

/// <summary>mmap(2) sharing types, <c>linux/mman.h</c> (the same on every architecture). mmap's MAP_FAILED is -1 (<see cref="SysResult.IsError"/>).</summary>
[UapiHeader("linux/mman.h")]
internal static class linux_mman
{
    /// <summary>Required to mmap a udmabuf (EINVAL otherwise).</summary>
    public const int MAP_SHARED = 0x1;
    public const int MAP_PRIVATE = 0x2;
    public const int MAP_SHARED_VALIDATE = 0x3;
}
