using T = Tmds.Linux.LibC;

namespace Devmem.Interop;

// socket(2), bind(2), connect(2), getsockname(2), setsockopt(2)/getsockopt(2), send(2)/recv(2) family.
internal static unsafe partial class Libc
{
    /// <summary>socket(2): a new socket fd.</summary>
    public static SysResult socket(int domain, int type, int protocol)
    {
        CheckArch();
        return SysResult.FromReturn(T.socket(domain, type, protocol));
    }

    /// <summary>bind(2); <paramref name="addr"/> points at a sockaddr_* of <paramref name="addrlen"/> bytes.</summary>
    public static SysResult bind(int fd, void* addr, uint addrlen)
    {
        CheckArch();
        return SysResult.FromReturn(T.bind(fd, (Tmds.Linux.sockaddr*)addr, addrlen));
    }

    /// <summary>connect(2).</summary>
    public static SysResult connect(int fd, void* addr, uint addrlen)
    {
        CheckArch();
        return SysResult.FromReturn(T.connect(fd, (Tmds.Linux.sockaddr*)addr, addrlen));
    }

    /// <summary>listen(2).</summary>
    public static SysResult listen(int fd, int backlog)
    {
        CheckArch();
        return SysResult.FromReturn(T.listen(fd, backlog));
    }

    /// <summary>accept4(2): a new connected socket fd; <paramref name="addr"/> may be null.</summary>
    public static SysResult accept4(int fd, void* addr, uint* addrlen, int flags)
    {
        CheckArch();
        return SysResult.FromReturn(T.accept4(fd, (Tmds.Linux.sockaddr*)addr, (Tmds.Linux.socklen_t*)addrlen, flags));
    }

    /// <summary>shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.</summary>
    public static SysResult shutdown(int fd, int how)
    {
        CheckArch();
        return SysResult.FromReturn(T.shutdown(fd, how));
    }

    /// <summary>getsockname(2); <paramref name="addrlen"/> is the buffer size in, the address size out.</summary>
    public static SysResult getsockname(int fd, void* addr, uint* addrlen)
    {
        CheckArch();
        return SysResult.FromReturn(T.getsockname(fd, (Tmds.Linux.sockaddr*)addr, (Tmds.Linux.socklen_t*)addrlen));
    }

    /// <summary>
    /// setsockopt(2). The value is returned as is: SO_DEVMEM_DONTNEED returns the number of tokens freed
    /// (≥ 0), not 0 (net/core/sock.c sock_devmem_dontneed).
    /// </summary>
    public static SysResult setsockopt(int fd, int level, int optname, void* optval, uint optlen)
    {
        CheckArch();
        return SysResult.FromReturn(T.setsockopt(fd, level, optname, optval, optlen));
    }

    /// <summary>getsockopt(2); <paramref name="optlen"/> is the buffer size in, the value size out.</summary>
    public static SysResult getsockopt(int fd, int level, int optname, void* optval, uint* optlen)
    {
        CheckArch();
        return SysResult.FromReturn(T.getsockopt(fd, level, optname, optval, (Tmds.Linux.socklen_t*)optlen));
    }

    /// <summary>sendto(2); <paramref name="addr"/> may be null (then <paramref name="addrlen"/> is 0).</summary>
    public static SysResult sendto(int fd, void* buf, nuint len, int flags, void* addr, uint addrlen)
    {
        CheckArch();
        return SysResult.FromReturn((nint)(long)T.sendto(fd, buf, (Tmds.Linux.size_t)(ulong)len, flags, (Tmds.Linux.sockaddr*)addr, addrlen));
    }

    /// <summary>recv(2).</summary>
    public static SysResult recv(int fd, void* buf, nuint len, int flags)
    {
        CheckArch();
        return SysResult.FromReturn((nint)(long)T.recv(fd, buf, (Tmds.Linux.size_t)(ulong)len, flags));
    }

    /// <summary>sendmsg(2).</summary>
    public static SysResult sendmsg(int fd, msghdr* msg, int flags)
    {
        CheckArch();
        return SysResult.FromReturn(Native.sendmsg(fd, msg, flags));
    }

    /// <summary>
    /// recvmsg(2). With MSG_SOCK_DEVMEM, the return value is the sum of the fragments' sizes (dma-buf
    /// bytes included), and a control buffer too small for even one devmem cmsg fails with ETOOSMALL.
    /// </summary>
    public static SysResult recvmsg(int fd, msghdr* msg, int flags)
    {
        CheckArch();
        return SysResult.FromReturn(Native.recvmsg(fd, msg, flags));
    }
}
