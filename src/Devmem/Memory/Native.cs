using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;
using Devmem.Sys;
using static Devmem.Interop.asm_fcntl;
using static Devmem.Interop.asm_mman;
using static Devmem.Interop.linux_dma_buf;
using static Devmem.Interop.linux_mman;

namespace Devmem.Memory;

/// <summary>The memory providers' calls, made through <see cref="Syscalls"/>, each turning a failure into a <see cref="DmabufException"/> with the provider's hint.</summary>
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
            r = Syscalls.Open(p, O_RDONLY | O_CLOEXEC);
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
            throw DmabufException.Syscall("open " + path, r.Errno, hint);
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
            r = Syscalls.MemfdCreate(p, linux_memfd.MFD_CLOEXEC | flags);
        }
        if (r.IsError)
        {
            memfd.Dispose();
            throw DmabufException.Syscall("memfd_create", r.Errno,
                r.Errno == Errno.EMFILE || r.Errno == Errno.ENFILE ? "too many open files: raise the limit (ulimit -n) or close fds" : null);
        }
        memfd.Own(r.Int32);
        try
        {
            if (seals != 0)
            {
                // drivers/dma-buf/udmabuf.c check_memfd_seals: F_SEAL_SHRINK required, no WRITE seal.
                SysResult s = Syscalls.Fcntl(memfd, linux_fcntl.F_ADD_SEALS, seals);
                if (s.IsError)
                {
                    throw DmabufException.Syscall("fcntl(F_ADD_SEALS)", s.Errno, "the memfd must be created with MFD_ALLOW_SEALING");
                }
            }
            SysResult t = Syscalls.Ftruncate(memfd, size);
            if (t.IsError)
            {
                throw DmabufException.Syscall($"ftruncate(memfd, {size})", t.Errno,
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

    /// <summary>mmap(2) of <paramref name="length"/> bytes of private anonymous memory, read/write, populated.</summary>
    internal static SafeMappingHandle MapAnonymous(long length)
    {
        var mapping = new SafeMappingHandle();
        SysResult r = Syscalls.MapAnonymous((nuint)length);
        if (r.IsError)
        {
            mapping.Dispose();
            throw DmabufException.Syscall($"mmap(NULL, {length}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE)", r.Errno,
                r.Errno == Errno.ENOMEM ? "not enough memory or address space for the mapping" : null);
        }

        mapping.Own(r.Value, (nuint)length);
        return mapping;
    }

    /// <summary>mmap(2) the whole of <paramref name="fd"/> read/write and MAP_SHARED (udmabuf refuses anything else: EINVAL).</summary>
    internal static SafeMappingHandle Map(SafeHandle fd, long length, string what)
    {
        var mapping = new SafeMappingHandle();
        SysResult r = Syscalls.Mmap(fd, (nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED);
        if (r.IsError)
        {
            mapping.Dispose();
            throw DmabufException.Syscall($"mmap({what}, {length}, PROT_READ|PROT_WRITE, MAP_SHARED)", r.Errno,
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
        // dma_buf_begin_cpu_access may wait on fences and return EINTR/EAGAIN; ncdevmem retries too.
        SysResult r = Syscalls.Ioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &arg, retryEagain: true);
        if (r.IsError)
        {
            throw DmabufException.Syscall($"DMA_BUF_IOCTL_SYNC({(end ? "END" : "START")}|{access.ToString().ToUpperInvariant()})", r.Errno,
                r.Errno == Errno.ENOTTY ? "the fd is not a dma-buf" : null);
        }
    }

    /// <summary>dup the fd close-on-exec (fcntl F_DUPFD_CLOEXEC), into a new dma-buf handle.</summary>
    internal static SafeDmabufHandle Duplicate(SafeHandle fd)
    {
        var copy = new SafeDmabufHandle();
        SysResult r = Syscalls.Fcntl(fd, linux_fcntl.F_DUPFD_CLOEXEC, 0);
        if (r.IsError)
        {
            copy.Dispose();
            throw DmabufException.Syscall("fcntl(F_DUPFD_CLOEXEC)", r.Errno, r.Errno == Errno.EBADF ? "the fd is not open" : null);
        }

        copy.Own(r.Int32);
        return copy;
    }

    /// <summary>The inode number of an open file, from statx(2) on the fd (fstat's answer).</summary>
    internal static ulong Inode(SafeHandle fd)
    {
        statx st = default;
        SysResult r = Syscalls.Fstatx(fd, linux_stat.STATX_INO, &st);
        if (r.IsError)
        {
            throw DmabufException.Syscall("statx(fd, \"\", AT_EMPTY_PATH, STATX_INO)", r.Errno);
        }

        return st.stx_ino;
    }
}
