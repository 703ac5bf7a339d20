using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Sys;

namespace Devmem.Zcrx;

/// <summary>
/// One <see cref="ZcrxInstance.Accept"/> in flight: an IORING_OP_ACCEPT on the listener, and what came of
/// it. The thread driving the ring sets the outcome (<see cref="Complete"/> or <see cref="Fail"/>), once;
/// the caller of Accept waits for it, on <see cref="Wait"/> (the instance's own thread drives) or by
/// driving the ring itself until <see cref="IsDone"/>.
/// </summary>
internal sealed class ZcrxAccept(ulong id, SafeSocketHandle listener, uint requestBytes)
{
    private readonly object _gate = new();
    private int _finished;

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

    /// <summary>Accepted: <paramref name="connection"/>'s receive is armed. Only the driving thread finishes a request.</summary>
    public void Complete(ZcrxConnection connection)
    {
        if (!IsDone)
        {
            Connection = connection;
            Finish();
        }
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

    private void Finish()
    {
        lock (_gate)
        {
            Volatile.Write(ref _finished, 1); // after the outcome: a caller that sees IsDone sees it
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Blocks until the request ends (the instance's own thread sets the outcome).</summary>
    public void Wait()
    {
        lock (_gate)
        {
            while (!IsDone)
            {
                Monitor.Wait(_gate);
            }
        }
    }
}
