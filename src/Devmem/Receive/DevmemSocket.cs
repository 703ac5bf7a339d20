using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using Devmem.Interop;
using Devmem.Sys;
using Devmem.Memory;
using Devmem.Zcrx;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Receive;

/// <summary>
/// Receives TCP payload that a NIC placed in a dma-buf (devmem TCP) from a connected <see cref="Socket"/>,
/// and gives the memory back to the kernel.
/// </summary>
/// <remarks>
/// <para>
/// Each receive is one <c>recvmsg(MSG_SOCK_DEVMEM)</c> on the socket's handle. Payload the NIC wrote into
/// the bound dma-buf comes back as <see cref="DevmemFragment"/>s (offset, length, token); payload the
/// kernel kept in host memory (<c>SCM_DEVMEM_LINEAR</c>) is copied into the caller's linear buffer.
/// </para>
/// <para>
/// Fragment lifetime is like <c>PipeReader.AdvanceTo</c>: a fragment's bytes in the dma-buf stay valid
/// until its token is released with <see cref="Release(ReadOnlySpan{DevmemFragment})"/> and the release
/// has reached the kernel (<see cref="FlushReleases"/>, or automatically once enough are pending). After
/// that the memory must not be accessed. Until then each token pins memory of the binding: hold as few
/// as possible, or the NIC runs out of buffers and the flow stalls.
/// </para>
/// <para>
/// The <see cref="Socket"/> stays the caller's: disposing this object releases every token still held
/// (logging a warning if the application never released some) but does not close the socket. Closing the
/// socket makes the kernel free all of its tokens (net/ipv4/tcp.c <c>tcp_release_user_frags</c>).
/// </para>
/// <para>
/// Threading: one call at a time. <c>Receive</c>, <c>ReceiveAsync</c> (from its start until
/// its task completes), <c>Release</c>, <see cref="FlushReleases"/> and <see cref="Dispose"/> must
/// not overlap: call them from one thread or task, or serialize them yourself. A call that overlaps
/// another throws <see cref="InvalidOperationException"/> and changes nothing (a cheap interlocked guard,
/// not a lock: it detects misuse, it does not queue callers). Different sockets are independent, also
/// when they share one memory in the copy fallback.
/// </para>
/// <para>
/// Copy fallback (<see cref="CreateCopyFallback"/>): where zero copy is impossible (no dma-buf provider,
/// a NIC that cannot bind), the same <c>Receive</c> copies the payload with a plain
/// <c>recvmsg</c> straight into a ring of slots in the provider's memory (a udmabuf's mapping, or host
/// memory) and hands out the same <see cref="DevmemFragment"/>s: the token is a slot, released the same
/// way, and a slot is reused only after its release. The slots belong to the memory: every copy-fallback
/// socket over one memory shares them (thread-safe), so several connections never write into a slot
/// another still holds. When no slot is free and other sockets hold some, a receive waits until a slot
/// is released (as a zero-copy flow stalls when the NIC runs out of buffers): size the memory for the
/// fragments all connections hold at once (at most 64 slots per receive). When this socket itself holds
/// every slot, a receive throws instead, since only this socket's caller could release them.
/// <see cref="IsZeroCopy"/> says which mode is live.
/// </para>
/// <para>
/// Fragments belong to the socket that received them: releasing one on another socket throws, in both
/// modes (in zero copy the same token number on another socket pins other memory).
/// </para>
/// </remarks>
public sealed partial class DevmemSocket : IDisposable
{
    /// <summary>Pending releases that trigger a flush: one <c>SO_DEVMEM_DONTNEED</c> call's worth of tokens.</summary>
    public const int AutoFlushThreshold = TokenRanges.MaxTokensPerCall;

    // sock_devmem_dontneed answers ENOMEM when it cannot allocate its copy of the token array
    // (net/core/sock.c); a few retries give reclaim a chance before the failure is reported.
    private const int MaxNomemRetries = 16;

    private Socket? _socket;
    private readonly SafeSocketHandle? _accepted;
    private readonly Lock? _acceptedLock;
    private readonly ILogger _logger;
    private readonly TokenLedger _ledger;
    private readonly CopyRing? _copy;
    private readonly ZcrxConnection? _zcrx;
    private readonly string? _fallbackReason;
    private readonly SocketMetrics _metrics;
    private readonly uint _id;
    private byte[] _control = [];
    private int _busy;
    private bool _warnedUnsteered;
    private bool _waitForSlot;
    private bool _disposed;
    private bool _ownsSocket;

    // Socket ids for fragment ownership; 0 is "no socket" (fragments made by DevmemFragment's constructor).
    private static int s_lastId;

    /// <summary>Wraps a connected TCP socket (accepted or connected by the caller).</summary>
    /// <param name="socket">The connected socket; it stays owned by the caller.</param>
    /// <param name="logger">Where to log what a user needs to know (leaks, shortfalls); none by default.</param>
    public DevmemSocket(Socket socket, ILogger? logger = null)
        : this(socket, logger, copy: null, reason: null, DevmemMetrics.Default, interfaceName: null)
    {
    }

