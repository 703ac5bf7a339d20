using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Receive;
using Devmem.Sys;
using Microsoft.Extensions.Logging;

namespace Devmem.Zcrx;

/// <summary>
/// One <see cref="ZcrxInstance.Accept"/> in flight: an IORING_OP_ACCEPT on the listener, and what came of
/// it. The thread driving the ring sets the outcome (<see cref="Complete"/> or <see cref="Fail"/>), once;
/// the caller of Accept waits for it, on <see cref="Wait"/> or <see cref="Completion"/> (the instance's
/// own thread drives) or by driving the ring itself until <see cref="IsDone"/>.
/// </summary>
internal sealed class ZcrxAccept(ulong id, SafeSocketHandle listener, uint requestBytes)
{
    // Completed, never faulted: the outcome is in the properties. Continuations run off the driving thread.
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _finished;
    private int _abandoned;

    /// <summary>The ACCEPT request's user_data; the accepted connection's id too.</summary>
    public ulong Id => id;

    public SafeSocketHandle Listener => listener;

    /// <summary>Bytes per RECV_ZC request on the accepted socket (0: no limit).</summary>
    public uint RequestBytes => requestBytes;

    /// <summary>The listener's descriptor, held by the driving thread while the request names it.</summary>
    public FdHold? ListenerHold { get; set; }

    /// <summary>The accepted connection, its receive already armed; null until done, or when it failed.</summary>
    public ZcrxConnection? Connection { get; private set; }

    public Errno Error { get; private set; }

    public Exception? Cause { get; private set; }

    public bool IsDone => Volatile.Read(ref _finished) != 0;

    /// <summary>
    /// Accepted: <paramref name="connection"/>'s receive is armed. Only the driving thread finishes a
    /// request. False when the caller abandoned it before or as this ran (then the caller may not see the
    /// connection, and the driver closes it).
    /// </summary>
    public bool Complete(ZcrxConnection connection)
    {
        if (IsDone)
        {
            return false;
        }

        Connection = connection;
        Finish();
        return Volatile.Read(ref _abandoned) == 0;
    }

    /// <summary>
    /// The caller stops waiting (its wait threw). Returns the connection when the request had already
    /// completed, for the caller to close; otherwise <see cref="Complete"/> will report it abandoned.
    /// One of the two sees the other: each writes its flag with a full fence before reading the other's.
    /// </summary>
    public ZcrxConnection? Abandon()
    {
        Interlocked.Exchange(ref _abandoned, 1);
        return IsDone ? Connection : null;
    }

    /// <summary>The request ended without a connection: the kernel's error, or the loop's end.</summary>
    public void Fail(Errno error, Exception? cause = null)
    {
        if (!IsDone)
        {
            Error = error;
            Cause = cause;
            Finish();
        }
    }

    /// <summary>Completes when the request ends (the instance's own thread sets the outcome); never faults.</summary>
    public Task Completion => _done.Task;

    private void Finish()
    {
        Interlocked.Exchange(ref _finished, 1); // after the outcome (a caller that sees IsDone sees it); a full fence before Complete reads _abandoned
        _done.TrySetResult();
    }

    /// <summary>Blocks until the request ends (the instance's own thread sets the outcome).</summary>
    public void Wait() => _done.Task.GetAwaiter().GetResult();

    /// <summary><see cref="ZcrxInstance.AcceptAsync"/>'s wait: until the request ends, then its outcome; the token cancels the request.</summary>
    public async ValueTask<DevmemSocket> WaitAsync(ZcrxInstance instance, ILogger? logger, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(ZcrxInstance.CancelAccept, (instance, this)))
        {
            await _done.Task.ConfigureAwait(false); // never faults: the outcome is in this object
        }

        return instance.Accepted(this, logger, cancellationToken);
    }
}
