namespace Devmem.Interop;

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