    /// <summary>The constructors' work; <paramref name="interfaceName"/> null looks it up from the socket's local address when a metrics listener first needs it.</summary>
    /// <remarks>
    /// <paramref name="accepted"/> (with <paramref name="socket"/> null): a descriptor the zcrx ring
    /// accepted, which this object owns; its <see cref="Socket"/> is made when first asked for, so that
    /// making it (a few queries of the kernel) does not delay the socket's first receive.
    /// </remarks>
    private DevmemSocket(Socket? socket, ILogger? logger, CopyRing? copy, string? reason, DevmemMetrics metrics, string? interfaceName, ZcrxConnection? zcrx = null, SafeSocketHandle? accepted = null)
    {
        if (accepted is null)
        {
            ArgumentNullException.ThrowIfNull(socket);
            if (socket.ProtocolType != ProtocolType.Tcp)
            {
                throw new ArgumentException($"devmem TCP needs a TCP socket; this one is {socket.ProtocolType}.", nameof(socket));
            }
        }
        else
        {
            _accepted = accepted;
            _acceptedLock = new();
        }

        _socket = socket;
        _logger = logger ?? NullLogger.Instance;
        _ledger = new TokenLedger(_logger);
        uint id;
        do
        {
            id = (uint)Interlocked.Increment(ref s_lastId);
        }
        while (id == 0);
        _id = id;
        _copy = copy;
        _zcrx = zcrx;
        _zcrxReturnTokens = zcrx is null ? [] : new uint[ZcrxReturnBatch];
        _zcrxReturnLengths = zcrx is null ? [] : new uint[ZcrxReturnBatch];
        _fallbackReason = reason;
        _metrics = SocketMetrics.ForSocket(metrics, zeroCopy: IsZeroCopy, interfaceName, () => Socket);
    }

    /// <summary>
    /// A socket receiving through an io_uring zcrx instance: <paramref name="socket"/> wrapped
    /// (<see cref="ZcrxInstance.Wrap"/>), or, null, the connection's own descriptor, accepted by the ring
    /// (<see cref="ZcrxInstance.Accept"/>), which disposing closes.
    /// </summary>
    internal static DevmemSocket CreateZcrx(Socket? socket, ZcrxConnection connection, ILogger? logger) =>
        new(socket, logger, copy: null, reason: connection.Instance.IsNoDevice ? "the zcrx instance has no NIC (ZCRX_REG_NODEV): the kernel copies every byte into its area" : null,
            connection.Instance.Metrics, connection.Instance.KnownInterfaceName, connection, accepted: socket is null ? connection.Handle : null);

    /// <summary>A zero-copy socket recording on <paramref name="metrics"/> with <paramref name="interfaceName"/> as its tag (<see cref="Setup.DevmemRxSetup.Wrap(Socket, ILogger?)"/>).</summary>
    internal static DevmemSocket CreateZeroCopy(Socket socket, ILogger? logger, DevmemMetrics metrics, string interfaceName) =>
        new(socket, logger, copy: null, reason: null, metrics, interfaceName);

    /// <summary>Makes the wrapped socket this object's: disposing closes it (<see cref="Setup.DevmemRxSetup.Accept"/>'s connections).</summary>
    internal DevmemSocket OwningSocket()
    {
        _ownsSocket = true;
        return this;
    }

    /// <summary>The wrapped socket.</summary>
    public Socket Socket => Volatile.Read(ref _socket) ?? AcceptedSocket();

    private Socket AcceptedSocket()
    {
        lock (_acceptedLock!)
        {
            if (_socket is null)
            {
                ObjectDisposedException.ThrowIf(_accepted!.IsClosed, this);
                Volatile.Write(ref _socket, new Socket(_accepted));
            }

            return _socket;
        }
    }

    /// <summary>
    /// True when payload arrives by zero copy (the NIC writes into the bound dma-buf); false in the copy
    /// fallback, where each receive copies into the provider's memory.
    /// </summary>
    public bool IsZeroCopy => _copy is null && (_zcrx is null || !_zcrx.Instance.IsNoDevice);

    /// <summary>The io_uring zcrx instance this socket receives through; null for a devmem (or copy-fallback) socket.</summary>
    public ZcrxInstance? Zcrx => _zcrx?.Instance;

    /// <summary>In the copy fallback, why zero copy was not possible; null in zero-copy mode.</summary>
    public string? FallbackReason => _fallbackReason;

