using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Sys;

/// <summary>
/// The one door from <c>src/Devmem</c> to the kernel, on the model of dotnet/runtime's
/// <c>SocketPal.Unix</c>: every system call the library makes is made here, and nowhere else calls
/// <see cref="Libc"/> or takes a handle's reference by hand.
/// </summary>
/// <remarks>
/// <para>The rules, the same for every call:</para>
/// <list type="bullet">
/// <item><b>Handles, not numbers.</b> A call takes the <see cref="SafeHandle"/> and holds its reference for
/// the call (<see cref="Enter"/>), so a concurrent Dispose cannot close the fd, nor a new open reuse its
/// number, while the kernel works on it.</item>
/// <item><b>One EINTR rule.</b> A call a signal interrupted is made again with the caller's arguments as
/// they were (recvmsg's header restored), without limit: the rule of dotnet/runtime's
/// <c>pal_networking.c</c> and glibc's <c>TEMP_FAILURE_RETRY</c>. EINTR before a zerocopy sendmsg queued
/// anything gives its sequence number back (net/core/skbuff.c <c>msg_zerocopy_put_abort</c>), so that
/// retry keeps the numbering too. Two calls differ: <c>close</c> is never retried (the fd is gone whatever
/// it returns, close(2)), and <c>poll</c> with a finite timeout returns as a timeout (0), leaving the
/// deadline to the caller.</item>
/// <item><b>errno once.</b> Each call returns a <see cref="SysResult"/> holding errno as the typed
/// <see cref="Errno"/>, read right after the call.</item>
/// <item><b>Failures become the library's exceptions</b> at the caller, which knows the operation: one of
/// the named factories of the <see cref="DevmemIOException"/> family (<c>DevmemException.Syscall</c>,
/// <c>DmabufException.Syscall</c>, <c>EthtoolIoctlException.Failed</c>...). <see cref="Failure"/> does it
/// for socket calls with nothing more to say than the hints every such call shares.</item>
/// </list>
/// </remarks>
internal static unsafe class Syscalls
{
    /// <summary>Takes <paramref name="handle"/>'s reference until the lease is disposed; <see cref="ObjectDisposedException"/> if it is closed.</summary>
    internal static FdLease Enter(SafeHandle handle) => new(handle);

    /// <summary>
    /// Takes <paramref name="handle"/>'s reference until <see cref="FdHold.Dispose"/>, for a descriptor the
    /// kernel goes on using after the call that named it returns (an io_uring request armed on a socket);
    /// <see cref="ObjectDisposedException"/> if it is closed.
    /// </summary>
    internal static FdHold Hold(SafeHandle handle) => new(handle);

    /// <summary>A <see cref="DevmemException"/> for <paramref name="operation"/>, with the hints any socket call shares (fd limits, privileges).</summary>
    internal static DevmemException Failure(string operation, Errno errno) => DevmemException.Syscall(operation, errno, errno switch
    {
        Errno.EMFILE or Errno.ENFILE => "too many open files: raise the limit (ulimit -n) or close fds",
        Errno.EPERM or Errno.EACCES => "run as root or with CAP_NET_ADMIN",
        _ => null,
    });

    // ---- Calls that create a descriptor (no handle yet: the caller wraps the number with Own) ----

    internal static SysResult Socket(int domain, int type, int protocol) => Libc.socket(domain, type, protocol);

