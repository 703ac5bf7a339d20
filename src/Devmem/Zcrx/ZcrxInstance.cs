using System.Net.Sockets;
using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Sys;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Zcrx;

/// <summary>
/// An io_uring zero-copy receive (zcrx) instance on one NIC RX queue: the NIC writes payload of the flows
/// steered to that queue into <see cref="Memory"/> (host memory or a dma-buf), and each socket wrapped by
/// <see cref="Wrap"/> receives it as the same <see cref="DevmemFragment"/>s and
/// <see cref="DevmemSegment"/>s a devmem socket gives, released the same way.
/// </summary>
/// <remarks>
/// <para>
/// Engine: one io_uring per queue (<c>IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN</c>, 32-byte CQEs, as
/// zcrx requires: io_uring/zcrx.c <c>io_register_zcrx</c>), owned by one thread this object starts,
/// which registers the instance (<c>IORING_REGISTER_ZCRX_IFQ</c>), keeps a multishot
/// <c>IORING_OP_RECV_ZC</c> armed on every wrapped socket and hands each completion to its socket.
/// Released fragments go back through the refill ring, memory shared with the kernel: no system call
/// per release or per batch.
/// </para>
/// <para>
/// Lifetime: the kernel unregisters the instance (and the queue returns to the driver's own buffers)
/// when the ring closes, on <see cref="Dispose"/>. Fragments are invalid from then on. <see cref="Memory"/>
/// stays the caller's and must outlive this object. The instance needs CAP_NET_ADMIN.
/// </para>
/// <para>
/// The NIC must be set up as for devmem: header split on with hds-thresh 0, RSS away from the queue and
/// a flow rule to it (<see cref="Setup.DevmemRxSetup"/> with <c>Engine = DevmemRxEngine.Zcrx</c> does it
/// and opens the queue).
/// </para>
/// </remarks>
public sealed unsafe partial class ZcrxInstance : IDisposable
{
    /// <summary>The ring's setup flags (CQE32 added by <see cref="IoUringRing.Create"/>): zcrx needs DEFER_TASKRUN, which needs SINGLE_ISSUER (io_uring/zcrx.c io_register_zcrx).</summary>
    internal const uint RingFlags = linux_io_uring.IORING_SETUP_SINGLE_ISSUER | linux_io_uring.IORING_SETUP_DEFER_TASKRUN | linux_io_uring.IORING_SETUP_SUBMIT_ALL;

    private const ulong WakeTag = 1;
    private const ulong CancelTag = 2;
    private const ulong EventTag = 3;
    private static readonly TimeSpan EventRearmInterval = TimeSpan.FromSeconds(1);
    private const ulong FirstConnectionId = 16;
    private const uint MaxRefillEntries = 32768; // IO_RQ_MAX_ENTRIES, io_uring/zcrx.c

    private readonly ZcrxOptions _options;
    private readonly ILogger _logger;
    private readonly Thread? _thread;
    private readonly ManualResetEventSlim _ready = new();
    private readonly SafeFdHandle _wake = new();
    private readonly Lock _commandsLock = new();
    private List<(ZcrxConnection Connection, bool Arm)> _commands = [];
    private List<(ZcrxAccept Accept, bool Start)> _acceptCommands = [];
    private readonly Lock _rqLock = new();
    private readonly List<(ulong Off, uint Len)> _refillOverflow = [];
    private Exception? _startError;
    private Exception? _loopError;
    private bool _loopEnded;
    private SafeMappingHandle? _region;
    private uint* _rqHead;
    private uint* _rqTail;
    private io_uring_zcrx_rqe* _rqes;
    private uint _rqMask;
    private uint _rqTailLocal;
    private zcrx_stats* _stats;
    private ulong _areaToken;
    private long _nextId = (long)FirstConnectionId;
    private long _refilled;
    private volatile bool _stopping;
    private volatile bool _starved;
    private int _disposed;

    private ZcrxInstance(DeviceMemory memory, ZcrxOptions options, DevmemMetrics metrics)
    {
        Memory = memory;
        _options = options;
        Metrics = metrics;
        _interfaceName = options.IsNoDevice ? "none" : options.InterfaceName;
        _logger = options.Logger ?? NullLogger.Instance;
        _thread = options.Driver == ZcrxDriver.OwnThread ? new Thread(Run) { IsBackground = true, Name = "zcrx " + options.Describe(null) } : null;
    }

    /// <summary>
    /// Creates the io_uring and registers a zcrx instance on the queue <paramref name="options"/> name, with
    /// <paramref name="memory"/> as its area.
    /// </summary>
    /// <param name="memory">The area: host memory (<see cref="HostMemory"/>, any page-aligned mapping the
    /// provider made) or a dma-buf (udmabuf, dma-heap, CUDA; 6.16 and later). Stays the caller's.</param>
    /// <param name="options">The queue and the instance's parameters.</param>
    /// <returns>The registered queue.</returns>
    /// <exception cref="ZcrxException">The kernel refused: the message has its errno and what to do;
    /// <see cref="ZcrxException.Unsupported"/> says when zcrx is impossible here.</exception>
    public static ZcrxInstance Open(DeviceMemory memory, ZcrxOptions options) =>
        Open(memory, options, DevmemMetrics.For(options?.MeterFactory));

