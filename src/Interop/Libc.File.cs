using T = Tmds.Linux.LibC;

namespace Devmem.Interop;

// close(2), poll(2), ioctl(2), fcntl(2), open(2), read(2), write(2), eventfd(2), pread(2), ftruncate(2).
internal static unsafe partial class Libc
{
    /// <summary>close(2). Whatever it returns, the fd is gone (close(2): do not retry on EINTR).</summary>
    public static SysResult close(int fd)
    {
        CheckArch();
        return SysResult.FromReturn(T.close(fd));
    }

    /// <summary>poll(2): the number of fds with events, 0 on timeout; EINTR when a signal interrupted it.</summary>
    public static SysResult poll(pollfd* fds, nuint nfds, int timeout)
    {
        CheckArch();
        return SysResult.FromReturn(Native.poll(fds, nfds, timeout));
    }

    /// <summary>ioctl(2) with a pointer argument; <paramref name="request"/> as encoded by <see cref="asm_ioctl"/>.</summary>
    public static SysResult ioctl(int fd, uint request, void* arg)
    {
        CheckArch();
        return SysResult.FromReturn(Native.ioctl(fd, request, arg));
    }

    /// <summary>fcntl(2) with an int argument (F_ADD_SEALS, F_SETFD, F_SETFL, F_GET*: pass 0).</summary>
    public static SysResult fcntl(int fd, int cmd, int arg)
    {
        CheckArch();
        return SysResult.FromReturn(T.fcntl(fd, cmd, arg));
    }

    /// <summary>open(2); <paramref name="pathname"/> is a NUL-terminated UTF-8 path.</summary>
    public static SysResult open(byte* pathname, int flags, ushort mode)
    {
        CheckArch();
        return SysResult.FromReturn(T.open(pathname, flags, mode));
    }

    /// <summary>read(2).</summary>
    public static SysResult read(int fd, void* buf, nuint count)
    {
        CheckArch();
        return SysResult.FromReturn((nint)(long)T.read(fd, buf, (Tmds.Linux.size_t)(ulong)count));
    }

    /// <summary>write(2).</summary>
    public static SysResult write(int fd, void* buf, nuint count)
    {
        CheckArch();
        return SysResult.FromReturn((nint)(long)T.write(fd, buf, (Tmds.Linux.size_t)(ulong)count));
    }

    /// <summary>eventfd(2): a new eventfd with counter <paramref name="initval"/>; <paramref name="flags"/> from <see cref="sys_eventfd"/>.</summary>
    public static SysResult eventfd(uint initval, int flags)
    {
        CheckArch();
        return SysResult.FromReturn(T.eventfd(initval, flags));
    }

    /// <summary>pread(2).</summary>
    public static SysResult pread(int fd, void* buf, nuint count, long offset)
    {
        CheckArch();
        return SysResult.FromReturn((nint)(long)T.pread(fd, buf, (Tmds.Linux.size_t)(ulong)count, offset));
    }

    /// <summary>ftruncate(2).</summary>
    public static SysResult ftruncate(int fd, long length)
    {
        CheckArch();
        return SysResult.FromReturn(T.ftruncate(fd, length));
    }
}
