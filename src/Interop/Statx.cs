using System.Runtime.InteropServices;

namespace Devmem.Interop;

// statx(2) on an fd (AT_EMPTY_PATH, path ""), which is fstat without fstat's per-architecture struct stat
// (Libc.Native.cs says why not Tmds.LibC's fstat), and fcntl(2) F_DUPFD_CLOEXEC. Added by the providers
// branch for the memory providers (inode of a dma-buf or memfd; importing a caller's dma-buf fd by dup).

/// <summary>statx(2) mask bits, <c>linux/stat.h</c>.</summary>
[UapiHeader("linux/stat.h")]
public static class linux_stat
{
    /// <summary>Want stx_ino.</summary>
    public const uint STATX_INO = 0x00000100;
    /// <summary>Want stx_size.</summary>
    public const uint STATX_SIZE = 0x00000200;
}

/// <summary>fcntl(2) commands of <c>linux/fcntl.h</c> not declared elsewhere.</summary>
[UapiHeader("linux/fcntl.h")]
public static class linux_fcntl_dupfd
{
    /// <summary>Duplicate the fd to the lowest free number ≥ arg, with FD_CLOEXEC set.</summary>
    public const int F_DUPFD_CLOEXEC = linux_fcntl.F_LINUX_SPECIFIC_BASE + 6;
}

/// <summary><c>struct statx_timestamp</c>, <c>linux/stat.h</c>.</summary>
[UapiHeader("linux/stat.h")]
public struct statx_timestamp
{
    public long tv_sec;
    public uint tv_nsec;
    public int __reserved;
}

/// <summary>
/// <c>struct statx</c>, <c>linux/stat.h</c> (256 bytes on every architecture). Declared up to
/// <c>stx_mnt_id</c>; the tail (stx_dio_*, stx_subvol, atomic-write fields, spares) differs between kernel
/// versions and is not used here, so it is one padding block checked through the struct's size.
/// </summary>
[UapiHeader("linux/stat.h")]
public unsafe struct statx
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
    [Padding] public fixed ulong __tail[13];
}

public static unsafe partial class Libc
{
    /// <summary>
    /// statx(2). For an open fd: <paramref name="dirfd"/> = the fd, <paramref name="pathname"/> = "" (a
    /// pointer to a NUL byte), <paramref name="flags"/> = AT_EMPTY_PATH.
    /// </summary>
    public static SysResult statx(int dirfd, byte* pathname, int flags, uint mask, statx* statxbuf)
    {
        CheckArch();
        return SysResult.FromReturn(StatxNative.statx(dirfd, pathname, flags, mask, statxbuf));
    }

    private static partial class StatxNative
    {
        [LibraryImport(LibraryNames.Libc, EntryPoint = "statx", SetLastError = true)]
        internal static partial int statx(int dirfd, byte* pathname, int flags, uint mask, statx* statxbuf);
    }
}
