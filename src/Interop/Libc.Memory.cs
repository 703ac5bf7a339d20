using T = Tmds.Linux.LibC;

namespace Devmem.Interop;

// memfd_create(2), mmap(2), munmap(2).
internal static unsafe partial class Libc
{
    /// <summary>memfd_create(2); <paramref name="name"/> is NUL-terminated (shown in /proc/PID/fd as memfd:NAME).</summary>
    public static SysResult memfd_create(byte* name, uint flags)
    {
        CheckArch();
        return SysResult.FromReturn(T.memfd_create(name, flags));
    }

    /// <summary>mmap(2): the address on success (MAP_FAILED, -1, on failure).</summary>
    public static SysResult mmap(void* addr, nuint length, int prot, int flags, int fd, long offset)
    {
        CheckArch();
        return SysResult.FromReturn((nint)T.mmap(addr, (Tmds.Linux.size_t)(ulong)length, prot, flags, fd, offset));
    }

    /// <summary>munmap(2).</summary>
    public static SysResult munmap(void* addr, nuint length)
    {
        CheckArch();
        return SysResult.FromReturn(T.munmap(addr, (Tmds.Linux.size_t)(ulong)length));
    }
}