    /// <summary>
    /// Wraps a connected TCP socket in copy-fallback mode: each receive copies payload into
    /// <paramref name="memory"/>, used as a ring of <paramref name="slotSize"/>-byte slots, and returns
    /// fragments into it (their <see cref="DevmemFragment.DmabufId"/> is 0). The ring belongs to the
    /// memory: every copy-fallback socket over <paramref name="memory"/> shares its slots (a server with
    /// several connections wraps each one over the same memory), and the first call logs one warning
    /// with <paramref name="reason"/>.
    /// </summary>
    /// <param name="socket">The connected socket; it stays owned by the caller.</param>
    /// <param name="memory">Memory with a CPU mapping (udmabuf, dma-heap, host memory); stays owned by the
    /// caller and must outlive this object.</param>
    /// <param name="reason">Why zero copy was not possible, for the log and <see cref="FallbackReason"/>.</param>
    /// <param name="slotSize">Bytes per slot (one fragment at most this long); a multiple of 4096, the same
    /// for every socket over one memory.</param>
    /// <param name="logger">Where to log; none by default.</param>
    /// <returns>The copy-fallback socket.</returns>
    public static DevmemSocket CreateCopyFallback(Socket socket, DeviceMemory memory, string reason, int slotSize = DefaultSlotSize, ILogger? logger = null) =>
        CreateCopyFallbackCore(socket, memory, reason, slotSize, logger, logFallback: true, DevmemMetrics.Default, interfaceName: null);

    /// <summary>The copy fallback's default slot size: 64 KiB.</summary>
    public const int DefaultSlotSize = 64 * 1024;

    /// <summary>As the public one; <paramref name="logFallback"/> false where the caller (a setup) logged the fallback already.</summary>
    internal static DevmemSocket CreateCopyFallbackCore(Socket socket, DeviceMemory memory, string reason, int slotSize, ILogger? logger, bool logFallback, DevmemMetrics metrics, string? interfaceName)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        if (!memory.HasCpuMapping)
        {
            throw new ArgumentException($"The copy fallback needs memory mapped into the process; {memory.Kind} memory is not.", nameof(memory));
        }

        if (slotSize <= 0 || slotSize % 4096 != 0 || slotSize > memory.Size)
        {
            throw new ArgumentOutOfRangeException(nameof(slotSize), slotSize, $"A slot is a positive multiple of 4096 bytes, at most the memory's {memory.Size} bytes.");
        }

        CopyRing ring = CopyRing.For(memory, slotSize, reason, out bool created);
        var ds = new DevmemSocket(socket, logger, ring, reason, metrics, interfaceName);
        if (created && logFallback)
        {
            Log.Fallback(ds._logger, reason, memory.Kind.ToString(), memory.Size);
        }

