using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Sys;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Setup;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Transmit;

/// <summary>
/// Sends TCP payload straight from device memory (devmem TX, Linux 6.16+): the NIC reads the bytes
/// from a dma-buf bound with netdev <c>bind-tx</c>; the CPU never copies them.
/// </summary>
/// <remarks>
/// <para>
/// Each <see cref="Send(long, long, int)"/> is one <c>sendmsg(MSG_ZEROCOPY)</c> whose iovecs hold byte
/// offsets into the dma-buf, not pointers, with a <c>SOL_SOCKET</c>/<c>SCM_DEVMEM_DMABUF</c> cmsg naming
/// the TX binding (Documentation/networking/devmem.rst, "TX Interface"; net/ipv4/tcp.c
/// <c>tcp_sendmsg_locked</c>). The kernel numbers zerocopy sends per socket from 0; it reports them done
/// on the socket's error queue (<see cref="WaitForCompletions"/>). <b>A sent region must not be written
/// until its completion has arrived</b>: the NIC may still be reading it (and reads it again for a
/// retransmission until the data is acknowledged).
/// </para>
/// <para>
/// <see cref="SendAsync"/>, <see cref="WaitForCompletionAsync"/> and <see cref="WaitForAllAsync"/> do the
/// same without blocking a caller's thread, with cancellation: the socket's send-buffer space and its
/// error queue are waited for with poll(2) on a thread-pool thread that cancellation wakes at once
/// (.NET's socket engine cannot wait for an error queue). Every send first waits while more than
/// <see cref="MaxBytesInFlight"/> bytes are not yet reported complete.
/// </para>
/// <para>
/// With <see cref="DevmemTxOptions.Fallback"/> = <see cref="DevmemFallback.Copy"/>, <see cref="Connect(DeviceMemory, string, IPEndPoint, DevmemTxOptions)"/>
/// falls back to plain TCP where devmem TX is impossible (<see cref="FallbackKind"/>, <see cref="FallbackReason"/>):
/// the same calls then copy the ranges out of the memory and send them; a send is complete when the
/// kernel has taken its bytes, so completions are immediate and <see cref="Binding"/> is null.
/// </para>
/// <para>
/// Ownership: an instance made by <c>Connect</c> owns its socket and binding and closes both on
/// <see cref="Dispose"/>; one made with the constructor leaves them to the caller. The
/// <see cref="DeviceMemory"/> always stays the caller's and must outlive this object. Dispose first waits
/// (at most <see cref="DisposeTimeout"/>) for outstanding completions; <see cref="DisposeAsync"/> waits
/// without blocking. Not thread-safe: one call at a time.
/// </para>
/// </remarks>
public sealed partial class DevmemTxSocket : IDisposable, IAsyncDisposable
{
    /// <summary>The most iovecs one send takes (UIO_MAXIOV; the kernel tool's MAX_IOV).</summary>
    public const int MaxIovecs = 1024;


    // Bytes per plain send in the copy fallback (copied out of the memory into a buffer first).
    private const int CopyChunk = 256 * 1024;

    private readonly Socket _socket;
    private readonly DmabufBinding? _binding;
    private readonly DeviceMemory _memory;
    private readonly bool _owns;
    private readonly ILogger _logger;

    // Pinned once: the cmsg never changes (the binding id is fixed), the iovecs are rewritten per send.
    private readonly byte[] _control = GC.AllocateArray<byte>(DevmemTxControl.Space, pinned: true);
    private readonly iovec[] _iov = GC.AllocateArray<iovec>(MaxIovecs, pinned: true);
    private readonly byte[] _errControl = GC.AllocateArray<byte>(DevmemTxControl.CompletionControlSpace, pinned: true);

    private readonly TxCompletionTracker _tracker = new();
    private readonly DevmemTxMetrics _metrics;
    private readonly DevmemTxCompletion[] _scratch = new DevmemTxCompletion[8];
    private byte[]? _copyBuffer;
    private FdWaiter? _waiter;
    private bool _disposed;

    /// <summary>
    /// Wraps a connected TCP socket and a TX binding of <paramref name="memory"/>'s dma-buf, and turns
    /// <c>SO_ZEROCOPY</c> on. The socket should be bound to the binding's device (<c>SO_BINDTODEVICE</c>),
    /// or a send whose route leaves through another device fails with ENODEV.
    /// </summary>
    /// <param name="socket">A TCP socket, connected; it stays owned by the caller.</param>
    /// <param name="binding">A <see cref="DmabufBindingDirection.Transmit"/> binding; it stays owned by the caller.</param>
    /// <param name="memory">The dma-buf the binding was made from; stays owned by the caller.</param>
    /// <param name="logger">Where to log; none by default.</param>
    /// <exception cref="DevmemException">setsockopt(SO_ZEROCOPY) failed.</exception>
    public DevmemTxSocket(Socket socket, DmabufBinding binding, DeviceMemory memory, ILogger? logger = null)
        : this(socket, binding, memory, owns: false, logger, meterFactory: null, maxBytesInFlight: null)
    {
    }