    /// <summary>As the public one, recording on <paramref name="metrics"/> (a setup's).</summary>
    internal static ZcrxInstance Open(DeviceMemory memory, ZcrxOptions options, DevmemMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(options);
        if (!Enum.IsDefined(options.Driver))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Driver, "ZcrxOptions.Driver is OwnThread or ReceivingThread");
        }

        ObjectDisposedException.ThrowIf(memory.IsDisposed, memory);
        if (!memory.IsDmabuf && !memory.HasCpuMapping)
        {
            throw new ArgumentException("A zcrx area is host memory mapped into this process or a dma-buf; this memory is neither.", nameof(memory));
        }

        if (options.IsNoDevice && memory.IsDmabuf)
        {
            throw new ArgumentException("A zcrx instance without a NIC (NoDevice) copies into host memory (the kernel cannot attach a dma-buf without a device): give it HostMemory.", nameof(memory));
        }

        if (options.RxBufferLength is uint len && (len < Environment.SystemPageSize || (len & (len - 1)) != 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), len, $"RxBufferLength is a power of two of at least a page ({Environment.SystemPageSize} bytes).");
        }

        var q = new ZcrxInstance(memory, options, metrics);
        if (q._thread is not null)
        {
            q._thread.Start();
            q._ready.Wait();
            if (q._startError is not null)
            {
                q._thread.Join();
                q._ready.Dispose();
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(q._startError);
            }
        }
        else
        {
            // Driven by the receiving thread: made here, disabled (IORING_SETUP_R_DISABLED), so that the
            // thread that enables it becomes its single issuer (io_uring/register.c, io_register_enable_rings).
            try
            {
                q._ring = q.Start();
            }
            catch
            {
                q.Teardown();
                q._ready.Dispose();
                throw;
            }
        }

        LogOpened(q._logger, q.Id, options.InterfaceIndex, options.QueueId, memory.Kind, memory.Size, q.RxBufferLength, q.RefillEntries);
        metrics.Track(q);
        return q;
    }

    /// <summary>The area the NIC writes into; fragment offsets are offsets in it.</summary>
    public DeviceMemory Memory { get; }

    /// <summary>The kernel's id of the instance (zcrx_id); fragments carry it as their <see cref="DevmemFragment.DmabufId"/>.</summary>
    public uint Id { get; private set; }

    /// <summary>The interface's name ("none" without a NIC).</summary>
    public string InterfaceName => _interfaceName ??= NameOf(_options.InterfaceIndex);

    // Looked up from the index on first use (a metrics listener, a log line): the lookup reads every
    // interface's files, which a short-lived receiver should not pay for at start.
    private string? _interfaceName;

    /// <summary>The interface's name if known without a lookup (given, or looked up already); else null.</summary>
    internal string? KnownInterfaceName => _interfaceName;

    /// <summary>The instruments the instance and its sockets record on.</summary>
    internal DevmemMetrics Metrics { get; }

    private static string NameOf(int ifindex)
    {
        foreach (var ni in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces())
        {
            try
            {
                if (ni.GetIPProperties().GetIPv4Properties()?.Index == ifindex || ni.GetIPProperties().GetIPv6Properties()?.Index == ifindex)
                {
                    return ni.Name;
                }
            }
            catch (System.Net.NetworkInformation.NetworkInformationException)
            {
            }
        }

        return $"ifindex {ifindex}";
    }

    /// <summary>The interface index; 0 without a NIC.</summary>
    public int InterfaceIndex => _options.InterfaceIndex;

    /// <summary>The RX queue; 0 without a NIC.</summary>
    public uint QueueId => _options.QueueId;

    /// <summary>True for an instance without a NIC (<see cref="ZcrxOptions.NoDevice"/>): every byte is copied by the kernel.</summary>
    public bool IsNoDevice => _options.IsNoDevice;

    /// <summary>The buffer size the kernel uses (a page unless <see cref="ZcrxOptions.RxBufferLength"/> asked for more).</summary>
    public uint RxBufferLength { get; private set; }

    /// <summary>Entries of the refill ring, as the kernel rounded them.</summary>
    public uint RefillEntries { get; private set; }

    /// <summary>Buffers given back through the refill ring so far.</summary>
    public long BuffersReturned => Interlocked.Read(ref _refilled);

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// The kernel's count of what it copied instead of receiving by zero copy (<c>struct zcrx_stats</c>:
    /// headers, and payload that did not arrive in the area's buffers); null where the kernel keeps no
    /// such statistics (before 7.3).
    /// </summary>
    public ZcrxCopyStats? CopyStats => _stats is null || IsDisposed ? null
        : new ZcrxCopyStats(Volatile.Read(ref *(long*)&_stats->copy_count), Volatile.Read(ref *(long*)&_stats->copy_bytes));

    /// <summary>
    /// Wraps a connected TCP socket (accepted by the caller, its flow steered to this queue) so that it
    /// receives through this instance. The socket stays the caller's; dispose the returned socket before
    /// closing it.
    /// </summary>
    /// <param name="socket">The connected socket.</param>
    /// <param name="logger">Where the socket logs; none by default.</param>
    /// <param name="requestBytes">Bytes per RECV_ZC request (the request's <c>len</c>; the kernel's iou-zcrx -o
    /// uses a page): when one has received that many, the library arms the next. 0 (the default): one
    /// request for the whole stream.</param>
    /// <returns>A <see cref="DevmemSocket"/> whose receives come from this instance.</returns>
    public DevmemSocket Wrap(Socket socket, ILogger? logger = null, uint requestBytes = 0)
    {
        ThrowIfCannotTake(socket, nameof(socket));
        var connection = new ZcrxConnection(this, socket.SafeHandle, (ulong)Interlocked.Increment(ref _nextId)) { RequestBytes = requestBytes };
        var ds = DevmemSocket.CreateZcrx(socket, connection, logger ?? _options.Logger);
        Post(connection, arm: true);
        return ds;
    }

    /// <summary>Wrap's and Accept's checks: a TCP socket, an instance neither disposed nor failed.</summary>
    private void ThrowIfCannotTake(Socket socket, string paramName)
    {
        ArgumentNullException.ThrowIfNull(socket, paramName);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (Volatile.Read(ref _loopError) is Exception failed)
        {
            throw ZcrxException.LoopFailed(failed);
        }

        if (socket.ProtocolType != ProtocolType.Tcp)
        {
            throw new ArgumentException($"zcrx receives on TCP sockets; this one is {socket.ProtocolType}.", paramName);
        }
    }

    /// <summary>The hint for an accept the kernel refused with EINVAL.</summary>
    internal const string NotListeningHint = "the socket must be bound and listening (Socket.Listen) before Accept";

    /// <summary>
    /// Accepts the next connection on <paramref name="listener"/> through this instance's ring and arms its
    /// zero-copy receive before anything else runs: the thread driving the ring gets the ring's
    /// IORING_OP_ACCEPT completion and submits the new socket's RECV_ZC at once, as the kernel's iou-zcrx
    /// does. With <see cref="Socket.Accept()"/> and then <see cref="Wrap"/>, the peer's first data waits
    /// unread until the application has made its <see cref="Socket"/>, wrapped it and called its first
    /// receive; when that takes longer than the sender's loss-probe timeout (two round trips, plus a few
    /// milliseconds), the receiver's ACKs are delayed and the sender stops to probe (TCPLossProbes).
    /// </summary>
    /// <param name="listener">A listening TCP socket; it stays owned by the caller.</param>
    /// <param name="logger">Where the socket logs; by default the instance's logger.</param>
    /// <param name="requestBytes">Bytes per RECV_ZC request, as for <see cref="Wrap"/>.</param>
    /// <param name="cancellationToken">Ends the wait: the ring's accept request is cancelled, and a
    /// connection it accepted meanwhile is closed.</param>
    /// <returns>The accepted connection, receiving; it owns the accepted socket and closes it when
    /// disposed (<see cref="DevmemSocket.Socket"/> makes its <see cref="Socket"/> when first asked for).</returns>
    /// <exception cref="ObjectDisposedException">The instance was disposed, before or during the wait.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ZcrxException">The instance's loop failed (<see cref="ZcrxException.LoopFailed"/>).</exception>
    /// <exception cref="DevmemException">The kernel refused the accept, with its errno (EINVAL: the socket does not listen).</exception>
    /// <exception cref="InvalidOperationException">Driven by the receiving thread, and another thread drives the ring.</exception>
    public DevmemSocket Accept(Socket listener, ILogger? logger = null, uint requestBytes = 0, CancellationToken cancellationToken = default)
    {
        ThrowIfCannotTake(listener, nameof(listener));
        if (IsDrivenByReceiver && Volatile.Read(ref _driver) is int driver and not 0 && driver != Environment.CurrentManagedThreadId)
        {
            throw OtherDriver(driver); // before the request: nobody would take what it accepts
        }

        ZcrxAccept accept = StartAccept(listener, requestBytes, cancellationToken);
        using (cancellationToken.UnsafeRegister(CancelAccept, (this, accept)))
        {
            try
            {
                if (IsDrivenByReceiver)
                {
                    while (!accept.IsDone)
                    {
                        Drive(); // another thread became the driver meanwhile: InvalidOperationException
                    }
                }
                else
                {
                    accept.Wait();
                }
            }
            catch
            {
                // Nobody will take the connection: the driver closes it if the accept still completes.
                if (accept.Abandon() is ZcrxConnection orphan)
                {
                    CloseAccepted(orphan);
                }

                PostAccept(accept, start: false);
                throw;
            }
        }

        return Accepted(accept, logger, cancellationToken);
    }

    /// <summary>
    /// <see cref="Accept"/> without a thread waiting: the instance's own thread drives the ring
    /// (<see cref="ZcrxDriver.OwnThread"/>), accepts, arms the connection's zero-copy receive and completes
    /// the task. Driven by the receiving thread, nobody else drives the ring, so the call drives it itself
    /// and completes synchronously, as <see cref="Accept"/>.
    /// </summary>
    /// <param name="listener">A listening TCP socket; it stays owned by the caller.</param>
    /// <param name="logger">Where the socket logs; by default the instance's logger.</param>
    /// <param name="requestBytes">Bytes per RECV_ZC request, as for <see cref="Wrap"/>.</param>
    /// <param name="cancellationToken">Ends the wait: the ring's accept request is cancelled, and a
    /// connection it accepted meanwhile is closed.</param>
    /// <returns>The accepted connection, receiving; it owns the accepted socket, as <see cref="Accept"/>'s.</returns>
    /// <exception cref="ObjectDisposedException">The instance was disposed, before or during the wait.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ZcrxException">The instance's loop failed (<see cref="ZcrxException.LoopFailed"/>).</exception>
    /// <exception cref="DevmemException">The kernel refused the accept, with its errno (EINVAL: the socket does not listen).</exception>
    /// <exception cref="InvalidOperationException">Driven by the receiving thread, and another thread drives the ring.</exception>
    public ValueTask<DevmemSocket> AcceptAsync(Socket listener, ILogger? logger = null, uint requestBytes = 0, CancellationToken cancellationToken = default)
    {
        ZcrxAccept accept;
        try
        {
            if (IsDrivenByReceiver)
            {
                return ValueTask.FromResult(Accept(listener, logger, requestBytes, cancellationToken));
            }

            ThrowIfCannotTake(listener, nameof(listener));
            accept = StartAccept(listener, requestBytes, cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromException<DevmemSocket>(e);
        }

        return accept.WaitAsync(this, logger, cancellationToken); // the await itself: this class is unsafe (CS4004)
    }

    // Posts a new IORING_OP_ACCEPT on the listener to the driving thread, unless the token is already cancelled.
    private ZcrxAccept StartAccept(Socket listener, uint requestBytes, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var accept = new ZcrxAccept((ulong)Interlocked.Increment(ref _nextId), listener.SafeHandle, requestBytes);
        PostAccept(accept, start: true);
        return accept;
    }

    /// <summary>A cancelled token posts the accept's cancellation (ASYNC_CANCEL) to the driving thread.</summary>
    internal static readonly Action<object?> CancelAccept = static s =>
    {
        var (instance, pending) = ((ZcrxInstance, ZcrxAccept))s!;
        instance.PostAccept(pending, start: false);
    };

    /// <summary>An ended accept request's outcome: its connection as a <see cref="DevmemSocket"/>, or the exception that says why there is none.</summary>
    internal DevmemSocket Accepted(ZcrxAccept accept, ILogger? logger, CancellationToken cancellationToken)
    {
        ZcrxConnection? connection = accept.Connection;
        if (connection is null)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            if (accept.Cause is not null)
            {
                throw ZcrxException.LoopFailed(accept.Cause);
            }

            throw DevmemException.Syscall("accept (IORING_OP_ACCEPT on the zcrx ring)", accept.Error,
                accept.Error == Errno.EINVAL ? NotListeningHint : null);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            CloseAccepted(connection);
            cancellationToken.ThrowIfCancellationRequested();
        }

        // Its Socket is made when first asked for: the receive does not need it.
        return DevmemSocket.CreateZcrx(socket: null, connection, logger ?? _options.Logger);
    }

    /// <summary>Gives one buffer back to the kernel (see the batch overload).</summary>
    internal void Refill(ulong offset, uint length) => Refill([offset], [length]);

    /// <summary>Gives buffers back to the kernel: refill-ring entries (the area token ORed in), published with one release store of the tail.</summary>
    internal void Refill(ReadOnlySpan<ulong> offsets, ReadOnlySpan<uint> lengths)
    {
        lock (_rqLock)
        {
            if (_rqes is null)
            {
                return; // disposed: the ring and its buffers are gone
            }

            if (_refillOverflow.Count > 0)
            {
                FlushOverflowLocked();
            }

            for (int k = 0; k < offsets.Length; k++)
            {
                if (_refillOverflow.Count > 0 || !TryPushLocked(offsets[k], lengths[k]))
                {
                    _refillOverflow.Add((offsets[k], lengths[k]));
                }
            }

            Volatile.Write(ref *_rqTail, _rqTailLocal);
        }

        if (_starved)
        {
            Wake(); // a receive waits for a free buffer: the loop arms it again
        }
    }

    private bool TryPushLocked(ulong offset, uint length)
    {
        if (_rqTailLocal - Volatile.Read(ref *_rqHead) > _rqMask)
        {
            return false;
        }

        io_uring_zcrx_rqe* rqe = &_rqes[_rqTailLocal & _rqMask];
        rqe->off = (offset & AreaOffsetMask) | _areaToken;
        rqe->len = length;
        rqe->__pad = 0;
        _rqTailLocal++;
        _refilled++;
        return true;
    }

    private void FlushOverflowLocked()
    {
        int k = 0;
        while (k < _refillOverflow.Count && TryPushLocked(_refillOverflow[k].Off, _refillOverflow[k].Len))
        {
            k++;
        }

        _refillOverflow.RemoveRange(0, k);
    }

    /// <summary>The offset bits of a CQE's or refill entry's <c>off</c> (below IORING_ZCRX_AREA_SHIFT).</summary>
    internal const ulong AreaOffsetMask = (1UL << linux_io_uring_zcrx.IORING_ZCRX_AREA_SHIFT) - 1;

    /// <summary>The socket side of <paramref name="connection"/> closed: cancel its request.</summary>
    internal void Cancel(ZcrxConnection connection)
    {
        if (!IsDisposed)
        {
            Post(connection, arm: false);
        }
    }

    private void Post(ZcrxConnection connection, bool arm)
    {
        if (!Enqueue(ref _commands, (connection, arm)) && arm)
        {
            EndUnarmed(connection); // no loop will arm it: the socket learns now, not never
        }
    }

    /// <summary>
    /// Adds <paramref name="command"/> to <paramref name="queue"/> (a field the driving thread swaps out
    /// under the same lock, hence by reference) and wakes the driver when it needs waking. False when the
    /// loop has ended: nothing was queued, and nothing will be.
    /// </summary>
    private bool Enqueue<T>(ref List<T> queue, T command)
    {
        lock (_commandsLock)
        {
            if (_loopEnded)
            {
                return false;
            }

            queue.Add(command);
        }

        if (!DriverSeesCommands())
        {
            Wake();
        }

        return true;
    }

    /// <summary>An accepted connection nobody will receive on: its request cancelled, its descriptor closed when the ring lets go of it.</summary>
    private static void CloseAccepted(ZcrxConnection connection)
    {
        connection.Close([]);
        connection.Handle.Dispose();
    }

    /// <summary>Queues the start (<paramref name="start"/>) or the cancellation of an accept for the driving thread; a start after the loop ended fails at once.</summary>
    private void PostAccept(ZcrxAccept accept, bool start)
    {
        if (!Enqueue(ref _acceptCommands, (accept, start)) && start)
        {
            accept.Fail(Errno.ECANCELED, Volatile.Read(ref _loopError));
        }
    }

    /// <summary>
    /// Driven by the receiver, a queued command needs no wake-up when no thread can be waiting in the ring
    /// for it: before the first receive enables the ring, and on the driving thread itself outside a round.
    /// The wake-up would cost a write and a completion. Called after the command was queued: the driver
    /// sets <see cref="_driver"/> before its first round takes the queue under <c>_commandsLock</c>, so a
    /// command queued after that take reads the driver set, and one queued before it is taken.
    /// </summary>
    private bool DriverSeesCommands()
    {
        if (!IsDrivenByReceiver)
        {
            return false;
        }

        int driver = Volatile.Read(ref _driver);
        return driver == 0 || (driver == Environment.CurrentManagedThreadId && !_driveLock.IsHeldByCurrentThread);
    }

    /// <summary>A socket the loop will never serve (it ended before arming it): the loop's error, or disposal.</summary>
    private void EndUnarmed(ZcrxConnection connection) =>
        connection.Terminate(Errno.ECANCELED, Volatile.Read(ref _loopError));

    private void Wake()
    {
        ulong one = 1;
        try
        {
            Syscalls.Write(_wake, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Stops the loop and closes the ring: the kernel unregisters the instance and the queue goes back to
    /// the driver's buffers. Sockets still wrapped end with <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Metrics.Untrack(this);
        _stopping = true;
        Wake();
        if (_thread is null)
        {
            // A receive driving the ring returns from its wait (the wake-up above) and lets go of it.
            lock (_driveLock)
            {
                Teardown();
            }
        }
        else if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        _ready.Dispose();
    }

    /// <summary>True when the instance has no thread of its own and the receiving thread drives the ring (<see cref="ZcrxDriver.ReceivingThread"/>).</summary>
    internal bool IsDrivenByReceiver => _thread is null;

    /// <summary>
    /// <see cref="ZcrxDriver.ReceivingThread"/>: one round of the loop on the calling thread (waits for at
    /// least one completion). The first thread to call it enables the ring and becomes its only driver.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another thread drives the ring.</exception>
    internal void Drive()
    {
        lock (_driveLock)
        {
            if (_loopEnded)
            {
                return; // every socket was ended with the reason
            }

            int me = Environment.CurrentManagedThreadId;
            if (_driver != 0 && _driver != me)
            {
                throw OtherDriver(_driver);
            }

            try
            {
                if (_driver == 0)
                {
                    SysResult r = _ring!.Register(linux_io_uring.IORING_REGISTER_ENABLE_RINGS, null, 0);
                    if (r.IsError)
                    {
                        throw DevmemException.Syscall("IORING_REGISTER_ENABLE_RINGS (the zcrx ring's first receive)", r.Errno);
                    }

                    Volatile.Write(ref _driver, me);
                    BeginDriving();
                }

                if (!Turn())
                {
                    Teardown();
                }
            }
            catch (Exception ex)
            {
                Fail(ex);
                Teardown();
            }
        }
    }

    private static InvalidOperationException OtherDriver(int driver) => new(
        $"This zcrx instance is driven by the thread that first received on it (managed thread {driver}; ZcrxDriver.ReceivingThread): receive and accept on it from that thread only, or open the instance with ZcrxDriver.OwnThread.");

    /// <summary>The loop thread (<see cref="ZcrxDriver.OwnThread"/>): creates and registers everything (SINGLE_ISSUER: this thread is the ring's only submitter), then runs.</summary>
    private void Run()
    {
        try
        {
            try
            {
                _ring = Start();
            }
            catch (Exception ex)
            {
                _startError = ex; // Start disposed the ring it made
                return;
            }
            finally
            {
                _ready.Set();
            }

            BeginDriving();
            while (Turn())
            {
            }
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
        finally
        {
            Teardown();
        }
    }

    /// <summary>The loop failed: every socket on the instance ends with <paramref name="ex"/>.</summary>
    private void Fail(Exception ex)
    {
        LogLoopFailed(_logger, ex);
        Volatile.Write(ref _loopError, ex);
        Errno errno = ex is DevmemIOException d ? d.Errno : Errno.EIO;
        foreach (ZcrxConnection c in _connections.Values)
        {
            c.Terminate(errno, ex);
        }

        foreach (ZcrxAccept a in _accepts.Values)
        {
            a.Fail(errno, ex);
        }
    }

    /// <summary>Ends the loop for good: sockets still waiting end, the ring closes (the kernel unregisters the instance). Once.</summary>
    private void Teardown()
    {
        // From here on no command is taken: sockets wrapped later, or whose arming was still queued,
        // end at once instead of waiting for a loop that is gone.
        List<(ZcrxConnection Connection, bool Arm)> orphans;
        List<(ZcrxAccept Accept, bool Start)> acceptOrphans;
        lock (_commandsLock)
        {
            if (_loopEnded)
            {
                return;
            }

            _loopEnded = true;
            orphans = [.. _commands];
            _commands.Clear();
            acceptOrphans = [.. _acceptCommands];
            _acceptCommands.Clear();
        }

        foreach ((ZcrxAccept a, bool start) in acceptOrphans)
        {
            if (start)
            {
                a.Fail(Errno.ECANCELED, Volatile.Read(ref _loopError));
            }
        }

        foreach (ZcrxAccept a in _accepts.Values)
        {
            a.ListenerHold?.Dispose();
            a.Fail(Errno.ECANCELED, Volatile.Read(ref _loopError));
        }

        _accepts.Clear();

        foreach ((ZcrxConnection c, bool arm) in orphans)
        {
            if (arm)
            {
                EndUnarmed(c);
            }
        }

        foreach (ZcrxConnection c in _connections.Values)
        {
            c.Terminate(Errno.ECANCELED);
            c.SocketHold?.Dispose();
        }

        _connections.Clear();
        lock (_rqLock)
        {
            _rqes = null;
            _stats = null;
        }

        _wakeHold?.Dispose();
        _ring?.Dispose();
        _region?.Dispose();
        _wake.Dispose();
        if (_wakeBuffer is not null)
        {
            NativeMemory.Free(_wakeBuffer);
            _wakeBuffer = null;
        }
    }

    private IoUringRing Start()
    {
        SysResult e = Syscalls.EventFd(0, sys_eventfd.EFD_CLOEXEC);
        if (e.IsError)
        {
            throw DevmemException.Syscall("eventfd", e.Errno);
        }

        _wake.Own(e.Int32);
        IoUringRing ring = IoUringRing.Create(_options.RingEntries, _thread is null ? RingFlags | linux_io_uring.IORING_SETUP_R_DISABLED : RingFlags);
        try
        {
            if (ring.Supports(linux_io_uring.IORING_OP_RECV_ZC) == false)
            {
                throw ZcrxException.NotSupported("io_uring zero-copy receive", ZcrxUnsupportedReason.KernelTooOld,
                    $"This kernel ({Environment.OSVersion.Version}) has io_uring but not zero-copy receive (IORING_OP_RECV_ZC): zcrx needs Linux 6.15, dma-buf areas 6.16.");
            }

            Register(ring);
            return ring;
        }
        catch
        {
            ring.Dispose();
            throw;
        }
    }

    private void Register(IoUringRing ring)
    {
        uint page = (uint)Environment.SystemPageSize;
        long areaBuffers = Memory.Size / (_options.RxBufferLength ?? page);
        uint entries = _options.RefillEntries != 0 ? _options.RefillEntries
            : (uint)Math.Min(MaxRefillEntries, System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)Math.Max(64, areaBuffers * 2)));
        entries = Math.Min(MaxRefillEntries, (uint)System.Numerics.BitOperations.RoundUpToPowerOf2(entries));

        // The refill region: a page for the header (head and tail, each cache-line aligned), the entries,
        // then struct zcrx_stats where the kernel keeps them (zcrx_validate_notif_stats: past the entries, 8-aligned).
        ulong statsOffset = page + ((ulong)entries * (ulong)sizeof(io_uring_zcrx_rqe));
        ulong regionSize = (statsOffset + (ulong)sizeof(zcrx_stats) + page - 1) / page * page;
        var region = new SafeMappingHandle();
        SysResult m = Syscalls.MapAnonymous((nuint)regionSize);
        if (m.IsError)
        {
            region.Dispose();
            throw DevmemException.Syscall($"mmap of the zcrx refill ring ({regionSize} bytes)", m.Errno);
        }

        region.Own(m.Value, (nuint)regionSize);
        _region = region;
        byte* regionPtr = (byte*)m.Value;

        bool dmabuf = Memory.IsDmabuf;
        SafeDmabufHandle? dmabufHandle = dmabuf ? Memory.DmabufHandle : null;
        FdHold? dmabufFd = dmabufHandle is null ? null : Syscalls.Hold(dmabufHandle);
        try
        {
            // With stats first (7.3's event_desc); a kernel whose struct still has reserved words there says EINVAL.
            Errno first = TryRegister(ring, regionPtr, regionSize, entries, statsOffset, dmabufFd, withStats: true, out var reg, out var area);
            if (first == Errno.EINVAL)
            {
                new Span<byte>(regionPtr, (int)Math.Min(regionSize, int.MaxValue)).Clear();
                first = TryRegister(ring, regionPtr, regionSize, entries, statsOffset, dmabufFd, withStats: false, out reg, out area);
            }
            else if (first == Errno.None)
            {
                _stats = (zcrx_stats*)(regionPtr + statsOffset);
            }

            if (first != Errno.None)
            {
                string? owner = first == Errno.EEXIST ? QueueOwner() : null;
                ZcrxException ex = ZcrxException.RegisterFailed(_options.Describe(null), first, dmabuf, _options.RxBufferLength is not null, _options.IsNoDevice, owner);
                if (first == Errno.EINVAL && dmabuf && Environment.OSVersion.Version < new Version(6, 16))
                {
                    ex = ZcrxException.NotSupported($"IORING_REGISTER_ZCRX_IFQ ({_options.Describe(null)})", ZcrxUnsupportedReason.KernelTooOld,
                        $"This kernel ({Environment.OSVersion.Version}) takes host memory only: zcrx into a dma-buf area needs Linux 6.16. Use host memory, or a newer kernel.");
                }

                throw ex;
            }

            Id = reg.zcrx_id;
            RefillEntries = reg.rq_entries;
            RxBufferLength = reg.rx_buf_len != 0 ? reg.rx_buf_len : page;
            _rqHead = (uint*)(regionPtr + reg.offsets.head);
            _rqTail = (uint*)(regionPtr + reg.offsets.tail);
            _rqes = (io_uring_zcrx_rqe*)(regionPtr + reg.offsets.rqes);
            _rqMask = reg.rq_entries - 1;
            _rqTailLocal = Volatile.Read(ref *_rqTail);
            _areaToken = area.rq_area_token;
        }
        finally
        {
            dmabufFd?.Dispose();
        }
    }

    private Errno TryRegister(IoUringRing ring, byte* regionPtr, ulong regionSize, uint entries, ulong statsOffset,
        FdHold? dmabuf, bool withStats, out io_uring_zcrx_ifq_reg reg, out io_uring_zcrx_area_reg area)
    {
        var rd = new io_uring_region_desc { user_addr = (ulong)regionPtr, size = regionSize, flags = linux_io_uring.IORING_MEM_REGION_TYPE_USER };
        area = new io_uring_zcrx_area_reg { len = (ulong)Memory.Size };
        if (dmabuf is not null)
        {
            area.flags = linux_io_uring_zcrx.IORING_ZCRX_AREA_DMABUF;
            area.dmabuf_fd = (uint)dmabuf.Fd;
        }
        else
        {
            area.addr = (ulong)Memory.DangerousGetPointer();
        }

        var events = new zcrx_event_desc
        {
            flags = linux_io_uring_zcrx.ZCRX_EVENT_DESC_FLAG_STATS,
            stats_offset = statsOffset,
            user_data = EventTag,
            type_mask = (1U << (int)linux_io_uring_zcrx.ZCRX_EVENT_ALLOC_FAIL) | (1U << (int)linux_io_uring_zcrx.ZCRX_EVENT_COPY),
        };
        fixed (io_uring_zcrx_area_reg* a = &area)
        {
            reg = new io_uring_zcrx_ifq_reg
            {
                if_idx = (uint)_options.InterfaceIndex,
                if_rxq = _options.QueueId,
                rq_entries = entries,
                flags = _options.IsNoDevice ? linux_io_uring_zcrx.ZCRX_REG_NODEV : 0,
                area_ptr = (ulong)a,
                region_ptr = (ulong)&rd,
                rx_buf_len = _options.RxBufferLength ?? 0,
                event_desc = withStats ? (ulong)&events : 0,
            };
            fixed (io_uring_zcrx_ifq_reg* r = &reg)
            {
                SysResult res = ring.Register(linux_io_uring.IORING_REGISTER_ZCRX_IFQ, r, 1);
                return res.IsError ? res.Errno : Errno.None;
            }
        }
    }

    /// <summary>For EEXIST: who holds the queue, from netdev's queue-get (a devmem binding id or an io_uring instance).</summary>
    private string? QueueOwner()
    {
        if (_options.IsNoDevice)
        {
            return null;
        }

        try
        {
            using var netdev = NetdevClient.Open();
            NetdevQueueInfo q = netdev.GetQueue(_options.InterfaceIndex, NetdevQueueType.Rx, _options.QueueId);
            return q.DmabufId is uint id ? $"devmem dma-buf binding {id} is bound to it (queue-get shows dmabuf {id})"
                : q.HasIoUring ? "another io_uring zcrx instance is registered on it (queue-get shows io-uring)"
                : "queue-get shows no memory provider on it now; an XDP program on the interface also gives EEXIST";
        }
        catch (DevmemIOException)
        {
            return null;
        }
    }

    /// <summary>The driving thread's first step: the wake-up eventfd's READ armed (Dispose, a cancel, a starved receive write to it).</summary>
    private void BeginDriving()
    {
        // The READ's buffer outlives any one round: the request may still be pending when the loop ends
        // and is ended only when Teardown closes the ring; native memory, freed after that.
        _wakeBuffer = (ulong*)NativeMemory.AllocZeroed(sizeof(ulong));
        _wakeHold = Syscalls.Hold(_wake);
        _flushedTail = Volatile.Read(ref *_rqTail);
        ArmWake(_ring!);
    }

    /// <summary>
    /// One round of the loop, on the driving thread: queued commands and re-arms submitted, one wait for
    /// completions, each handed to its socket. False once the instance is stopping.
    /// </summary>
    private bool Turn()
    {
        IoUringRing ring = _ring!;
        int batchCount = 0;
        ZcrxConnection? batchOwner = null;

        // Without a NIC no page pool consumes the refill ring: the kernel takes returned buffers back
        // only on ZCRX_CTRL_FLUSH_RQ (include/uapi/linux/io_uring/zcrx.h, ZCRX_REG_NODEV).
        uint tail = Volatile.Read(ref *_rqTail);
        if (_options.IsNoDevice && tail != _flushedTail)
        {
            FlushRefillRing(ring);
            _flushedTail = tail;
        }

        // Each event fires once until armed again; armed at most once a second (they are diagnostics).
        for (int i = _rearm.Count - 1; i >= 0; i--)
        {
            if (Environment.TickCount64 >= _rearm[i].Due)
            {
                ArmEvent(ring, _rearm[i].Type);
                _rearm.RemoveAt(i);
            }
        }

        // Receives that ended for want of a free buffer (ENOMEM) start again once one came back.
        if (_starvedList.Count > 0 && tail != _starvedAtTail)
        {
            _starved = false;
            foreach (ZcrxConnection c in _starvedList)
            {
                if (!c.IsClosed)
                {
                    ArmReceive(ring, c);
                }
            }

            _starvedList.Clear();
        }

        lock (_commandsLock)
        {
            // Swapped, not copied: both lists are empty outside this block and the loop below.
            (_taken, _commands) = (_commands, _taken);
            (_acceptsTaken, _acceptCommands) = (_acceptCommands, _acceptsTaken);
        }

        foreach ((ZcrxAccept a, bool start) in _acceptsTaken)
        {
            if (start)
            {
                ArmAccept(ring, a);
            }
            else if (_accepts.ContainsKey(a.Id))
            {
                ArmCancel(ring, a.Id);
            }
        }

        _acceptsTaken.Clear();

        foreach ((ZcrxConnection c, bool arm) in _taken)
        {
            if (arm)
            {
                // The request names the socket by fd number: hold the handle until the request ends.
                try
                {
                    c.SocketHold = Syscalls.Hold(c.Handle);
                }
                catch (ObjectDisposedException)
                {
                    c.Terminate(Errno.EBADF);
                    continue;
                }

                _connections[c.Id] = c;
                ArmReceive(ring, c);
            }
            else if (_connections.ContainsKey(c.Id))
            {
                ArmCancel(ring, c.Id);
            }
        }

        _taken.Clear();
        if (_stopping)
        {
            return false;
        }

        if (_faultForTest is Exception fault)
        {
            throw fault;
        }

        if (!ring.Enter(wait: true))
        {
            return true;
        }

        uint seen = 0;
        io_uring_cqe* cqe;
        while ((cqe = ring.PeekCqe(seen)) is not null)
        {
            seen++;
            ulong tag = cqe->user_data;
            ZcrxConnection? c = tag == batchOwner?.Id ? batchOwner : null;
            if (c is null)
            {
                FlushBatch(ref batchOwner, ref batchCount);
                if (tag == WakeTag)
                {
                    ArmWake(ring);
                    continue;
                }

                if (tag == EventTag)
                {
                    OnEvent((uint)cqe->res);
                    continue;
                }

                if (_accepts.Remove(tag, out ZcrxAccept? accepted))
                {
                    OnAccepted(ring, accepted, cqe->res);
                    continue;
                }

                if (tag == CancelTag || !_connections.TryGetValue(tag, out c))
                {
                    continue;
                }
            }

            // Data completions of one socket in a row go to it as one batch.
            if ((cqe->flags & linux_io_uring.IORING_CQE_F_MORE) != 0)
            {
                if (batchOwner != c || batchCount == BatchSize)
                {
                    FlushBatch(ref batchOwner, ref batchCount);
                    batchOwner = c;
                }

                _batchOff[batchCount] = ((io_uring_zcrx_cqe*)(cqe + 1))->off;
                _batchLen[batchCount++] = (uint)cqe->res;
                c.RequestReceived += (uint)cqe->res;
                continue;
            }

            // The request ended: its socket's completions before this go first.
            FlushBatch(ref batchOwner, ref batchCount);

            // Arm again when the socket may have more: a request with a length ends with 0 once it
            // received that much (io_recvzc); -ENOSPC: the CQ ring was full.
            if (!c.IsClosed && ((cqe->res == 0 && c.RequestBytes != 0 && c.RequestReceived >= c.RequestBytes) || cqe->res == -(int)Errno.ENOSPC))
            {
                ArmReceive(ring, c);
                continue;
            }

            // -ENOMEM: no free buffer in the area (the application holds them, or they wait in the
            // refill ring): arm again once the refill ring moves.
            if (cqe->res == -(int)Errno.ENOMEM && !c.IsClosed)
            {
                if (_starvedList.Count == 0)
                {
                    _starvedAtTail = Volatile.Read(ref *_rqTail);
                    _starved = true;
                    if (_options.IsNoDevice)
                    {
                        FlushRefillRing(ring);
                    }
                }

                _starvedList.Add(c);
                continue;
            }

            _connections.Remove(tag);
            c.SocketHold?.Dispose();
            c.Terminate(cqe->res >= 0 ? Errno.None : (Errno)(-cqe->res));
        }

        FlushBatch(ref batchOwner, ref batchCount);
        ring.AdvanceCq(seen);
        if (_refillOverflow.Count > 0)
        {
            lock (_rqLock)
            {
                if (_rqes is not null)
                {
                    FlushOverflowLocked();
                    Volatile.Write(ref *_rqTail, _rqTailLocal);
                }
            }
        }

        return true;
    }

    private void FlushBatch(ref ZcrxConnection? owner, ref int count)
    {
        if (owner is not null && count > 0)
        {
            owner.Post(_batchOff.AsSpan(0, count), _batchLen.AsSpan(0, count));
        }

        owner = null;
        count = 0;
    }

    // The loop's state, touched only by the thread that drives the ring (and by Teardown after it).
    private const int BatchSize = 64;
    private readonly ulong[] _batchOff = new ulong[BatchSize];
    private readonly uint[] _batchLen = new uint[BatchSize];
    private readonly Dictionary<ulong, ZcrxConnection> _connections = [];
    private List<(ZcrxConnection Connection, bool Arm)> _taken = [];
    private List<(ZcrxAccept Accept, bool Start)> _acceptsTaken = [];
    private readonly Dictionary<ulong, ZcrxAccept> _accepts = [];
    private readonly List<ZcrxConnection> _starvedList = [];
    private readonly List<(uint Type, long Due)> _rearm = [];
    private readonly Lock _driveLock = new();
    private IoUringRing? _ring;
    private FdHold? _wakeHold;
    private uint _starvedAtTail;
    private uint _flushedTail;
    private int _driver;

    private ulong* _wakeBuffer;
    private int _eventsLogged;
    private volatile Exception? _faultForTest;

    /// <summary>
    /// Tests only: the loop throws <paramref name="fault"/> on its next turn, as it would on a failed
    /// system call, which no kernel gives on demand. With its own thread, returns when the loop has ended;
    /// driven by the receiver, the next receive fails.
    /// </summary>
    internal void FailLoopForTest(Exception fault)
    {
        _faultForTest = fault;
        Wake();
        _thread?.Join();
    }

    private void OnEvent(uint type)
    {
        string name = type == linux_io_uring_zcrx.ZCRX_EVENT_ALLOC_FAIL ? "alloc_fail" : type == linux_io_uring_zcrx.ZCRX_EVENT_COPY ? "copy" : "unknown";
        if (Metrics.ZcrxEvents.Enabled)
        {
            Metrics.ZcrxEvents.Add(1, new KeyValuePair<string, object?>(DevmemMetrics.ZcrxEventTag, name), new KeyValuePair<string, object?>(DevmemMetrics.ZcrxIdTag, Id),
                new KeyValuePair<string, object?>(DevmemMetrics.InterfaceTag, InterfaceName));
        }

        int bit = 1 << (int)Math.Min(type, 30);
        if ((Interlocked.Or(ref _eventsLogged, bit) & bit) == 0)
        {
            if (type == linux_io_uring_zcrx.ZCRX_EVENT_ALLOC_FAIL)
            {
                LogAllocFail(_logger, Id, InterfaceName);
            }
            else
            {
                LogCopyEvent(_logger, Id, InterfaceName);
            }
        }

        if (type <= linux_io_uring_zcrx.ZCRX_EVENT_COPY)
        {
            _rearm.Add((type, Environment.TickCount64 + (long)EventRearmInterval.TotalMilliseconds));
        }
    }

    /// <summary>ZCRX_CTRL_ARM_EVENT: the kernel may post <paramref name="type"/> again. Failing that, the event stays off (it is a diagnostic).</summary>
    private void ArmEvent(IoUringRing ring, uint type)
    {
        var ctrl = new zcrx_ctrl { zcrx_id = Id, op = linux_io_uring_zcrx.ZCRX_CTRL_ARM_EVENT };
        ctrl.zc_arm_event.event_type = type;
        SysResult r = ring.Register(linux_io_uring.IORING_REGISTER_ZCRX_CTRL, &ctrl, 0);
        if (r.IsError)
        {
            LogArmFailed(_logger, Id, type, r.Errno);
        }
    }

    /// <summary>ZCRX_CTRL_FLUSH_RQ: the kernel takes the refill ring's entries back now (nr_args 0: io_zcrx_ctrl).</summary>
    private void FlushRefillRing(IoUringRing ring)
    {
        var ctrl = new zcrx_ctrl { zcrx_id = Id, op = linux_io_uring_zcrx.ZCRX_CTRL_FLUSH_RQ };
        SysResult r = ring.Register(linux_io_uring.IORING_REGISTER_ZCRX_CTRL, &ctrl, 0);
        if (r.IsError)
        {
            throw ZcrxException.CtrlFailed("ZCRX_CTRL_FLUSH_RQ", r.Errno);
        }

        Interlocked.Increment(ref _flushes);
    }

    private long _flushes;

    /// <summary>ZCRX_CTRL_FLUSH_RQ calls made (an instance without a NIC needs them to reuse buffers; with a NIC, 0).</summary>
    public long RefillFlushes => Interlocked.Read(ref _flushes);

    private static io_uring_sqe* GetSqe(IoUringRing ring)
    {
        io_uring_sqe* sqe;
        while ((sqe = ring.TryGetSqe()) is null)
        {
            ring.Enter(wait: false);
        }

        return sqe;
    }

    /// <summary>A READ of the wake-up eventfd into <see cref="_wakeBuffer"/> (armed again each time it completes).</summary>
    private void ArmWake(IoUringRing ring)
    {
        io_uring_sqe* sqe = GetSqe(ring);
        sqe->opcode = linux_io_uring.IORING_OP_READ;
        sqe->fd = _wakeHold!.Fd;
        sqe->addr = (ulong)_wakeBuffer;
        sqe->len = sizeof(ulong);
        sqe->off = ulong.MaxValue; // -1: the file's position (an eventfd has none)
        sqe->user_data = WakeTag;
    }

    /// <summary>An IORING_OP_ASYNC_CANCEL of the request whose user_data is <paramref name="id"/> (a socket's RECV_ZC, an accept).</summary>
    private void ArmCancel(IoUringRing ring, ulong id)
    {
        io_uring_sqe* sqe = GetSqe(ring);
        sqe->opcode = linux_io_uring.IORING_OP_ASYNC_CANCEL;
        sqe->fd = -1;
        sqe->addr = id;
        sqe->user_data = CancelTag;
    }

    /// <summary>An IORING_OP_ACCEPT on the listener (the new descriptor close-on-exec), its user_data the accept's id.</summary>
    private void ArmAccept(IoUringRing ring, ZcrxAccept a)
    {
        try
        {
            a.ListenerHold = Syscalls.Hold(a.Listener);
        }
        catch (ObjectDisposedException)
        {
            a.Fail(Errno.EBADF);
            return;
        }

        io_uring_sqe* sqe = GetSqe(ring);
        sqe->opcode = linux_io_uring.IORING_OP_ACCEPT;
        sqe->fd = a.ListenerHold.Fd;
        sqe->rw_flags = (uint)sys_socket_type.SOCK_CLOEXEC; // accept_flags
        sqe->user_data = a.Id;
        _accepts[a.Id] = a;
    }

    /// <summary>
    /// An accept completed: the new socket's RECV_ZC goes in now, submitted before its caller hears of it,
    /// so that the peer's data is read as it comes (io_uring/net.c, io_accept; the request names the
    /// descriptor, held until the request ends like a wrapped socket's).
    /// </summary>
    private void OnAccepted(IoUringRing ring, ZcrxAccept a, int res)
    {
        a.ListenerHold?.Dispose();
        if (res < 0)
        {
            a.Fail((Errno)(-res));
            return;
        }

        var handle = new SafeSocketHandle(res, ownsHandle: true);
        var c = new ZcrxConnection(this, handle, a.Id) { RequestBytes = a.RequestBytes };
        c.SocketHold = Syscalls.Hold(handle);
        _connections[c.Id] = c;
        ArmReceive(ring, c);
        ring.Enter(wait: false); // false (interrupted): the request stays queued for the next round
        if (!a.Complete(c))
        {
            CloseAccepted(c); // its caller gave up waiting (Accept threw)
        }
    }

    private void ArmReceive(IoUringRing ring, ZcrxConnection c)
    {
        io_uring_sqe* sqe = GetSqe(ring);
        sqe->opcode = linux_io_uring.IORING_OP_RECV_ZC;
        sqe->fd = c.SocketHold!.Fd;
        sqe->ioprio = linux_io_uring.IORING_RECV_MULTISHOT;
        sqe->len = c.RequestBytes;
        sqe->zcrx_ifq_idx = Id;
        c.RequestReceived = 0;
        sqe->user_data = c.Id;
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "io_uring zcrx instance {Id} registered on ifindex {Ifindex} RX queue {Queue} (0/0: no device): {Provider} area of {Size} bytes, {BufferLength}-byte buffers, {RefillEntries} refill entries")]
    private static partial void LogOpened(ILogger logger, uint id, int ifindex, uint queue, MemoryProviderKind provider, long size, uint bufferLength, uint refillEntries);

    [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "zcrx instance {Id} on {Interface}: the NIC found no free buffer in the area (ZCRX_EVENT_ALLOC_FAIL): the application holds too many fragments, or the area is too small; counted in devmem.zcrx.events, logged once")]
    private static partial void LogAllocFail(ILogger logger, uint id, string @interface);

    [LoggerMessage(EventId = 43, Level = LogLevel.Information, Message = "zcrx instance {Id} on {Interface}: the kernel copied data into the area instead of receiving it by zero copy (ZCRX_EVENT_COPY): a flow not steered to the queue, or headers; counted in devmem.zcrx.events and CopyStats, logged once")]
    private static partial void LogCopyEvent(ILogger logger, uint id, string @interface);

    [LoggerMessage(EventId = 44, Level = LogLevel.Debug, Message = "zcrx instance {Id}: ZCRX_CTRL_ARM_EVENT for event {Type} failed ({Errno}); the event stays off")]
    private static partial void LogArmFailed(ILogger logger, uint id, uint type, Errno errno);

    [LoggerMessage(EventId = 41, Level = LogLevel.Error, Message = "The io_uring zcrx loop failed; every socket on the queue ends with the error")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}

/// <summary>What the kernel copied on a zcrx instance instead of receiving by zero copy (<c>struct zcrx_stats</c>).</summary>
/// <param name="CopyCount">Completions whose bytes were copied.</param>
/// <param name="CopyBytes">Bytes copied.</param>
public readonly record struct ZcrxCopyStats(long CopyCount, long CopyBytes);