        return ds;
    }

    /// <summary>In the copy fallback, the memory's slots not lent to any socket (for tests).</summary>
    internal int CopySlotsFree => _copy?.FreeCount ?? 0;

    /// <summary>Marks <paramref name="token"/> held as if the kernel had handed it out, and returns its fragment (for tests of the zero-copy release path).</summary>
    internal DevmemFragment HoldForTest(uint token)
    {
        _ledger.Held.Add(token);
        return new DevmemFragment(1, 0, 1, token, _id);
    }

    /// <summary>Tokens received and not yet given back to the kernel (held by the application or pending release).</summary>
    public long OutstandingTokens => _ledger.Held.Count + _ledger.PendingCount;

    /// <summary>Total <c>SO_DEVMEM_DONTNEED</c> calls made.</summary>
    public long ReleaseCalls => _ledger.ReleaseCalls;

    /// <summary>Tokens the kernel reported freed.</summary>
    public long TokensFreed => _ledger.TokensFreed;

    /// <summary>
    /// Tokens sent back that the kernel did not free (it returns how many it freed): non-zero means the
    /// socket's token state and ours disagree. Logged when it happens.
    /// </summary>
    public long ReleaseShortfall => _ledger.ReleaseShortfall;

    /// <summary>
    /// Bytes that arrived without devmem control messages, copied into the linear buffer as by a plain
    /// <c>recv</c>: the flow is not steered to a bound queue. The first time, a warning is logged; the
    /// <c>devmem.rx.unsteered_bytes</c> counter counts them too.
    /// </summary>
    public long UnsteeredBytes { get; private set; }

    /// <summary>
    /// Receives once, blocking until data, end of stream or an error: fills <paramref name="fragments"/> with
    /// dma-buf fragments and <paramref name="linear"/> with bytes the kernel kept in host memory.
    /// </summary>
    /// <param name="fragments">Room for fragments; its length also sizes the control buffer (40 bytes per
    /// entry), so the kernel never has more to report than fits.</param>
    /// <param name="linear">The iov: <c>SCM_DEVMEM_LINEAR</c> bytes and any unsteered data land here. Its
    /// length caps how many bytes one call covers, dma-buf bytes included (ncdevmem uses 819200).</param>
    /// <returns>What was received; <see cref="DevmemReceiveResult.Fragments"/> entries of <paramref name="fragments"/> are filled.</returns>
    /// <exception cref="InvalidOperationException">Another call on this socket is in progress (see the threading rule in the remarks).</exception>
    public DevmemReceiveResult Receive(Span<DevmemFragment> fragments, Span<byte> linear) => ReceiveBlocking(fragments, linear);

    /// <summary>
    /// Receives once as <see cref="Receive(Span{DevmemFragment}, Span{byte})"/> does, but fills
    /// <paramref name="segments"/> with the pieces in stream order: dma-buf fragments and the linear
    /// pieces between them (<see cref="DevmemSegment.IsLinear"/>, at <see cref="DevmemSegment.LinearOffset"/>
    /// in <paramref name="linear"/>). Release the fragments with <see cref="Release(ReadOnlySpan{DevmemSegment})"/>.
    /// </summary>
    /// <param name="segments">Room for segments; each takes one control message (40 bytes of control space).</param>
    /// <param name="linear">The iov, as for the fragment overload.</param>
    /// <returns>What was received; <see cref="DevmemReceiveResult.Segments"/> entries of <paramref name="segments"/> are filled.</returns>
    /// <exception cref="InvalidOperationException">Another call on this socket is in progress.</exception>
    public DevmemReceiveResult Receive(Span<DevmemSegment> segments, Span<byte> linear) => ReceiveBlocking(segments, linear);

    /// <summary>
    /// Receives once without blocking a thread while waiting: awaits readability, then reads as
    /// <see cref="Receive(Span{DevmemFragment}, Span{byte})"/> does.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another call on this socket is in progress (see the threading rule in the remarks).</exception>
    public ValueTask<DevmemReceiveResult> ReceiveAsync(Memory<DevmemFragment> fragments, Memory<byte> linear, CancellationToken cancellationToken = default) =>
        ReceiveAsyncEntry(fragments, linear, cancellationToken);

    /// <summary>Receives once without blocking a thread, filling <paramref name="segments"/> in stream order as <see cref="Receive(Span{DevmemSegment}, Span{byte})"/> does.</summary>
    /// <exception cref="InvalidOperationException">Another call on this socket is in progress.</exception>
    public ValueTask<DevmemReceiveResult> ReceiveAsync(Memory<DevmemSegment> segments, Memory<byte> linear, CancellationToken cancellationToken = default) =>
        ReceiveAsyncEntry(segments, linear, cancellationToken);

    /// <summary>
    /// Completes when a receive would not wait: payload, the end of the stream or an error is there. It
    /// takes nothing, so a server with many idle connections can await this before it takes room for a
    /// batch (the Generic Host receiver does), whichever the engine: a devmem or copy-fallback socket
    /// becomes readable; a zcrx connection has completions queued (the ring has already read the socket,
    /// which then never looks readable).
    /// </summary>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>A task that completes when data is there.</returns>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NotSupportedException">A zcrx instance driven by the receiving thread (receive synchronously there).</exception>
    public ValueTask WaitForDataAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _zcrx is not null ? new ValueTask(_zcrx.WaitForDataAsync(cancellationToken)) : WaitReadableAsync(cancellationToken);
    }

    private DevmemReceiveResult ReceiveBlocking<T>(Span<T> target, Span<byte> linear)
        where T : struct
    {
        Enter(nameof(Receive));
        try
        {
            while (true)
            {
                if (TryReceiveInto(target, linear, nonBlocking: false, out var result))
                {
                    return result;
                }

                if (_waitForSlot)
                {
                    _waitForSlot = false;
                    _copy!.WaitForFree();
                    continue;
                }

                if (_zcrx is not null)
                {
                    _zcrx.WaitForData();
                    continue;
                }

                WaitReadable();
            }
        }
        finally
        {
            Exit();
        }
    }

    private ValueTask<DevmemReceiveResult> ReceiveAsyncEntry<T>(Memory<T> target, Memory<byte> linear, CancellationToken cancellationToken)
        where T : struct
    {
        // Entered synchronously, so an overlapping call throws from the call itself, not from its task.
        Enter(nameof(ReceiveAsync));
        try
        {
            ValueTask<DevmemReceiveResult> task = ReceiveAsyncCore(target, linear, cancellationToken);
            if (task.IsCompleted)
            {
                Exit();
                return task;
            }

            return ExitWhenDone(task);
        }
        catch
        {
            Exit();
            throw;
        }
    }

    private async ValueTask<DevmemReceiveResult> ExitWhenDone(ValueTask<DevmemReceiveResult> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        finally
        {
            Exit();
        }
    }

    private async ValueTask<DevmemReceiveResult> ReceiveAsyncCore<T>(Memory<T> target, Memory<byte> linear, CancellationToken cancellationToken)
        where T : struct
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (TryReceiveInto(target.Span, linear.Span, nonBlocking: true, out var result))
            {
                return result;
            }

            if (_waitForSlot)
            {
                _waitForSlot = false;
                await _copy!.WaitForFreeAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (_zcrx is not null)
            {
                await _zcrx.WaitForDataAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            await WaitReadableAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // T is DevmemFragment or DevmemSegment (the public overloads): the JIT folds the type test away.
    private bool TryReceiveInto<T>(Span<T> target, Span<byte> linear, bool nonBlocking, out DevmemReceiveResult result)
        where T : struct
    {
        if (typeof(T) == typeof(DevmemSegment))
        {
            var segments = new SegmentSink(Unsafe.As<Span<T>, Span<DevmemSegment>>(ref target), _ledger.Held);
            return TryReceive(ref segments, target.Length, linear, nonBlocking, out result);
        }

        var fragments = new FragmentSink(Unsafe.As<Span<T>, Span<DevmemFragment>>(ref target), _ledger.Held);
        return TryReceive(ref fragments, target.Length, linear, nonBlocking, out result);
    }

    /// <summary>
    /// Gives fragments back. Their tokens are queued and reach the kernel in batches (coalesced ranges,
    /// within its per-call limits) when <see cref="AutoFlushThreshold"/> are pending, on
    /// <see cref="FlushReleases"/>, or on dispose. The fragments' bytes must not be read after this call.
    /// </summary>
    /// <exception cref="InvalidOperationException">A fragment was received on another socket (or made with
    /// <see cref="DevmemFragment"/>'s constructor), or its token is no longer held (released twice); the
    /// others were still released, and a foreign fragment's token never reaches the kernel. Or another
    /// call on this socket is in progress (nothing was released).</exception>
    public void Release(ReadOnlySpan<DevmemFragment> fragments)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Enter(nameof(Release));
        try
        {
            ReleaseCore(fragments);
        }
        finally
        {
            RecordReleases();
            Exit();
        }
    }

    /// <summary>Gives back the fragments among <paramref name="segments"/> (linear segments hold nothing), as <see cref="Release(ReadOnlySpan{DevmemFragment})"/> does.</summary>
    /// <exception cref="InvalidOperationException">As for the fragment overload.</exception>
    public void Release(ReadOnlySpan<DevmemSegment> segments)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Enter(nameof(Release));
        try
        {
            var problems = default(ReleaseProblems);
            foreach (ref readonly var s in segments)
            {
                if (!s.IsLinear)
                {
                    ReleaseOne(s.Fragment, ref problems);
                }
            }

            FlushZcrxReturns();
            problems.ThrowIfAny();
        }
        finally
        {
            RecordReleases();
            Exit();
        }
    }

    private void ReleaseCore(ReadOnlySpan<DevmemFragment> fragments)
    {
        var problems = default(ReleaseProblems);
        if (_copy is null && _zcrx is null)
        {
            var kernel = new KernelReleaser(this);
            _ledger.Queue(fragments, _id, ref kernel, ref problems);
        }
        else
        {
            foreach (ref readonly var f in fragments)
            {
                ReleaseOne(f, ref problems);
            }

            FlushZcrxReturns();
        }

        problems.ThrowIfAny();
    }

    private const int ZcrxReturnBatch = 64;
    private readonly uint[] _zcrxReturnTokens;
    private readonly uint[] _zcrxReturnLengths;
    private int _zcrxReturnCount;

    private void FlushZcrxReturns()
    {
        if (_zcrxReturnCount > 0)
        {
            _zcrx!.Return(_zcrxReturnTokens.AsSpan(0, _zcrxReturnCount), _zcrxReturnLengths.AsSpan(0, _zcrxReturnCount));
            _zcrxReturnCount = 0;
        }
    }

    private void ReleaseOne(in DevmemFragment f, ref ReleaseProblems problems)
    {
        if (_copy is null && _zcrx is null)
        {
            var kernel = new KernelReleaser(this);
            _ledger.Queue(new ReadOnlySpan<DevmemFragment>(in f), _id, ref kernel, ref problems);
        }
        else if (f.Owner != _id)
        {
            problems.NoteForeign(f.Token);
        }
        else if (_ledger.Held.Remove(f.Token))
        {
            if (_zcrx is not null)
            {
                // Collected and given back once per call: one lock and one refill-ring tail store per batch.
                if (_zcrxReturnCount == ZcrxReturnBatch)
                {
                    FlushZcrxReturns();
                }

                _zcrxReturnTokens[_zcrxReturnCount] = f.Token;
                _zcrxReturnLengths[_zcrxReturnCount++] = f.Length;
            }
            else
            {
                _copy!.Free(f.Token);
            }
        }
        else
        {
            problems.NoteUnknown(f.Token);
        }
    }

    /// <summary>Sends every pending release to the kernel now; returns how many tokens it freed.</summary>
    /// <exception cref="InvalidOperationException">Another call on this socket is in progress (see the threading rule in the remarks).</exception>
    public int FlushReleases()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Enter(nameof(FlushReleases));
        try
        {
            var kernel = new KernelReleaser(this);
            return _ledger.FlushPending(ref kernel);
        }
        finally
        {
            RecordReleases();
            Exit();
        }
    }

    /// <summary>
    /// Releases every token still held (logging a leak if there were any; in the copy fallback their slots
    /// go back to the memory's ring) and stops accounting.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another call on this socket is in progress (see the threading
    /// rule in the remarks): dispose after it returns.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        Enter(nameof(Dispose));
        try
        {
            DisposeCore();
        }
        finally
        {
            // Disposed, the socket holds nothing: in zero copy what the flush could not give back the
            // kernel frees with the socket.
            _metrics.Released(_ledger.ReleaseCalls, outstanding: 0);
            if (_ownsSocket)
            {
                _socket?.Dispose();
            }

            Exit();
        }
    }

    private void RecordReleases() => _metrics.Released(_ledger.ReleaseCalls, OutstandingTokens);

    private void DisposeCore()
    {
        if (_zcrx is not null)
        {
            _zcrx.Close(CollectionsMarshal.AsSpan(DrainLeaked()));
            _disposed = true;
            if (_accepted is not null)
            {
                // Ours: closed (when the ring's request still holds the descriptor, when that ends). Under
                // the lock, so that no Socket is made for it afterwards.
                lock (_acceptedLock!)
                {
                    _socket?.Dispose();
                    _accepted.Dispose();
                }
            }

            return;
        }

        if (_copy is not null)
        {
            foreach (uint token in DrainLeaked())
            {
                _copy.Free(token);
            }

            _disposed = true;
            return;
        }

        try
        {
            var kernel = new KernelReleaser(this);
            _ledger.FlushPending(ref kernel);
            if (_ledger.Held.Count > 0)
            {
                _ledger.Flush(CollectionsMarshal.AsSpan(DrainLeaked()), clearPending: false, ref kernel);
            }
        }
        catch (DevmemException ex) when (!Socket.Connected || ex.ErrnoName is "EBADF")
        {
            // The socket was closed first: the kernel has freed every token with it.
            Log.ClosedBeforeDispose(_logger);
        }
        catch (ObjectDisposedException)
        {
            Log.ClosedBeforeDispose(_logger);
        }
        finally
        {
            _disposed = true;
        }
    }

    /// <summary>The tokens the application never released, taken out of the held set; logs the leak when there are any.</summary>
    private List<uint> DrainLeaked()
    {
        var leaked = new List<uint>((int)Math.Min(_ledger.Held.Count, int.MaxValue));
        _ledger.Held.Drain(leaked);
        if (leaked.Count > 0)
        {
            Log.Leak(_logger, leaked.Count);
        }

        return leaked;
    }

    private void Enter(string call)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            ThrowOverlap(call);
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowOverlap(string call) => throw new InvalidOperationException(
        $"DevmemSocket.{call} was called while another call on the same socket was in progress. A DevmemSocket takes one call at a time: Receive, ReceiveAsync (until its task completes), Release, FlushReleases and Dispose must not overlap; call them from one thread or task, or serialize them.");

    /// <summary><c>setsockopt(SO_DEVMEM_DONTNEED)</c> on this socket, for the ledger's batches.</summary>
    private readonly struct KernelReleaser(DevmemSocket owner) : ITokenReleaser
    {
        public unsafe int DontNeed(ReadOnlySpan<dmabuf_token> ranges)
        {
            for (int attempt = 0; ; attempt++)
            {
                SysResult r;
                fixed (dmabuf_token* p = ranges)
                {
                    // Not Socket.SetRawSocketOption: the runtime treats setsockopt's positive return (the number
                    // of tokens freed) as an error (dotnet/runtime pal_networking.c SystemNative_SetRawSockOpt).
                    r = Syscalls.SetSockOpt(owner.Socket.SafeHandle, asm_socket.SOL_SOCKET, asm_socket.SO_DEVMEM_DONTNEED, p, (uint)(ranges.Length * sizeof(dmabuf_token)));
                }

                if (!r.IsError)
                {
                    return r.Int32;
                }

                if (r.Errno == Errno.ENOMEM && attempt < MaxNomemRetries)
                {
                    continue;
                }

                throw DevmemException.Syscall("setsockopt(SO_DEVMEM_DONTNEED)", r.Errno, r.Errno switch
                {
                    Errno.EBADF => "The socket is not a TCP socket.",
                    Errno.ENOPROTOOPT => "The kernel was built without CONFIG_PAGE_POOL/devmem support.",
                    Errno.EINVAL => "The token array was malformed (this is a bug in Devmem: please report it).",
                    _ => null,
                });
            }
        }
    }

    private unsafe bool TryReceive<TSink>(ref TSink sink, int capacity, Span<byte> linear, bool nonBlocking, out DevmemReceiveResult result)
        where TSink : IReceiveSink, allows ref struct
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (capacity == 0)
        {
            throw new ArgumentException("Give room for at least one fragment (or segment): the span is empty.");
        }

        if (_zcrx is not null)
        {
            return TryReceiveZcrx(ref sink, capacity, out result);
        }

        if (linear.Length == 0)
        {
            throw new ArgumentException("The linear buffer is the iov and caps each receive: it cannot be empty.", nameof(linear));
        }

        if (_copy is not null)
        {
            return TryReceiveCopy(ref sink, capacity, nonBlocking, out result);
        }

        int controlLength = checked(capacity * DevmemControlMessages.SpacePerFragment);
        if (_control.Length < controlLength)
        {
            _control = GC.AllocateUninitializedArray<byte>(controlLength, pinned: true);
        }

        int flags = sys_socket.MSG_SOCK_DEVMEM | (nonBlocking ? sys_socket.MSG_DONTWAIT : 0);
        SysResult r;
        msghdr msg = default;
        fixed (byte* data = linear)
        fixed (byte* control = _control)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)linear.Length };
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = (nuint)controlLength;
            r = RecvMsg(ref msg, flags);
        }

        if (r.IsError)
        {
            if (r.Errno == Errno.EAGAIN)
            {
                result = default;
                return false;
            }

            throw DevmemException.Syscall("recvmsg(MSG_SOCK_DEVMEM)", r.Errno, r.Errno switch
            {
                Errno.ETOOSMALL => "The control buffer could not hold one devmem control message (CMSG_SPACE(sizeof(struct dmabuf_cmsg)) = 40 bytes).",
                Errno.EFAULT => "The kernel could not deliver unreadable (device memory) data to this call.",
                Errno.ENODEV => "The data sits in memory of another provider (e.g. io_uring zero-copy receive), not a devmem binding.",
                Errno.ENOMEM => "The kernel could not allocate a token: release fragments sooner.",
                _ => null,
            });
        }

        if ((msg.msg_flags & sys_socket.MSG_CTRUNC) != 0)
        {
            throw DevmemException.Condition("recvmsg(MSG_SOCK_DEVMEM)",
                "recvmsg(MSG_SOCK_DEVMEM) returned MSG_CTRUNC: control messages were dropped. Devmem messages are never truncated, so another option (e.g. timestamps) filled the control buffer; turn it off on this socket.");
        }

        int received = r.Int32;
        if (received == 0)
        {
            result = DevmemReceiveResult.End;
            return true;
        }

        // The sink registers each token as held as it goes: a token the kernel handed out is released on
        // dispose even when the ledger's checks throw.
        var summary = TokenLedger.Accept(_control.AsSpan(0, (int)msg.msg_controllen), received, ref sink, _id);
        int unsteered = 0;
        if (summary.Fragments == 0 && summary.LinearMessages == 0)
        {
            // Readable data, copied into the iov as by a plain recv: the flow missed the bound queue. In
            // stream order it is one linear piece at the buffer's start.
            unsteered = received;
            sink.AddLinear((uint)received);
            UnsteeredBytes += unsteered;
            if (!_warnedUnsteered)
            {
                _warnedUnsteered = true;
                Log.Unsteered(_logger, unsteered);
            }
        }

        _metrics.Received(summary.Fragments, summary.DmabufBytes, copiedBytes: 0, summary.LinearBytes, unsteered, OutstandingTokens);
        result = new DevmemReceiveResult
        {
            Fragments = summary.Fragments,
            Segments = sink.Count,
            DmabufBytes = summary.DmabufBytes,
            LinearBytes = (int)summary.LinearBytes,
            UnsteeredBytes = unsteered,
            UnknownControlMessages = summary.Unknown,
        };
        return true;
    }

    /// <summary>One <c>recvmsg</c> on the socket's handle with <paramref name="msg"/> as built by the caller (<see cref="Syscalls.RecvMsg"/>).</summary>
    private SysResult RecvMsg(ref msghdr msg, int flags) => Syscalls.RecvMsg(Socket.SafeHandle, ref msg, flags);

    private unsafe bool TryReceiveCopy<TSink>(ref TSink sink, int capacity, bool nonBlocking, out DevmemReceiveResult result)
        where TSink : IReceiveSink, allows ref struct
    {
        var ring = _copy!;
        Span<int> slots = stackalloc int[CopyRing.MaxSlotsPerReceive];
        int k = ring.Take(slots[..Math.Min(capacity, CopyRing.MaxSlotsPerReceive)]);
        if (k == 0)
        {
            if (_ledger.Held.Count >= ring.SlotCount)
            {
                throw new InvalidOperationException(
                    $"All {ring.SlotCount} copy slots of this memory are held by this socket: release fragments before receiving more (each fragment holds its slot until released).");
            }

            // Other sockets over this memory hold slots: wait for a release (the caller waits on the
            // ring instead of the socket).
            _waitForSlot = true;
            result = default;
            return false;
        }

        // From here every slot taken goes back unless a fragment holds it, whatever throws (a closed
        // socket, disposed memory, a failed DMA_BUF_IOCTL_SYNC): the ring's free count is as before.
        int used = 0;
        try
        {
            iovec* iov = stackalloc iovec[CopyRing.MaxSlotsPerReceive];
            byte* basePtr = ring.Memory.DangerousGetPointer();
            for (int i = 0; i < k; i++)
            {
                iov[i] = new iovec { iov_base = basePtr + ((long)slots[i] * ring.SlotSize), iov_len = (nuint)ring.SlotSize };
            }

            int flags = nonBlocking ? sys_socket.MSG_DONTWAIT : 0;
            SysResult r;
            msghdr msg = default;
            msg.msg_iov = iov;
            msg.msg_iovlen = (nuint)k;
            ring.Memory.BeginCpuAccess(CpuAccess.Write);
            try
            {
                r = RecvMsg(ref msg, flags);
            }
            finally
            {
                ring.Memory.EndCpuAccess(CpuAccess.Write);
            }

            if (r.IsError)
            {
                if (r.Errno == Errno.EAGAIN)
                {
                    result = default;
                    return false;
                }

                throw DevmemException.Syscall("recvmsg (copy fallback)", r.Errno);
            }

            int received = r.Int32;
            if (received == 0)
            {
                result = DevmemReceiveResult.End;
                return true;
            }

            int count = (received + ring.SlotSize - 1) / ring.SlotSize;
            int left = received;
            for (int i = 0; i < count; i++)
            {
                int len = Math.Min(left, ring.SlotSize);
                uint token = (uint)slots[i] + 1;
                sink.AddFragment(new DevmemFragment(0, (ulong)slots[i] * (ulong)ring.SlotSize, (uint)len, token, _id));
                used = i + 1;
                left -= len;
            }

            sink.RegisterHeld();

            _metrics.Received(used, dmabufBytes: 0, copiedBytes: received, linearBytes: 0, unsteeredBytes: 0, OutstandingTokens);
            result = new DevmemReceiveResult { Fragments = used, Segments = sink.Count, DmabufBytes = received };
            return true;
        }
        finally
        {
            ring.Give(slots[used..k]);
        }
    }

    /// <summary>
    /// zcrx: takes the completions the queue's loop thread received for this socket. Every byte arrives in
    /// the area (the kernel copies what the NIC left in host memory, headers included), so nothing lands
    /// in the linear buffer.
    /// </summary>
    private bool TryReceiveZcrx<TSink>(ref TSink sink, int capacity, out DevmemReceiveResult result)
        where TSink : IReceiveSink, allows ref struct
    {
        const int Batch = 64;
        int room = Math.Min(capacity, Batch);
        Span<ulong> offsets = stackalloc ulong[Batch];
        Span<uint> lengths = stackalloc uint[Batch];
        Span<uint> tokens = stackalloc uint[Batch];
        int n = _zcrx!.Take(offsets[..room], lengths[..room], tokens[..room], out bool ended);
        if (n == 0)
        {
            result = ended ? DevmemReceiveResult.End : default;
            return ended;
        }

        uint id = _zcrx.Instance.Id;
        long bytes = 0;
        for (int i = 0; i < n; i++)
        {
            sink.AddFragment(new DevmemFragment(id, offsets[i] & ZcrxInstance.AreaOffsetMask, lengths[i], tokens[i], _id));
            bytes += lengths[i];
        }

        sink.RegisterHeld();
        bool copied = _zcrx.Instance.IsNoDevice;
        _metrics.Received(n, copied ? 0 : bytes, copied ? bytes : 0, linearBytes: 0, unsteeredBytes: 0, OutstandingTokens);
        result = new DevmemReceiveResult { Fragments = n, Segments = sink.Count, DmabufBytes = bytes };
        return true;
    }

    private void WaitReadable()
    {
        SysResult r = Syscalls.Poll(Socket.SafeHandle, sys_poll.POLLIN, -1, out _);
        if (r.IsError)
        {
            throw DevmemException.Syscall("poll(POLLIN)", r.Errno);
        }
    }

    private async ValueTask WaitReadableAsync(CancellationToken cancellationToken)
    {
        try
        {
            // A zero-byte receive completes when the socket is readable, without a thread waiting
            // (the Tmds.DBus / Kestrel pattern).
            await Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.Fault)
        {
            // Device-memory data is queued: a read without MSG_SOCK_DEVMEM gets EFAULT (net/ipv4/tcp.c
            // tcp_recvmsg_locked), which here only means "readable".
        }
    }

    /// <summary>
    /// The socket's log messages, in a class of their own: the formats are parsed when a message is first
    /// logged, not when the first socket is made (a socket's construction lies between accepting a
    /// connection and its first receive).
    /// </summary>
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Devmem socket disposed with {Count} fragment token(s) the application never released; releasing them now (fragments must be released once consumed, or the NIC runs out of buffers)")]
        public static partial void Leak(ILogger logger, int count);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Devmem zero copy is not possible ({Reason}); receiving by copy into {Provider} memory ({Size} bytes) instead")]
        public static partial void Fallback(ILogger logger, string reason, string provider, long size);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Devmem socket received {Bytes} bytes without devmem control messages: this flow is not steered to a bound RX queue, so payload arrives by plain copy into the linear buffer (counted in UnsteeredBytes and devmem.rx.unsteered_bytes; logged once per socket)")]
        public static partial void Unsteered(ILogger logger, int bytes);

        [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Socket closed before the devmem socket was disposed: the kernel freed its tokens with it")]
        public static partial void ClosedBeforeDispose(ILogger logger);
    }
}
