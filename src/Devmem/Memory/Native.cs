using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;
using static Devmem.Interop.asm_fcntl;
using static Devmem.Interop.asm_mman;
using static Devmem.Interop.linux_dma_buf;
using static Devmem.Interop.linux_mman;

namespace Devmem.Memory;

/// <summary>The system calls the providers share, each turning a failure into a <see cref="DmabufException"/>.</summary>
internal static unsafe class Native
{
    internal static readonly int PageSize = Environment.SystemPageSize;

    internal static long RoundUpToPage(long size) => checked((size + PageSize - 1) / PageSize * PageSize);

    internal static bool IsPageAligned(long value) => value % PageSize == 0;

    /// <summary>open(2) a device node read-only, close-on-exec; errors name the device and what to do.</summary>
    internal static SafeDeviceFileHandle OpenDevice(string path, string missingHint)
    {
        var handle = new SafeDeviceFileHandle();
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        SysResult r;
        fixed (byte* p = name)
        {
            r = Libc.open(p, O_RDONLY | O_CLOEXEC, 0);
        }
        if (r.IsError)
        {
            handle.Dispose();
            string? hint = r.Errno switch
            {
                Errno.ENOENT or Errno.ENODEV or Errno.ENXIO => missingHint,
                Errno.EACCES or Errno.EPERM => $"this user may not open {path}: run as root, or grant access (a udev rule or group for {path})",
                _ => null,
            };
            throw new DmabufException("open " + path, r.Errno, null, hint);
        }
        handle.Own(r.Int32);
        return handle;
    }

    /// <summary>memfd_create(2) with MFD_CLOEXEC plus <paramref name="flags"/>, then ftruncate(2) to <paramref name="size"/>.</summary>
    internal static SafeMemfdHandle CreateMemfd(string name, uint flags, long size, int seals)
    {
        var memfd = new SafeMemfdHandle();
        byte[] n = Encoding.UTF8.GetBytes(name + "\0");
        SysResult r;
        fixed (byte* p = n)
        {
            r = Libc.memfd_create(p, linux_memfd.MFD_CLOEXEC | flags);
        }
        if (r.IsError)
        {
            memfd.Dispose();
            throw new DmabufException("memfd_create", r.Errno, null,
                r.Errno == Errno.EMFILE || r.Errno == Errno.ENFILE ? "too many open files: raise the limit (ulimit -n) or close fds" : null);
        }
        memfd.Own(r.Int32);
        try
        {
            int fd = r.Int32;
            if (seals != 0)
            {
                // drivers/dma-buf/udmabuf.c check_memfd_seals: F_SEAL_SHRINK required, no WRITE seal.
                SysResult s = Libc.fcntl(fd, linux_fcntl.F_ADD_SEALS, seals);
                if (s.IsError)
                {
                    throw new DmabufException("fcntl(F_ADD_SEALS)", s.Errno, null, "the memfd must be created with MFD_ALLOW_SEALING");
                }
            }
            SysResult t = Libc.ftruncate(fd, size);
            if (t.IsError)
            {
                throw new DmabufException($"ftruncate(memfd, {size})", t.Errno, null,
                    t.Errno == Errno.ENOMEM || t.Errno == Errno.EFBIG ? "not enough memory (or RLIMIT_FSIZE) for a memfd of that size" : null);
            }
            return memfd;
        }
        catch
        {
            memfd.Dispose();
            throw;
        }
    }

    /// <summary>mmap(2) the whole of <paramref name="fd"/> read/write and MAP_SHARED (udmabuf refuses anything else: EINVAL).</summary>
    internal static SafeMappingHandle Map(SafeHandle fd, long length, string what)
    {
        var mapping = new SafeMappingHandle();
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            SysResult r = Libc.mmap(null, (nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd.DangerousGetHandle(), 0);
            if (r.IsError)
            {
                mapping.Dispose();
                throw new DmabufException($"mmap({what}, {length}, PROT_READ|PROT_WRITE, MAP_SHARED)", r.Errno, null,
                    r.Errno switch
                    {
                        Errno.EACCES => "the fd is not open for reading and writing",
                        Errno.ENODEV or Errno.EINVAL => "this exporter does not support CPU mmap of its dma-bufs",
                        Errno.ENOMEM => "not enough address space or memory for the mapping",
                        _ => null,
                    });
            }
            mapping.Own(r.Value, (nuint)length);
            return mapping;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    /// <summary>DMA_BUF_IOCTL_SYNC with START or END and the access bits (drivers/dma-buf/dma-buf.c dma_buf_ioctl: EINVAL without READ or WRITE).</summary>
    internal static void Sync(SafeDmabufHandle dmabuf, CpuAccess access, bool end)
    {
        ulong flags = (end ? DMA_BUF_SYNC_END : DMA_BUF_SYNC_START) |
            ((access & CpuAccess.Read) != 0 ? DMA_BUF_SYNC_READ : 0) |
            ((access & CpuAccess.Write) != 0 ? DMA_BUF_SYNC_WRITE : 0);
        if ((flags & DMA_BUF_SYNC_RW) == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(access), access, "DMA_BUF_IOCTL_SYNC needs Read, Write or both (the kernel rejects START or END alone with EINVAL)");
        }
        var arg = new dma_buf_sync { flags = flags };
        bool added = false;
        try
        {
            dmabuf.DangerousAddRef(ref added);
            SysResult r;
            do
            {
                // dma_buf_begin_cpu_access may wait on fences and return EINTR/EAGAIN; ncdevmem retries too.
                r = Libc.ioctl((int)dmabuf.DangerousGetHandle(), DMA_BUF_IOCTL_SYNC, &arg);
            }
            while (r.IsError && (r.Errno == Errno.EINTR || r.Errno == Errno.EAGAIN));
            if (r.IsError)
            {
                throw new DmabufException($"DMA_BUF_IOCTL_SYNC({(end ? "END" : "START")}|{access.ToString().ToUpperInvariant()})", r.Errno, null,
                    r.Errno == Errno.ENOTTY ? "the fd is not a dma-buf" : null);
            }
        }
        finally
        {
            if (added)
            {
                dmabuf.DangerousRelease();
            }
        }
    }

    /// <summary>dup the fd close-on-exec (fcntl F_DUPFD_CLOEXEC), into a new dma-buf handle.</summary>
    internal static SafeDmabufHandle Duplicate(SafeHandle fd)
    {
        var copy = new SafeDmabufHandle();
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            SysResult r = Libc.fcntl((int)fd.DangerousGetHandle(), linux_fcntl.F_DUPFD_CLOEXEC, 0);
            if (r.IsError)
            {
                copy.Dispose();
                throw new DmabufException("fcntl(F_DUPFD_CLOEXEC)", r.Errno, null, r.Errno == Errno.EBADF ? "the fd is not open" : null);
            }
            copy.Own(r.Int32);
            return copy;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    /// <summary>The inode number of an open file, from statx(2) on the fd (fstat's answer).</summary>
    internal static ulong Inode(SafeHandle fd)
    {
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            statx st = default;
            SysResult r = Libc.fstatx((int)fd.DangerousGetHandle(), linux_stat.STATX_INO, &st);
            if (r.IsError)
            {
                throw new DmabufException("statx(fd, \"\", AT_EMPTY_PATH, STATX_INO)", r.Errno, null, null);
            }
            return st.stx_ino;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    /// <summary>Reads a number from a sysfs file; null when the file does not exist or does not parse.</summary>
    internal static long? ReadSysfsNumber(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
