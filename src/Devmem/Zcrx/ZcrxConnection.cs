using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Sys;

namespace Devmem.Zcrx;

/// <summary>
/// One socket's share of a <see cref="ZcrxInstance"/>: the buffers the queue's loop thread received for it
/// (RECV_ZC completions, in stream order) until its <see cref="Receive.DevmemSocket"/> takes them, and the
/// buffers the application holds, by token, until it releases them into the refill ring.
/// </summary>
/// <remarks>
/// Two threads meet here: the loop thread appends completions (<see cref="Post"/>, <see cref="Terminate"/>),
/// the socket's caller takes them and gives buffers back. One lock covers both; the socket's caller is
/// one at a time (DevmemSocket's rule). A blocked synchronous receive sleeps in read(2) on an eventfd of
/// its own, written after the lock is released: the woken caller does not then wait for the lock the
/// loop still holds. Tokens are indexes into a table of area offsets (token = index + 1, never 0),
/// reused lowest-freed-first, so the table grows only to the most buffers held at once.
/// </remarks>
internal sealed unsafe class ZcrxConnection
{
    private readonly object _lock = new();
    private readonly ZcrxInstance _instance;
    private ulong[] _pendingOff = new ulong[256];
    private uint[] _pendingLen = new uint[256];
    private int _pendingHead;
    private int _pendingCount;
    private ulong[] _heldOff = new ulong[256];
    private int[] _freeTokens = new int[256];
    private int _freeCount;
    private int _tableUsed;
    private bool _ended;
    private Errno _error;
    private Exception? _cause;
    private bool _closed;
    private TaskCompletionSource? _waiter;
    private SafeFdHandle? _signal;
    private bool _syncWaiting;

    public ZcrxConnection(ZcrxInstance instance, SafeSocketHandle handle, ulong id)
    {
        _instance = instance;
        Handle = handle;
        Id = id;
    }

    /// <summary>The socket's descriptor (the wrapped socket's, or the one the ring accepted).</summary>
    public SafeSocketHandle Handle { get; }

    /// <summary>The RECV_ZC request's user_data.</summary>
    public ulong Id { get; }

    public ZcrxInstance Instance => _instance;

    /// <summary>The socket's descriptor, held by the loop thread while a request names it.</summary>
    public Sys.FdHold? SocketHold { get; set; }

    /// <summary>Bytes per RECV_ZC request (0: no limit).</summary>
    public uint RequestBytes { get; init; }

    /// <summary>Bytes the current request received (the loop thread's).</summary>
    public uint RequestReceived { get; set; }

    /// <summary>True once the socket side closed: completions still arriving go straight back to the refill ring.</summary>
    public bool IsClosed => Volatile.Read(ref _closed);

    // ---- the loop thread ----

    /// <summary>
    /// Completions, in order: <paramref name="lengths"/>[i] bytes at area offset <paramref name="offsets"/>[i]
    /// (area bits included, for the refill). One lock and at most one wake-up per batch.
    /// </summary>
    public void Post(ReadOnlySpan<ulong> offsets, ReadOnlySpan<uint> lengths)
    {
        TaskCompletionSource? wake;
        bool wakeSync;
        lock (_lock)
        {
            if (_closed)
            {
                for (int k = 0; k < offsets.Length; k++)
                {
                    _instance.Refill(offsets[k], lengths[k]);
                }

                return;
            }

            for (int k = 0; k < offsets.Length; k++)
            {
                if (_pendingCount == _pendingOff.Length)
                {
                    Grow();
                }

                int i = (_pendingHead + _pendingCount) % _pendingOff.Length;
                _pendingOff[i] = offsets[k];
                _pendingLen[i] = lengths[k];
                _pendingCount++;
            }

            wake = _waiter;
            _waiter = null;
            wakeSync = TakeSyncWaiter();
        }

        wake?.TrySetResult();
        if (wakeSync)
        {
            Signal();
        }
    }

    /// <summary>Under the lock: whether a synchronous receive waits (and it no longer does).</summary>
    private bool TakeSyncWaiter()
    {
        bool waiting = _syncWaiting;
        _syncWaiting = false;
        return waiting;
    }

    /// <summary>Wakes the synchronous receive blocked in <see cref="WaitForData"/>; called after the lock is released.</summary>
    private void Signal()
    {
        ulong one = 1;
        try
        {
            Syscalls.Write(_signal!, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // Closed meanwhile: the waiter sees that.
        }
    }

    private void Grow()
    {
        int n = _pendingOff.Length;
        var off = new ulong[n * 2];
        var len = new uint[n * 2];
        for (int k = 0; k < _pendingCount; k++)
        {
            off[k] = _pendingOff[(_pendingHead + k) % n];
            len[k] = _pendingLen[(_pendingHead + k) % n];
        }

        _pendingOff = off;
        _pendingLen = len;
        _pendingHead = 0;
    }

    /// <summary>
    /// The request ended: <paramref name="errno"/> <see cref="Errno.None"/> for the end of the stream;
    /// <paramref name="cause"/> when the instance's loop failed. The first end counts: a later one (the
    /// instance closing after the loop failed) does not overwrite it.
    /// </summary>
    public void Terminate(Errno errno, Exception? cause = null)
    {
        TaskCompletionSource? wake;
        bool wakeSync;
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            _error = errno;
            _cause = cause;
            wake = _waiter;
            _waiter = null;
            wakeSync = TakeSyncWaiter();
        }

        wake?.TrySetResult();
        if (wakeSync)
        {
            Signal();
        }
    }

    // ---- the socket's caller ----

