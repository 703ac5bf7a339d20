using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Sys;

/// <summary>
/// Awaits poll(2) events on a descriptor that .NET's socket engine cannot wait for: a zerocopy sender's
/// error queue (POLLERR) and room in its send buffer for a sendmsg the library makes itself (POLLOUT).
/// The wait is a poll on a thread-pool thread over the descriptor and an eventfd; cancellation and
/// <see cref="Dispose"/> write the eventfd, so a wait ends at once, without a timeout slice.
/// </summary>
/// <remarks>One wait at a time (the owning socket's calls do not overlap).</remarks>
internal sealed class FdWaiter : IDisposable
{
    private readonly SafeFdHandle _wake = new();
    private volatile bool _disposed;

    public FdWaiter()
    {
        SysResult r = Syscalls.EventFd(0, sys_eventfd.EFD_CLOEXEC | sys_eventfd.EFD_NONBLOCK);
        if (r.IsError)
        {
            throw Syscalls.Failure("eventfd", r.Errno);
        }

        _wake.Own(r.Int32);
    }

    /// <summary>
    /// Waits until <paramref name="handle"/> reports one of <paramref name="events"/> (POLLERR and POLLHUP
    /// are always reported) and returns what it reported.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">This waiter was disposed during the wait.</exception>
    public async ValueTask<short> WaitAsync(SafeHandle handle, short events, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(_disposed, this);
            short revents;
            using (cancellationToken.UnsafeRegister(static state => ((FdWaiter)state!).Wake(), this))
            {
                revents = await Task.Run(() => Block(handle, events), CancellationToken.None).ConfigureAwait(false);
            }

            if (revents != 0)
            {
                return revents;
            }

            // Woken: cancelled, disposed, or a wake left over from an earlier wait's cancellation.
            Drain();
        }
    }

    /// <summary>Ends the wait in progress, if any (the eventfd's counter stays set until the next wait drains it).</summary>
    public unsafe void Wake()
    {
        if (_wake.IsClosed)
        {
            return;
        }

        ulong one = 1;
        try
        {
            // EAGAIN only when the counter would overflow: it is set already, which is all a wake needs.
            Syscalls.Write(_wake, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // Disposed between the check and the write: nothing waits any more.
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Wake();
        _wake.Dispose();
    }

    private short Block(SafeHandle handle, short events)
    {
        SysResult r = Syscalls.PollOrWake(handle, events, _wake, out short revents, out bool woken);
        if (r.IsError)
        {
            throw Syscalls.Failure("poll", r.Errno);
        }

        return woken ? (short)0 : revents;
    }

    private unsafe void Drain()
    {
        ulong value;
        try
        {
            Syscalls.Read(_wake, &value, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // Disposed: the next loop turn reports it.
        }
    }
}