    internal static SysResult Open(byte* path, int flags)
    {
        SysResult r;
        while ((r = Libc.open(path, flags, 0)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult MemfdCreate(byte* name, uint flags) => Libc.memfd_create(name, flags);

    /// <summary>close(2), once: whatever it returns, the descriptor is gone.</summary>
    internal static bool Close(int fd) => !Libc.close(fd).IsError;

    internal static bool Unmap(void* address, nuint length) => !Libc.munmap(address, length).IsError;

    // ---- Calls on a handle ----

    internal static SysResult Bind(SafeHandle socket, void* address, uint length)
    {
        using var fd = Enter(socket);
        return Libc.bind(fd.Fd, address, length);
    }

    internal static SysResult GetSockName(SafeHandle socket, void* address, uint* length)
    {
        using var fd = Enter(socket);
        return Libc.getsockname(fd.Fd, address, length);
    }

    internal static SysResult SetSockOpt(SafeHandle socket, int level, int name, void* value, uint length)
    {
        using var fd = Enter(socket);
        SysResult r;
        while ((r = Libc.setsockopt(fd.Fd, level, name, value, length)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult GetSockOpt(SafeHandle socket, int level, int name, void* value, uint* length)
    {
        using var fd = Enter(socket);
        return Libc.getsockopt(fd.Fd, level, name, value, length);
    }

    /// <summary>recvmsg(2); on EINTR the caller's header is restored before the call is made again. On return <paramref name="msg"/> holds what the kernel wrote.</summary>
    internal static SysResult RecvMsg(SafeHandle socket, ref msghdr msg, int flags)
    {
        msghdr request = msg;
        using var fd = Enter(socket);
        while (true)
        {
            SysResult r;
            fixed (msghdr* m = &msg)
            {
                r = Libc.recvmsg(fd.Fd, m, flags);
            }

            if (!r.IsError || r.Errno != Errno.EINTR)
            {
                return r;
            }

            msg = request;
        }
    }

    /// <summary>sendmsg(2), made again on EINTR with the same header.</summary>
    internal static SysResult SendMsg(SafeHandle socket, msghdr* msg, int flags)
    {
        using var fd = Enter(socket);
        SysResult r;
        while ((r = Libc.sendmsg(fd.Fd, msg, flags)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult SendTo(SafeHandle socket, void* buffer, nuint length, int flags, void* address, uint addressLength)
    {
        using var fd = Enter(socket);
        SysResult r;
        while ((r = Libc.sendto(fd.Fd, buffer, length, flags, address, addressLength)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult Recv(SafeHandle socket, void* buffer, nuint length, int flags)
    {
        using var fd = Enter(socket);
        SysResult r;
        while ((r = Libc.recv(fd.Fd, buffer, length, flags)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    /// <summary>
    /// poll(2) on one handle. With an infinite timeout (-1) EINTR makes the call again; with a finite one
    /// it returns 0 (a timeout) and the caller's deadline decides. <paramref name="revents"/> is what the
    /// kernel reported.
    /// </summary>
    internal static SysResult Poll(SafeHandle handle, short events, int timeoutMs, out short revents)
    {
        using var fd = Enter(handle);
        var p = new pollfd { fd = fd.Fd, events = events };
        while (true)
        {
            SysResult r = Libc.poll(&p, 1, timeoutMs);
            if (!r.IsError || r.Errno != Errno.EINTR)
            {
                revents = p.revents;
                return r;
            }

            if (timeoutMs >= 0)
            {
                revents = 0;
                return SysResult.Ok(0);
            }
        }
    }

    /// <summary>
    /// poll(2) on <paramref name="handle"/> for <paramref name="events"/> and on <paramref name="wake"/> (an
    /// eventfd) for POLLIN, without a timeout; EINTR makes the call again. <paramref name="woken"/> says the
    /// eventfd was signalled.
    /// </summary>
    internal static SysResult PollOrWake(SafeHandle handle, short events, SafeHandle wake, out short revents, out bool woken)
    {
        using var fd = Enter(handle);
        using var wakeFd = Enter(wake);
        pollfd* p = stackalloc pollfd[2];
        while (true)
        {
            p[0] = new pollfd { fd = fd.Fd, events = events };
            p[1] = new pollfd { fd = wakeFd.Fd, events = sys_poll.POLLIN };
            SysResult r = Libc.poll(p, 2, -1);
            if (!r.IsError || r.Errno != Errno.EINTR)
            {
                revents = p[0].revents;
                woken = p[1].revents != 0;
                return r;
            }
        }
    }

    internal static SysResult EventFd(uint initial, int flags) => Libc.eventfd(initial, flags);

    /// <summary>read(2), made again on EINTR.</summary>
    internal static SysResult Read(SafeHandle handle, void* buffer, nuint length)
    {
        using var fd = Enter(handle);
        SysResult r;
        while ((r = Libc.read(fd.Fd, buffer, length)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    /// <summary>write(2), made again on EINTR.</summary>
    internal static SysResult Write(SafeHandle handle, void* buffer, nuint length)
    {
        using var fd = Enter(handle);
        SysResult r;
        while ((r = Libc.write(fd.Fd, buffer, length)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    /// <summary>ioctl(2), made again on EINTR (and, for <paramref name="retryEagain"/>, on EAGAIN: DMA_BUF_IOCTL_SYNC may wait on fences).</summary>
    internal static SysResult Ioctl(SafeHandle handle, uint request, void* argument, bool retryEagain = false)
    {
        using var fd = Enter(handle);
        SysResult r;
        while ((r = Libc.ioctl(fd.Fd, request, argument)).IsError && (r.Errno == Errno.EINTR || (retryEagain && r.Errno == Errno.EAGAIN)))
        {
        }

        return r;
    }

    internal static SysResult Fcntl(SafeHandle handle, int command, int argument)
    {
        using var fd = Enter(handle);
        SysResult r;
        while ((r = Libc.fcntl(fd.Fd, command, argument)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult Ftruncate(SafeHandle handle, long length)
    {
        using var fd = Enter(handle);
        SysResult r;
        while ((r = Libc.ftruncate(fd.Fd, length)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult Mmap(SafeHandle handle, nuint length, int protection, int flags)
    {
        using var fd = Enter(handle);
        return Libc.mmap(null, length, protection, flags, fd.Fd, 0);
    }

    /// <summary>mmap(2) of <paramref name="length"/> bytes of <paramref name="handle"/> at <paramref name="offset"/>, read/write, MAP_SHARED|MAP_POPULATE (an io_uring's rings).</summary>
    internal static SysResult MapShared(SafeHandle handle, nuint length, long offset)
    {
        using var fd = Enter(handle);
        return Libc.mmap(null, length, asm_mman.PROT_READ | asm_mman.PROT_WRITE, linux_mman.MAP_SHARED | asm_mman.MAP_POPULATE, fd.Fd, offset);
    }

    /// <summary>mmap(2) of <paramref name="length"/> bytes of zeroed anonymous memory, read/write, private.</summary>
    internal static SysResult MapAnonymous(nuint length) =>
        Libc.mmap(null, length, asm_mman.PROT_READ | asm_mman.PROT_WRITE, linux_mman.MAP_PRIVATE | asm_mman.MAP_ANONYMOUS | asm_mman.MAP_POPULATE, -1, 0);

    // ---- io_uring (src/Devmem/Zcrx) ----

    /// <summary>io_uring_setup(2): the new ring's fd (the caller owns it).</summary>
    internal static SysResult IoUringSetup(uint entries, io_uring_params* parameters) => Libc.io_uring_setup(entries, parameters);

    /// <summary>
    /// io_uring_enter(2). EINTR is returned, not retried: what was submitted before the signal is already
    /// consumed from the SQ ring, so the caller re-reads the rings and calls again with what is left.
    /// </summary>
    internal static SysResult IoUringEnter(SafeHandle ring, uint toSubmit, uint minComplete, uint flags)
    {
        using var fd = Enter(ring);
        return Libc.io_uring_enter(fd.Fd, toSubmit, minComplete, flags);
    }

    /// <summary>io_uring_register(2) on <paramref name="ring"/>, made again on EINTR.</summary>
    internal static SysResult IoUringRegister(SafeHandle ring, uint opcode, void* argument, uint count)
    {
        using var fd = Enter(ring);
        SysResult r;
        while ((r = Libc.io_uring_register(fd.Fd, opcode, argument, count)).IsError && r.Errno == Errno.EINTR)
        {
        }

        return r;
    }

    internal static SysResult Fstatx(SafeHandle handle, uint mask, statx* result)
    {
        using var fd = Enter(handle);
        return Libc.fstatx(fd.Fd, mask, result);
    }
}

/// <summary>A <see cref="SafeHandle"/>'s reference held across calls, from <see cref="Syscalls.Hold"/> to <see cref="Dispose"/> (idempotent), and its descriptor number.</summary>
internal sealed class FdHold : IDisposable
{
    private SafeHandle? _handle;

    internal FdHold(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
        Fd = (int)handle.DangerousGetHandle();
    }

    /// <summary>The descriptor number, valid until <see cref="Dispose"/>.</summary>
    public int Fd { get; }

    /// <summary>Gives the reference back (once).</summary>
    public void Dispose() => Interlocked.Exchange(ref _handle, null)?.DangerousRelease();
}

/// <summary>A <see cref="SafeHandle"/>'s reference, held from <see cref="Syscalls.Enter"/> to <see cref="Dispose"/>, and its descriptor number.</summary>
internal ref struct FdLease
{
    private SafeHandle? _handle;

    internal FdLease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
        Fd = (int)handle.DangerousGetHandle();
    }

    /// <summary>The descriptor number, valid until <see cref="Dispose"/>.</summary>
    public int Fd { get; }

    /// <summary>Gives the reference back.</summary>
    public void Dispose()
    {
        _handle?.DangerousRelease();
        _handle = null;
    }
}