    /// <summary>
    /// Takes up to <paramref name="offsets"/>.Length completions, giving each a token. Returns the count;
    /// 0 with <paramref name="ended"/> at the end of the stream; throws the request's error once every
    /// completion before it was taken.
    /// </summary>
    public int Take(Span<ulong> offsets, Span<uint> lengths, Span<uint> tokens, out bool ended)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            int n = Math.Min(offsets.Length, _pendingCount);
            for (int k = 0; k < n; k++)
            {
                ulong off = _pendingOff[_pendingHead];
                offsets[k] = off;
                lengths[k] = _pendingLen[_pendingHead];
                tokens[k] = NewToken(off);
                _pendingHead = (_pendingHead + 1) % _pendingOff.Length;
                _pendingCount--;
            }

            ended = n == 0 && _ended && _error == Errno.None;
            if (n == 0 && _ended && _error != Errno.None)
            {
                throw _cause is not null ? ZcrxException.LoopFailed(_cause)
                    : _error == Errno.ECANCELED && _instance.IsDisposed
                    ? new ObjectDisposedException(nameof(ZcrxInstance), "The zcrx instance was disposed while this socket was receiving through it.")
                    : ZcrxException.ReceiveFailed(_error);
            }

            return n;
        }
    }

    private uint NewToken(ulong offset)
    {
        int index;
        if (_freeCount > 0)
        {
            index = _freeTokens[--_freeCount];
        }
        else
        {
            if (_tableUsed == _heldOff.Length)
            {
                Array.Resize(ref _heldOff, _heldOff.Length * 2);
                Array.Resize(ref _freeTokens, _freeTokens.Length * 2);
            }

            index = _tableUsed++;
        }

        _heldOff[index] = offset;
        return (uint)index + 1;
    }

    /// <summary>Gives the buffers of <paramref name="tokens"/> back to the kernel: refill entries, one lock and one tail store for the batch, no system call.</summary>
    public void Return(ReadOnlySpan<uint> tokens, ReadOnlySpan<uint> lengths)
    {
        Span<ulong> offsets = stackalloc ulong[tokens.Length];
        lock (_lock)
        {
            for (int k = 0; k < tokens.Length; k++)
            {
                int index = (int)tokens[k] - 1;
                offsets[k] = _heldOff[index];
                _freeTokens[_freeCount++] = index;
            }

            _instance.Refill(offsets, lengths);
        }
    }

    /// <summary>Blocks until a completion or the end is there.</summary>
    public void WaitForData()
    {
        if (_instance.IsDrivenByReceiver)
        {
            // This thread is the loop: each round hands completions to their sockets, this one's included.
            while (!HasDataOrEnd())
            {
                _instance.Drive();
            }

            return;
        }

        while (true)
        {
            SafeFdHandle signal;
            lock (_lock)
            {
                if (ReadyLocked)
                {
                    return;
                }

                signal = _signal ??= OpenSignal();
                _syncWaiting = true;
            }

            ulong value;
            SysResult r;
            try
            {
                r = Syscalls.Read(signal, &value, sizeof(ulong)); // until Post, Terminate or Close writes
            }
            catch (ObjectDisposedException)
            {
                continue; // closed meanwhile: seen above
            }

            if (r.IsError)
            {
                throw Syscalls.Failure("read(2) of the zcrx receive's wake-up eventfd", r.Errno);
            }
        }
    }

    private static SafeFdHandle OpenSignal()
    {
        SysResult e = Syscalls.EventFd(0, sys_eventfd.EFD_CLOEXEC);
        if (e.IsError)
        {
            throw Syscalls.Failure("eventfd(2) for a zcrx receive's wake-up", e.Errno);
        }

        var fd = new SafeFdHandle();
        fd.Own(e.Int32);
        return fd;
    }

    /// <summary>Under the lock: a completion to take, or the end (of the stream, the request or the socket).</summary>
    private bool ReadyLocked => _pendingCount > 0 || _ended || _closed;

    private bool HasDataOrEnd()
    {
        lock (_lock)
        {
            return ReadyLocked;
        }
    }

    /// <summary>Completes when a completion or the end is there.</summary>
    public Task WaitForDataAsync(CancellationToken cancellationToken)
    {
        if (_instance.IsDrivenByReceiver)
        {
            throw new NotSupportedException("This zcrx instance is driven by its receiving thread (ZcrxDriver.ReceivingThread), inside blocking Receive calls: receive synchronously on that thread, or open the instance with ZcrxDriver.OwnThread to receive asynchronously.");
        }

        Task task;
        lock (_lock)
        {
            if (ReadyLocked)
            {
                return Task.CompletedTask;
            }

            _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            task = _waiter.Task;
        }

        return cancellationToken.CanBeCanceled ? task.WaitAsync(cancellationToken) : task;
    }

    /// <summary>
    /// The socket side is done: every buffer still queued goes back to the refill ring, the held ones
    /// named by <paramref name="heldTokens"/> too, and the loop cancels the request.
    /// </summary>
    public void Close(ReadOnlySpan<uint> heldTokens)
    {
        bool wakeSync;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            foreach (uint token in heldTokens)
            {
                int index = (int)token - 1;
                _instance.Refill(_heldOff[index], 0);
            }

            while (_pendingCount > 0)
            {
                _instance.Refill(_pendingOff[_pendingHead], _pendingLen[_pendingHead]);
                _pendingHead = (_pendingHead + 1) % _pendingOff.Length;
                _pendingCount--;
            }

            Volatile.Write(ref _closed, true);
            wakeSync = TakeSyncWaiter();
        }

        if (wakeSync)
        {
            Signal();
        }

        _signal?.Dispose(); // a read still in progress holds the fd until it returns
        _instance.Cancel(this);
    }
}
