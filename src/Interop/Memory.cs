namespace Devmem.Interop;

// Memory that backs a udmabuf: memfd_create(2) flags, file seals (fcntl(2) F_ADD_SEALS) and the
// architecture-independent mmap(2) sharing types; statx(2) (linux/stat.h) follows below. PROT_* and MAP_ANONYMOUS etc.: Arch.cs (asm_mman).
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

// statx(2), include/uapi/linux/stat.h. This project uses statx rather than fstat(2): glibc's struct stat
// differs between x86_64 and arm64 (bits/struct_stat.h), while struct statx is the same everywhere.

/// <summary>statx masks and file-type bits of <c>linux/stat.h</c>.</summary>
[UapiHeader("linux/stat.h")]
internal static class linux_stat
{
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_MODE = 0x2;
    public const uint STATX_NLINK = 0x4;
    public const uint STATX_UID = 0x8;
    public const uint STATX_GID = 0x10;
    public const uint STATX_INO = 0x100;
    public const uint STATX_SIZE = 0x200;
    public const uint STATX_BASIC_STATS = 0x7ff;
}

/// <summary>
/// File-type bits of <c>stx_mode</c>, from glibc's <c>&lt;sys/stat.h&gt;</c> (linux/stat.h hides its own
/// copies from glibc programs).
/// </summary>
[UapiHeader("sys/stat.h")]
internal static class sys_stat
{
    public const int S_IFMT = 0xf000;
    public const int S_IFREG = 0x8000;
    public const int S_IFCHR = 0x2000;
    public const int S_IFDIR = 0x4000;
}

/// <summary><c>struct statx_timestamp</c>.</summary>
[UapiHeader("linux/stat.h")]
internal struct statx_timestamp
{
    public long tv_sec;
    public uint tv_nsec;
    public int __reserved;
}

/// <summary>
/// <c>struct statx</c> (256 bytes), declared up to <c>stx_atomic_write_segments_max</c> (all in 6.12);
/// what newer kernels added after it (stx_dio_read_offset_align, stx_atomic_write_unit_max_opt) is
/// left in the spare area.
/// </summary>
[UapiHeader("linux/stat.h")]
internal unsafe struct statx
{
    public uint stx_mask;
    public uint stx_blksize;
    public ulong stx_attributes;
    public uint stx_nlink;
    public uint stx_uid;
    public uint stx_gid;
    public ushort stx_mode;
    [Padding] public ushort __spare0;
    public ulong stx_ino;
    public ulong stx_size;
    public ulong stx_blocks;
    public ulong stx_attributes_mask;
    public statx_timestamp stx_atime;
    public statx_timestamp stx_btime;
    public statx_timestamp stx_ctime;
    public statx_timestamp stx_mtime;
    public uint stx_rdev_major;
    public uint stx_rdev_minor;
    public uint stx_dev_major;
    public uint stx_dev_minor;
    public ulong stx_mnt_id;
    public uint stx_dio_mem_align;
    public uint stx_dio_offset_align;
    public ulong stx_subvol;
    public uint stx_atomic_write_unit_min;
    public uint stx_atomic_write_unit_max;
    public uint stx_atomic_write_segments_max;
    [Padding] public fixed byte __spare[72];
}

internal static unsafe partial class Libc
{
    /// <summary>statx(2); <paramref name="pathname"/> is NUL-terminated UTF-8.</summary>
    public static SysResult statx(int dirfd, byte* pathname, int flags, uint mask, statx* statxbuf)
    {
        CheckArch();
        return SysResult.FromReturn(Native.statx(dirfd, pathname, flags, mask, statxbuf));
    }

    /// <summary>fstat(2) done with statx(2): <c>statx(fd, "", AT_EMPTY_PATH, mask, buf)</c>.</summary>
    public static SysResult fstatx(int fd, uint mask, statx* statxbuf)
    {
        CheckArch();
        byte empty = 0;
        return SysResult.FromReturn(Native.statx(fd, &empty, linux_fcntl.AT_EMPTY_PATH, mask, statxbuf));
    }
}