    private DevmemTxSocket(Socket socket, DmabufBinding binding, DeviceMemory memory, bool owns, ILogger? logger, IMeterFactory? meterFactory, long? maxBytesInFlight)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(memory);
        if (socket.ProtocolType != ProtocolType.Tcp)
        {
            throw new ArgumentException($"devmem TX needs a TCP socket; this one is {socket.ProtocolType}.", nameof(socket));
        }

        if (binding.Direction != DmabufBindingDirection.Transmit)
        {
            throw new ArgumentException("The binding is an RX binding (bind-rx): sending needs one made by bind-tx (the kernel refuses an RX id with EINVAL).", nameof(binding));
        }

        if (!memory.IsDmabuf)
        {
            throw new ArgumentException($"{memory.Kind} memory is not a dma-buf: devmem TX sends from the dma-buf the binding was made from.", nameof(memory));
        }

        _socket = socket;
        _binding = binding;
        _memory = memory;
        _owns = owns;
        _logger = logger ?? NullLogger.Instance;
        MaxBytesInFlight = maxBytesInFlight ?? memory.Size;
        _metrics = new DevmemTxMetrics(DevmemMetrics.For(meterFactory), zeroCopy: true, () => SocketMetrics.InterfaceName(binding.Ifindex) ?? $"ifindex {binding.Ifindex}");
        DevmemTxControl.WriteBindingId(_control, binding.Id);
        SetIntOption(asm_socket.SO_ZEROCOPY, 1, "setsockopt(SO_ZEROCOPY)", "Devmem TX needs SO_ZEROCOPY (Linux 4.14+ for TCP).");
    }

    // The copy fallback: a plain connected TCP socket, owned.
    private DevmemTxSocket(Socket socket, DeviceMemory memory, string interfaceName, DevmemFallbackKind kind, string reason, ILogger? logger, IMeterFactory? meterFactory, long? maxBytesInFlight)
    {
        _metrics = new DevmemTxMetrics(DevmemMetrics.For(meterFactory), zeroCopy: false, () => interfaceName);
        _socket = socket;
        _memory = memory;
        _owns = true;
        _logger = logger ?? NullLogger.Instance;
        MaxBytesInFlight = maxBytesInFlight ?? memory.Size;
        FallbackKind = kind;
        FallbackReason = reason;
    }

    /// <summary>The connected socket.</summary>
    public Socket Socket => _socket;

    /// <summary>The TX binding whose id every send carries; null in the copy fallback.</summary>
    public DmabufBinding? Binding => _binding;

    /// <summary>True when sends go from device memory (devmem TX); false in the copy fallback.</summary>
    public bool IsZeroCopy => _binding is not null;

    /// <summary>Why the copy fallback is in use (null in zero copy).</summary>
    public DevmemFallbackKind? FallbackKind { get; }

    /// <summary>The reason for the copy fallback, in the kernel's words where it gave them (null in zero copy).</summary>
    public string? FallbackReason { get; }

    /// <summary>
    /// The most bytes of sends not yet reported complete before a send waits for completions (default: the
    /// memory's size); 0 for no bound. A single send larger than the bound waits until nothing is in flight.
    /// </summary>
    public long MaxBytesInFlight
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            field = value;
        }
    }

    /// <summary>Bytes of sends not yet reported complete: the regions the NIC may still read.</summary>
    public long BytesInFlight => _tracker.BytesInFlight;

    /// <summary>The dma-buf the payload comes from.</summary>
    public DeviceMemory Memory => _memory;

    /// <summary>How long <see cref="Dispose"/> waits for outstanding completions (default 2 s).</summary>
    public TimeSpan DisposeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The sequence number the next <c>sendmsg</c> gets (the number of sends so far, modulo 2^32).</summary>
    public uint NextSequence => _tracker.Next;

    /// <summary>Sends not yet reported complete: their regions must not be written yet.</summary>
    public long OutstandingSends => _tracker.Outstanding;

    /// <summary>Bytes handed to the kernel so far.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Completions the kernel reported as copied rather than zero copy (<c>SO_EE_CODE_ZEROCOPY_COPIED</c>).</summary>
    public long CopiedCompletions { get; private set; }

    /// <summary>
    /// What the kernel's ncdevmem client does before it sends: <c>SO_BINDTODEVICE</c> to
    /// <paramref name="interfaceName"/>, netdev <c>bind-tx</c> of <paramref name="memory"/>'s dma-buf on it,
    /// an optional bind to <paramref name="localEndPoint"/>, <c>SO_ZEROCOPY</c>, connect. IPv4 addresses
    /// are carried in an AF_INET6 socket as mapped addresses, as the kernel tool does.
    /// </summary>
    /// <param name="memory">A dma-buf (udmabuf, dma-heap, CUDA); a multiple of the page size. Stays the caller's.</param>
    /// <param name="interfaceName">The NIC to send through (its driver must support netmem TX).</param>
    /// <param name="server">Where to connect.</param>
    /// <param name="localEndPoint">Address (and port) to bind before connecting, or null.</param>
    /// <param name="logger">Where to log; none by default.</param>
    /// <returns>A connected socket that owns its binding.</returns>
    /// <exception cref="NetlinkNotSupportedException">The kernel has no bind-tx (before 6.16, e.g. 6.12).</exception>
    /// <exception cref="NetlinkException">bind-tx refused, with the kernel's message (e.g. "Driver does not
    /// support netmem TX", EOPNOTSUPP, for virtio_net, veth, loopback).</exception>
    /// <exception cref="DevmemException">No such interface, or a socket option failed.</exception>
    /// <exception cref="SocketException">bind or connect failed.</exception>
    public static DevmemTxSocket Connect(DeviceMemory memory, string interfaceName, IPEndPoint server, IPEndPoint? localEndPoint = null, ILogger? logger = null) =>
        Connect(memory, interfaceName, server, new DevmemTxOptions { LocalEndPoint = localEndPoint, Logger = logger });

    /// <summary>
    /// As <see cref="Connect(DeviceMemory, string, IPEndPoint, IPEndPoint?, ILogger?)"/>, with
    /// <paramref name="options"/>: with <see cref="DevmemTxOptions.Fallback"/> = <see cref="DevmemFallback.Copy"/>,
    /// where devmem TX is impossible (memory that is not a dma-buf, a kernel without bind-tx, a driver
    /// without netmem TX) it connects a plain TCP socket instead and logs one warning with the reason.
    /// </summary>
    /// <param name="memory">The memory to send from; stays the caller's.</param>
    /// <param name="interfaceName">The NIC to send through.</param>
    /// <param name="server">Where to connect.</param>
    /// <param name="options">Fallback policy, local address, bytes-in-flight bound, logger.</param>
    /// <returns>A connected socket, zero copy or (see <see cref="IsZeroCopy"/>) the copy fallback.</returns>
    /// <exception cref="NetlinkNotSupportedException">No bind-tx (before 6.16) and no fallback allowed.</exception>
    /// <exception cref="NetlinkException">bind-tx refused, with the kernel's message (and no fallback allowed, or a refusal no fallback covers).</exception>
    /// <exception cref="DevmemException">No such interface, or a socket option failed.</exception>
    /// <exception cref="SocketException">bind or connect failed.</exception>
    public static DevmemTxSocket Connect(DeviceMemory memory, string interfaceName, IPEndPoint server, DevmemTxOptions options)
    {
        ValueTask<DevmemTxSocket> connect = ConnectCoreAsync(memory, interfaceName, server, options, synchronous: true, CancellationToken.None);
        System.Diagnostics.Debug.Assert(connect.IsCompleted, "a synchronous connect completes before it returns");
        return connect.GetAwaiter().GetResult();
    }

    /// <summary>
    /// <see cref="Connect(DeviceMemory, string, IPEndPoint, DevmemTxOptions)"/> with the TCP connect awaited
    /// (the netlink bind is a quick local call and is made synchronously).
    /// </summary>
    /// <param name="memory">The memory to send from; stays the caller's.</param>
    /// <param name="interfaceName">The NIC to send through.</param>
    /// <param name="server">Where to connect.</param>
    /// <param name="options">Fallback policy, local address, bytes-in-flight bound, logger.</param>
    /// <param name="cancellationToken">Cancels the connect; whatever was set up is closed.</param>
    /// <returns>A connected socket, zero copy or the copy fallback.</returns>
    public static ValueTask<DevmemTxSocket> ConnectAsync(DeviceMemory memory, string interfaceName, IPEndPoint server, DevmemTxOptions options, CancellationToken cancellationToken = default) =>
        ConnectCoreAsync(memory, interfaceName, server, options, synchronous: false, cancellationToken);

    private static async ValueTask<DevmemTxSocket> ConnectCoreAsync(DeviceMemory memory, string interfaceName, IPEndPoint server, DevmemTxOptions options, bool synchronous, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(options);
        int ifindex = GetInterfaceIndex(interfaceName);
        if (!memory.IsDmabuf)
        {
            string why = $"{memory.Kind} memory is not a dma-buf: bind-tx needs one.";
            if (options.Fallback != DevmemFallback.Copy)
            {
                throw new ArgumentException(why, nameof(memory));
            }

            return await ConnectCopyAsync(memory, interfaceName, server, options, DevmemFallbackKind.NotDmabuf, why, synchronous, cancellationToken).ConfigureAwait(false);
        }

        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        DmabufBinding? binding = null;
        DevmemTxSocket? tx = null;
        try
        {
            // SO_BINDTODEVICE first (as the kernel tool): the route of every send must leave through the
            // bound device, or sendmsg fails with ENODEV (net/core/devmem.c net_devmem_get_binding).
            byte[] name = InterfaceNames.ToBytes(interfaceName, nameof(interfaceName));
            SetOption(socket, asm_socket.SO_BINDTODEVICE, name, "setsockopt(SO_BINDTODEVICE)", "Binding a socket to a device needs CAP_NET_RAW (ENODEV: no such interface in this network namespace).");

            using (NetdevClient netdev = NetdevClient.Open())
            {
                binding = netdev.BindTx(ifindex, memory.DmabufHandle);
            }

            if (options.LocalEndPoint is { } local)
            {
                socket.Bind(Mapped(local));
            }

            tx = new DevmemTxSocket(socket, binding, memory, owns: true, options.Logger, options.MeterFactory, options.MaxBytesInFlight);
            LogBound(tx._logger, binding.Id, interfaceName, server);
            await ConnectSocketAsync(socket, server, synchronous, cancellationToken).ConfigureAwait(false);
            return tx;
        }
        catch (Exception e) when (options.Fallback == DevmemFallback.Copy && tx is null && DevmemTxOptions.FallbackKindOf(e) is { } kind)
        {
            socket.Dispose();
            binding?.Dispose();
            return await ConnectCopyAsync(memory, interfaceName, server, options, kind, e.Message, synchronous, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            binding?.Dispose();
            throw;
        }
    }

    private static async ValueTask<DevmemTxSocket> ConnectCopyAsync(DeviceMemory memory, string interfaceName, IPEndPoint server, DevmemTxOptions options, DevmemFallbackKind kind, string reason, bool synchronous, CancellationToken cancellationToken)
    {
        ILogger logger = options.Logger ?? NullLogger.Instance;
        LogFallback(logger, kind, reason);
        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        try
        {
            if (options.LocalEndPoint is { } local)
            {
                socket.Bind(Mapped(local));
            }

            await ConnectSocketAsync(socket, server, synchronous, cancellationToken).ConfigureAwait(false);
            return new DevmemTxSocket(socket, memory, interfaceName, kind, reason, logger, options.MeterFactory, options.MaxBytesInFlight);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // The TCP connect of both paths: blocking for Connect, awaited for ConnectAsync.
    private static async ValueTask ConnectSocketAsync(Socket socket, IPEndPoint server, bool synchronous, CancellationToken cancellationToken)
    {
        if (synchronous)
        {
            socket.Connect(Mapped(server));
        }
        else
        {
            await socket.ConnectAsync(Mapped(server), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether devmem TX is possible on <paramref name="interfaceName"/>, as <see cref="CheckInterface"/>
    /// asks the kernel, answered instead of thrown: available, or why not (the errno and the kernel's
    /// message) and whether <see cref="DevmemFallback.Copy"/> would fall back on it.
    /// </summary>
    /// <param name="interfaceName">The interface.</param>
    /// <returns>The answer; never throws for what the kernel says.</returns>
    /// <exception cref="ArgumentException">The name is not a valid interface name (a caller's mistake, not the host's answer).</exception>
    public static DevmemTxProbe Probe(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        if (InterfaceNames.Problem(interfaceName) is { } problem)
        {
            throw new ArgumentException(InterfaceNames.Describe(interfaceName, problem), nameof(interfaceName));
        }

        try
        {
            CheckInterface(interfaceName);
            return new DevmemTxProbe(interfaceName, IsAvailable: true, FallbackKind: null, Error: null);
        }
        catch (DevmemIOException e)
        {
            return new DevmemTxProbe(interfaceName, IsAvailable: false, DevmemTxOptions.FallbackKindOf(e), e);
        }
    }

    /// <summary>
    /// Asks the kernel whether devmem TX is possible on <paramref name="interfaceName"/>, without memory:
    /// bind-tx with a file that is not a dma-buf. The kernel checks the device and its driver's netmem TX
    /// support before it looks at the fd (net/core/netdev-genl.c <c>netdev_nl_bind_tx_doit</c>), so a
    /// driver without it answers EOPNOTSUPP "Driver does not support netmem TX", and one with it gets as far
    /// as the fd (which fails: nothing is bound).
    /// </summary>
    /// <param name="interfaceName">The interface.</param>
    /// <returns>Its ifindex.</returns>
    /// <exception cref="NetlinkNotSupportedException">The kernel has no bind-tx (before 6.16).</exception>
    /// <exception cref="NetlinkException">The kernel refused the device (its message says why).</exception>
    /// <exception cref="DevmemException">No such interface.</exception>
    public static int CheckInterface(string interfaceName)
    {
        int ifindex = GetInterfaceIndex(interfaceName);
        using NetdevClient netdev = NetdevClient.Open();
        using var notADmabuf = File.OpenHandle("/dev/null");
        try
        {
            // On a kernel without bind-tx this throws NetlinkNotSupportedException before sending anything.
            netdev.BindTx(ifindex, notADmabuf).Dispose();
        }
        catch (NetlinkException e) when (e.Errno is Errno.EINVAL or Errno.EBADF)
        {
            // dma_buf_get() refused /dev/null (net/core/devmem.c net_devmem_bind_dmabuf): the device and
            // its driver passed.
        }

        return ifindex;
    }

    /// <summary>
    /// Sends <paramref name="length"/> bytes of the dma-buf starting at <paramref name="offset"/>: one
    /// <c>sendmsg(MSG_ZEROCOPY)</c> (more only if the kernel takes less than all). With
    /// <paramref name="chunkSize"/> the range goes as iovecs of that many bytes (the kernel tool's -z),
    /// at most <see cref="MaxIovecs"/> of them. Blocks while the socket's send buffer is full. Allocates nothing.
    /// </summary>
    /// <param name="offset">Byte offset into the dma-buf.</param>
    /// <param name="length">Bytes to send (positive).</param>
    /// <param name="chunkSize">Bytes per iovec; 0 for one iovec.</param>
    /// <returns>The sends' sequence numbers: wait for them before writing the region again.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the dma-buf, or needs more than <see cref="MaxIovecs"/> chunks.</exception>
    /// <exception cref="DevmemException">sendmsg failed; the message names the errno and the likely cause.</exception>
    public DevmemTxSend Send(long offset, long length, int chunkSize = 0)
    {
        CheckSend(offset, length, chunkSize);
        uint first = _tracker.Next;
        long sent = 0;
        while (sent < length)
        {
            long left = length - sent;
            while (MustWaitForRoom(left))
            {
                WaitForCompletions(_scratch, Timeout.InfiniteTimeSpan);
            }

            sent += IsZeroCopy
                ? SendOnce(offset + sent, left, chunkSize, nonBlocking: false)
                : SendCopy(offset + sent, left);
        }

        return new DevmemTxSend(first, unchecked(_tracker.Next - 1), sent);
    }

    /// <summary>
    /// <see cref="Send"/> without blocking: waits for room in the socket's send buffer, and for
    /// completions while more than <see cref="MaxBytesInFlight"/> bytes are in flight, asynchronously.
    /// </summary>
    /// <param name="offset">Byte offset into the dma-buf.</param>
    /// <param name="length">Bytes to send (positive).</param>
    /// <param name="chunkSize">Bytes per iovec; 0 for one iovec.</param>
    /// <param name="cancellationToken">Cancels the wait. Bytes already handed to the kernel stay sent
    /// (<see cref="BytesSent"/>): after a cancellation the stream's position is the caller's to settle (close the connection).</param>
    /// <returns>The sends' sequence numbers: wait for them before writing the region again.</returns>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="Send"/>.</exception>
    /// <exception cref="DevmemException">sendmsg failed; the message names the errno and the likely cause.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public async ValueTask<DevmemTxSend> SendAsync(long offset, long length, int chunkSize = 0, CancellationToken cancellationToken = default)
    {
        CheckSend(offset, length, chunkSize);
        uint first = _tracker.Next;
        long sent = 0;
        while (sent < length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long left = length - sent;
            if (MustWaitForRoom(left))
            {
                await ReadCompletionsAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!IsZeroCopy)
            {
                sent += await SendCopyAsync(offset + sent, left, cancellationToken).ConfigureAwait(false);
                continue;
            }

            long n = SendOnce(offset + sent, left, chunkSize, nonBlocking: true);
            if (n < 0)
            {
                // The send buffer is full: wait for room (POLLOUT) or a completion (POLLERR), then try again.
                await WaitAsync(sys_poll.POLLOUT, cancellationToken).ConfigureAwait(false);
                continue;
            }

            sent += n;
        }

        return new DevmemTxSend(first, unchecked(_tracker.Next - 1), sent);
    }

    private void CheckSend(long offset, long length, int chunkSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentOutOfRangeException.ThrowIfNegative(chunkSize);
        if (offset > _memory.Size || length > _memory.Size - offset)
        {
            // The kernel would answer EFAULT for an offset past the end (net/core/datagram.c zerocopy_fill_skb_from_devmem).
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset + length}) is not inside the {_memory.Size}-byte dma-buf.");
        }

        if (chunkSize > 0 && (length + chunkSize - 1) / chunkSize > MaxIovecs)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), $"can't partition {length} bytes into maximum of {MaxIovecs} chunks of {chunkSize} bytes");
        }
    }

    // The bytes-in-flight bound: wait while sending 'next' more would pass it, unless nothing is in
    // flight (a send larger than the bound then goes alone).
    private bool MustWaitForRoom(long next) =>
        MaxBytesInFlight > 0 && _tracker.BytesInFlight > 0 && _tracker.BytesInFlight + Math.Min(next, MaxBytesInFlight) > MaxBytesInFlight;

    /// <summary>
    /// Waits until send <paramref name="sequence"/> is complete, without blocking a thread (in the copy
    /// fallback it already is); each completion read is passed to <paramref name="onCompletion"/>.
    /// </summary>
    /// <param name="sequence">A number from <see cref="DevmemTxSend"/>.</param>
    /// <param name="onCompletion">Called for each completion read, or null.</param>
    /// <param name="cancellationToken">Cancels the wait (the send itself is not undone).</param>
    /// <exception cref="DevmemException">As <see cref="WaitForCompletions"/>.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public async ValueTask WaitForCompletionAsync(uint sequence, Action<DevmemTxCompletion>? onCompletion = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (!IsCompleted(sequence))
        {
            int n = await ReadCompletionsAsync(cancellationToken, sequence).ConfigureAwait(false);
            for (int i = 0; i < n; i++)
            {
                onCompletion?.Invoke(_scratch[i]);
            }
        }
    }

    /// <summary>Waits until every send so far is complete, without blocking a thread.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="DevmemException">As <see cref="WaitForCompletions"/>.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public async ValueTask WaitForAllAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (_tracker.Outstanding > 0)
        {
            await ReadCompletionsAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // Reads what the error queue holds into _scratch; if nothing, waits for POLLERR first. Returns how
    // many completions were read (at least one).
    private async ValueTask<int> ReadCompletionsAsync(CancellationToken cancellationToken, uint? until = null)
    {
        int n;
        while ((n = ReadCompletions(_scratch, until)) == 0)
        {
            try
            {
                await WaitAsync(0, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // A timeout that fires as the completion arrives: what is already queued still counts.
                n = ReadCompletions(_scratch, until);
                if (n > 0)
                {
                    return n;
                }

                throw;
            }
        }

        return n;
    }

    private async ValueTask WaitAsync(short events, CancellationToken cancellationToken)
    {
        _waiter ??= new FdWaiter();
        short revents = await _waiter.WaitAsync(_socket.SafeHandle, events, cancellationToken).ConfigureAwait(false);
        CheckRevents(revents);
    }

    /// <summary>Whether the kernel has reported send <paramref name="sequence"/> complete.</summary>
    /// <param name="sequence">A number from <see cref="DevmemTxSend"/>.</param>
    public bool IsCompleted(uint sequence) => _tracker.IsCompleted(sequence);

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for completions (<c>POLLERR</c>), then reads every one queued
    /// (<c>recvmsg(MSG_ERRQUEUE)</c>) into <paramref name="completions"/>. Returns as soon as at least one
    /// arrived; 0 on timeout. Allocates nothing.
    /// </summary>
    /// <param name="completions">Room for the completions read (one per error-queue message).</param>
    /// <param name="timeout">How long to wait for the first; <see cref="Timeout.InfiniteTimeSpan"/> to wait forever.</param>
    /// <returns>How many completions were written.</returns>
    /// <exception cref="DevmemException">A notification that is not a zerocopy completion, one with an
    /// errno, MSG_CTRUNC, or a socket error (the connection failed).</exception>
    public int WaitForCompletions(Span<DevmemTxCompletion> completions, TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (completions.IsEmpty)
        {
            throw new ArgumentException("Give room for at least one completion.", nameof(completions));
        }

        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)Math.Ceiling(timeout.TotalMilliseconds);
        while (true)
        {
            int n = ReadCompletions(completions);
            if (n > 0)
            {
                return n;
            }

            long left = deadline == long.MaxValue ? -1 : deadline - Environment.TickCount64;
            if (deadline != long.MaxValue && left <= 0)
            {
                return 0;
            }

            // Whether it saw an event, timed out or was interrupted, the loop reads again and checks the deadline.
            PollError((int)Math.Min(left, int.MaxValue));
        }
    }

    /// <summary>
    /// Waits until send <paramref name="sequence"/> (and everything reported with it) is complete, at most
    /// <paramref name="timeout"/>; each completion read is passed to <paramref name="onCompletion"/>.
    /// </summary>
    /// <param name="sequence">The send to wait for.</param>
    /// <param name="timeout">The longest wait in total.</param>
    /// <param name="onCompletion">Called for each completion read, or null.</param>
    /// <returns>False on timeout.</returns>
    public bool WaitForCompletion(uint sequence, TimeSpan timeout, Action<DevmemTxCompletion>? onCompletion = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long deadline = Environment.TickCount64 + (long)Math.Ceiling(timeout.TotalMilliseconds);
        Span<DevmemTxCompletion> got = stackalloc DevmemTxCompletion[8];
        while (!IsCompleted(sequence))
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return false;
            }

            // poll first (it returns at once when a completion is queued), then read only until this send
            // is complete: sendmsg, poll, recvmsg per stop-and-wait send, as the kernel's client.
            PollError((int)Math.Min(left, int.MaxValue));
            int n = ReadCompletions(got, sequence);
            for (int i = 0; i < n; i++)
            {
                onCompletion?.Invoke(got[i]);
            }
        }

        return true;
    }

    /// <summary>Waits until every send so far is complete, at most <paramref name="timeout"/>; false on timeout.</summary>
    /// <param name="timeout">The longest wait in total.</param>
    public bool WaitForAll(TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)Math.Ceiling(timeout.TotalMilliseconds);
        Span<DevmemTxCompletion> got = stackalloc DevmemTxCompletion[8];
        while (_tracker.Outstanding > 0)
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return false;
            }

            WaitForCompletions(got, TimeSpan.FromMilliseconds(left));
        }

        return true;
    }

    /// <summary>
    /// Waits (at most <see cref="DisposeTimeout"/>) for outstanding completions, logging those that did
    /// not come; then, if this object owns them, closes the socket and the binding (which unbinds). The
    /// kernel keeps what in-flight packets need until the NIC is done with them.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            if (OutstandingSends > 0 && !WaitForAll(DisposeTimeout))
            {
                LogOutstanding(_logger, OutstandingSends, DisposeTimeout.TotalMilliseconds);
            }
        }
        catch (Exception e) when (e is DevmemException or ObjectDisposedException)
        {
            LogDisposeWaitFailed(_logger, e.Message);
        }
        finally
        {
            Close();
        }
    }

    /// <summary>
    /// <see cref="Dispose"/> without blocking a thread: waits (at most <see cref="DisposeTimeout"/>) for
    /// outstanding completions asynchronously, then closes what this object owns.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            if (OutstandingSends > 0)
            {
                using var timeout = new CancellationTokenSource(DisposeTimeout);
                try
                {
                    await WaitForAllAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    LogOutstanding(_logger, OutstandingSends, DisposeTimeout.TotalMilliseconds);
                }
            }
        }
        catch (Exception e) when (e is DevmemException or ObjectDisposedException)
        {
            LogDisposeWaitFailed(_logger, e.Message);
        }
        finally
        {
            Close();
        }
    }

    private void Close()
    {
        _disposed = true;
        _waiter?.Dispose();
        if (_owns)
        {
            _socket.Dispose();
            _binding?.Dispose();
        }
    }

    // The copy fallback's send: up to CopyChunk bytes copied out of the memory, one plain send (blocking).
    // A plain send is complete when it returns: the kernel has its own copy.
    private long SendCopy(long offset, long length) =>
        CountCopySend(_socket.Send(CopyOut(offset, length).Span, SocketFlags.None));

    private async ValueTask<long> SendCopyAsync(long offset, long length, CancellationToken cancellationToken) =>
        CountCopySend(await _socket.SendAsync(CopyOut(offset, length), SocketFlags.None, cancellationToken).ConfigureAwait(false));

    // Up to CopyChunk bytes of [offset, offset + length) copied out of the memory into the send buffer.
    private ReadOnlyMemory<byte> CopyOut(long offset, long length)
    {
        int n = (int)Math.Min(length, CopyChunk);
        byte[] buffer = _copyBuffer ??= new byte[CopyChunk];
        _memory.CopyTo(offset, buffer.AsSpan(0, n));
        return buffer.AsMemory(0, n);
    }

    private long CountCopySend(int sent)
    {
        uint seq = _tracker.Sent(sent);
        _tracker.Complete(seq, seq);
        BytesSent += sent;
        _metrics.Sent(sent);
        return sent;
    }

    // One sendmsg; with nonBlocking, -1 when the send buffer is full (EAGAIN) and nothing was sent.
    private unsafe long SendOnce(long offset, long length, int chunkSize, bool nonBlocking)
    {
        int count;
        if (chunkSize > 0)
        {
            // As the kernel tool's do_client: iovec i covers [i*chunk, (i+1)*chunk), the last one the rest.
            count = (int)((length + chunkSize - 1) / chunkSize);
            for (int i = 0; i < count; i++)
            {
                _iov[i] = new iovec { iov_base = (void*)(nuint)(offset + ((long)i * chunkSize)), iov_len = (nuint)chunkSize };
            }

            _iov[count - 1].iov_len = (nuint)(length - ((long)(count - 1) * chunkSize));
        }
        else
        {
            count = 1;
            _iov[0] = new iovec { iov_base = (void*)(nuint)offset, iov_len = (nuint)length };
        }

        SysResult r;
        fixed (iovec* iov = _iov)
        fixed (byte* control = _control)
        {
            msghdr msg = default;
            msg.msg_iov = iov;
            msg.msg_iovlen = (nuint)count;
            msg.msg_control = control;
            msg.msg_controllen = (nuint)DevmemTxControl.Space;
            // EINTR before anything was queued gives the sequence number back (net/core/skbuff.c
            // msg_zerocopy_put_abort), so the retry in Syscalls.SendMsg keeps the numbering.
            r = Syscalls.SendMsg(_socket.SafeHandle, &msg, sys_socket.MSG_ZEROCOPY | sys_socket.MSG_NOSIGNAL | (nonBlocking ? sys_socket.MSG_DONTWAIT : 0));
        }

        if (r.IsError && nonBlocking && r.Errno == Errno.EAGAIN)
        {
            return -1;
        }

        if (r.IsError)
        {
            throw DevmemException.Syscall("sendmsg(MSG_ZEROCOPY, SCM_DEVMEM_DMABUF)", r.Errno, SendHint(r.Errno));
        }

        _tracker.Sent(r.Value);
        BytesSent += r.Value;
        _metrics.Sent(r.Value);
        return r.Value;
    }

    private static string? SendHint(Errno errno) => errno switch
    {
        Errno.EINVAL => "Devmem TX needs a 6.16+ kernel (6.12 does not know the SCM_DEVMEM_DMABUF cmsg on send), SO_ZEROCOPY on the socket, MSG_ZEROCOPY, a cmsg of exactly CMSG_LEN(4) = 20 bytes holding a TX binding id (not an RX one), and a route through a device with scatter-gather.",
        Errno.ENODEV => "The route to the peer leaves through another device than the one the dma-buf is bound to: bind the socket to that device (SO_BINDTODEVICE; DevmemTxSocket.Connect does) or fix the route.",
        Errno.EHOSTUNREACH => "There is no route to the peer through the bound device.",
        Errno.EFAULT => "An offset lies beyond the end of the dma-buf.",
        Errno.ENOBUFS => "The kernel could not account the zerocopy send (optmem or locked-memory limit): wait for completions before sending more.",
        Errno.EPIPE or Errno.ECONNRESET => "The peer closed the connection.",
        _ => null,
    };

    // Reads queued completions into 'completions' until the error queue is empty (EAGAIN), the span is
    // full, or (with 'until') that send is complete: a stop-and-wait caller then makes no extra recvmsg.
    private unsafe int ReadCompletions(Span<DevmemTxCompletion> completions, uint? until = null)
    {
        int n = 0;
        fixed (byte* control = _errControl)
        {
            while (n < completions.Length)
            {
                msghdr msg = default;
                msg.msg_control = control;
                msg.msg_controllen = (nuint)_errControl.Length;
                SysResult r = Syscalls.RecvMsg(_socket.SafeHandle, ref msg, sys_socket.MSG_ERRQUEUE | sys_socket.MSG_DONTWAIT);
                if (r.IsError)
                {
                    if (r.Errno == Errno.EAGAIN)
                    {
                        break;
                    }

                    throw DevmemException.Syscall("recvmsg(MSG_ERRQUEUE)", r.Errno);
                }

                if ((msg.msg_flags & sys_socket.MSG_CTRUNC) != 0)
                {
                    throw DevmemException.Condition("recvmsg(MSG_ERRQUEUE)", $"recvmsg(MSG_ERRQUEUE) returned MSG_CTRUNC: the notification did not fit {_errControl.Length} bytes of control space.");
                }

                if (!DevmemTxControl.TryParseCompletion(_errControl.AsSpan(0, (int)msg.msg_controllen), out var c))
                {
                    continue;
                }

                Complete(c);
                completions[n++] = c;
                if (until is { } target && IsCompleted(target))
                {
                    break;
                }
            }
        }

        return n;
    }

    private void Complete(DevmemTxCompletion c)
    {
        _metrics.Completed();
        if (c.Copied)
        {
            CopiedCompletions++;
            LogCopied(_logger, c.First, c.Last);
        }

        _tracker.Complete(c.First, c.Last);
    }

    // poll(2) for POLLERR (always reported, whatever events asks). A pending socket error (the connection
    // failed) also raises POLLERR with nothing on the error queue: read SO_ERROR and report it.
    private void PollError(int timeoutMs)
    {
        // A signal returns as a timeout (Syscalls.Poll); the callers' deadline loops decide.
        SysResult r = Syscalls.Poll(_socket.SafeHandle, 0, timeoutMs, out short revents);
        if (r.IsError)
        {
            throw DevmemException.Syscall("poll(POLLERR)", r.Errno);
        }

        if (r.Int32 != 0)
        {
            CheckRevents(revents);
        }
    }

    // What a poll reported, beyond the events waited for: a pending socket error (the connection failed)
    // raises POLLERR with nothing on the error queue (read SO_ERROR and report it); a hang-up or a closed fd.
    private unsafe void CheckRevents(short revents)
    {
        if ((revents & sys_poll.POLLERR) != 0)
        {
            int err = 0;
            uint len = sizeof(int);
            var q = Syscalls.GetSockOpt(_socket.SafeHandle, asm_socket.SOL_SOCKET, asm_socket.SO_ERROR, &err, &len);
            if (!q.IsError && err != 0)
            {
                throw DevmemException.Syscall("the connection", (Errno)err, "The socket reported an error while waiting for zerocopy completions.");
            }
        }
        else if ((revents & (sys_poll.POLLHUP | sys_poll.POLLNVAL)) != 0 && _tracker.Outstanding > 0)
        {
            throw DevmemException.Condition("poll(POLLERR)", "poll(POLLERR) reported the socket hung up or closed while waiting for zerocopy completions.");
        }
    }

    private unsafe void SetIntOption(int name, int value, string step, string hint)
    {
        SetOption(_socket, name, new ReadOnlySpan<byte>(&value, sizeof(int)), step, hint);
    }

    private static unsafe void SetOption(Socket socket, int name, ReadOnlySpan<byte> value, string step, string hint)
    {
        fixed (byte* p = value)
        {
            SysResult r = Syscalls.SetSockOpt(socket.SafeHandle, asm_socket.SOL_SOCKET, name, p, (uint)value.Length);
            if (r.IsError)
            {
                throw DevmemException.Syscall(step, r.Errno, hint);
            }
        }
    }

    private static int GetInterfaceIndex(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        if (InterfaceNames.Problem(interfaceName) is { } problem)
        {
            throw new ArgumentException(InterfaceNames.Describe(interfaceName, problem), nameof(interfaceName));
        }

        using EthtoolClient ethtool = EthtoolClient.Open();
        try
        {
            return ethtool.GetInterfaceIndex(interfaceName);
        }
        catch (EthtoolIoctlException e) when (e.Errno == Errno.ENODEV)
        {
            throw DevmemException.Syscall($"SIOCGIFINDEX {interfaceName}", Errno.ENODEV, "No such interface in this network namespace: list them with 'ip link'.");
        }
    }

    private static IPEndPoint Mapped(IPEndPoint ep) =>
        ep.AddressFamily == AddressFamily.InterNetwork ? new IPEndPoint(ep.Address.MapToIPv6(), ep.Port) : ep;

    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "got tx dmabuf id={Id} on {Interface}; connecting to {Server}")]
    private static partial void LogBound(ILogger logger, uint id, string @interface, IPEndPoint server);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "{Count} devmem TX send(s) still not completed after {Milliseconds} ms; closing anyway (the kernel keeps what in-flight packets need)")]
    private static partial void LogOutstanding(ILogger logger, long count, double milliseconds);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "the kernel copied sends [{First},{Last}] instead of sending them from device memory (SO_EE_CODE_ZEROCOPY_COPIED)")]
    private static partial void LogCopied(ILogger logger, uint first, uint last);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "waiting for devmem TX completions at dispose failed: {Reason}")]
    private static partial void LogDisposeWaitFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "devmem TX is not possible ({Kind}: {Reason}); sending over plain TCP instead (DevmemFallback.Copy)")]
    private static partial void LogFallback(ILogger logger, DevmemFallbackKind kind, string reason);
}
