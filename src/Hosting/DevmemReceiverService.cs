using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Devmem.Diagnostics;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Devmem.Hosting;

/// <summary>
/// The devmem receiver as a hosted service: on start, the NIC setup (<see cref="DevmemRxSetup"/>, without
/// signal handlers: the host owns the signals) and a listener on the steered address and port; each
/// accepted connection is wrapped by the setup and its batches handed to the application's
/// <see cref="IDevmemConnectionHandler"/>. On stop: accepting stops, connections get
/// <see cref="DevmemReceiverOptions.DrainTimeout"/> to reach their end of stream and are then cancelled,
/// every fragment is released, and the setup is disposed (unbind, NIC restored).
/// </summary>
internal sealed partial class DevmemReceiverService : IHostedService, IAsyncDisposable
{
    private readonly DevmemReceiverOptions _options;
    private readonly IDevmemConnectionHandler _handler;
    private readonly DevmemReceiverStatus _status;
    private readonly IMeterFactory? _meterFactory;
    private readonly ILogger _logger;
    private readonly ILogger _libraryLogger;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _connections = [];
    private DevmemRxSetup? _setup;
    private DeviceMemory? _ownedMemory;
    private Socket? _listener;
    private Task? _acceptLoop;
    private SemaphoreSlim? _batchSlots;
    private long _lastId;
    private int _stopped;

    public DevmemReceiverService(IOptions<DevmemReceiverOptions> options, IDevmemConnectionHandler handler, DevmemReceiverStatus status, ILoggerFactory loggerFactory, IMeterFactory? meterFactory = null)
    {
        _options = options.Value;
        _handler = handler;
        _status = status;
        _meterFactory = meterFactory;
        _logger = loggerFactory.CreateLogger("Devmem.Hosting.DevmemReceiver");
        _libraryLogger = loggerFactory.CreateLogger("Devmem");
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        DevmemReceiverOptions o = _options;
        string ifname = o.Interface!;
        IPAddress address = o.ParseAddress();
        try
        {
            _setup = Apply(o, address);
            _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(new IPEndPoint(address, o.Port));
            _listener.Listen(o.Backlog);
        }
        catch (Exception e) when (e is DevmemIOException or AggregateException or ArgumentException or SocketException)
        {
            Exception error = e is SocketException se
                ? new IOException($"Cannot listen on {address}:{o.Port}: {se.SocketErrorCode} ({se.Message}).{(se.SocketErrorCode == SocketError.AddressAlreadyInUse ? " Another socket listens there: stop it or choose another Devmem:Port." : se.SocketErrorCode == SocketError.AddressNotAvailable ? " The address is not on this host: set Devmem:Address to one of the interface's addresses." : "")}", se)
                : e;
            CleanUpAfterFailedStart();
            string doctor = DevmemDoctor.Explain(ifname);
            _status.Failed(ifname, error, doctor);
            LogSetupFailed(_logger, ifname, error.Message);
            if (o.FailStartOnSetupError)
            {
                if (ReferenceEquals(error, e))
                {
                    throw;
                }

                throw error;
            }

            return Task.CompletedTask;
        }

        DevmemRxSetup setup = _setup;
        string? explain = setup.IsZeroCopy ? null : DevmemDoctor.Explain(ifname);
        _status.Started(setup, explain);
        string where = $"{address}:{o.Port}";
        if (setup.IsZeroCopy)
        {
            string queues = string.Join(',', setup.Queues);
            LogZeroCopy(_logger, ifname, setup.BindingId, queues, where);
        }
        else
        {
            string kind = setup.FallbackKind?.ToString() ?? "";
            LogCopy(_logger, ifname, kind, where, setup.FallbackReason ?? "");
        }

        _batchSlots = new SemaphoreSlim(Math.Max(1, o.MaxOutstandingTokens / o.SegmentsPerReceive));
        _acceptLoop = Task.Run(AcceptLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private DevmemRxSetup Apply(DevmemReceiverOptions o, IPAddress address)
    {
        var setupOptions = new DevmemRxSetupOptions(o.Interface!)
        {
            StartQueue = o.Queues?.Start,
            QueueCount = o.Queues?.Count,
            Steering = new DevmemFlowSteering(address, (ushort)o.Port),
            Fallback = o.Fallback,
            RxPageSize = o.RxPageSize,
            Engine = o.Engine,
            UndoOnSignals = false, // the host owns SIGINT/SIGTERM; its shutdown disposes the setup (StopAsync)
            MeterFactory = _meterFactory,
        };
        if (o.Provider is not { } kind)
        {
            return DevmemRxSetup.Apply(o.MemorySize, setupOptions, _libraryLogger);
        }

        DeviceMemory memory = MemoryProviders.Create(kind, o.MemorySize, new MemoryProviderOptions { Logger = _libraryLogger, Alignment = o.RxPageSize ?? 0 });
        try
        {
            DevmemRxSetup setup = DevmemRxSetup.Apply(memory, setupOptions, _libraryLogger);
            _ownedMemory = memory;
            return setup;
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    private void CleanUpAfterFailedStart()
    {
        _listener?.Dispose();
        _listener = null;
        _setup?.Dispose();
        _setup = null;
        _ownedMemory?.Dispose();
        _ownedMemory = null;
    }

    private async Task AcceptLoopAsync()
    {
        Socket listener = _listener!;
        DevmemRxSetup setup = _setup!;
        while (!_stopAccepting.IsCancellationRequested)
        {
            DevmemSocket ds;
            try
            {
                // The connection comes wrapped and owned; with zcrx the ring accepts it and arms its receive at once.
                ds = await setup.AcceptAsync(listener, _libraryLogger, _stopAccepting.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || _stopAccepting.IsCancellationRequested)
            {
                break;
            }
            catch (DevmemIOException e)
            {
                // EMFILE, ENOBUFS...: log and retry after a pause rather than spin.
                LogAcceptFailed(_logger, e.ErrnoName.Length > 0 ? e.ErrnoName : e.GetType().Name, e.Message);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            long id = ++_lastId;
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(Task.Run(() => RunConnectionAsync(id, ds), CancellationToken.None));
            }
        }
    }

    private async Task RunConnectionAsync(long id, DevmemSocket ds)
    {
        DevmemRxSetup setup = _setup!;
        DevmemReceiverOptions o = _options;
        CancellationToken ct = _abort.Token;
        DevmemConnection? c = null;
        Exception? error = null;
        _status.ConnectionOpened();
        try
        {
            Socket conn = ds.Socket;
            c = new DevmemConnection(id, conn.RemoteEndPoint, conn.LocalEndPoint, ds.IsZeroCopy, setup.Memory);
            string remote = $"{c.RemoteEndPoint}";
            LogOpened(_logger, id, remote, ds.IsZeroCopy ? DevmemMetrics.ZeroCopyMode : DevmemMetrics.CopyMode);
            await _handler.OnConnectedAsync(c, ct).ConfigureAwait(false);
            var segments = new DevmemSegment[o.SegmentsPerReceive];
            var linear = new byte[o.LinearBufferSize];
            DeviceMemory memory = setup.Memory;
            while (true)
            {
                // Wait for data without holding room for tokens, so an idle connection never blocks a busy one.
                await ds.WaitForDataAsync(ct).ConfigureAwait(false);
                await _batchSlots!.WaitAsync(ct).ConfigureAwait(false);
                int count = 0;
                try
                {
                    DevmemReceiveResult r = await ds.ReceiveAsync(segments, linear, ct).ConfigureAwait(false);
                    if (r.EndOfStream)
                    {
                        break;
                    }

                    count = r.Segments;
                    if (count == 0)
                    {
                        continue;
                    }

                    c.BytesReceived += r.TotalBytes;
                    c.Batches++;
                    bool readable = memory.HasCpuMapping;
                    if (readable)
                    {
                        memory.BeginCpuAccess(CpuAccess.Read);
                    }

                    try
                    {
                        await _handler.OnBatchAsync(c, new DevmemBatch(segments, count, linear, memory, r.TotalBytes), ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (readable)
                        {
                            memory.EndCpuAccess(CpuAccess.Read);
                        }
                    }
                }
                finally
                {
                    if (count > 0)
                    {
                        // The batch is done with: its tokens go back in one SO_DEVMEM_DONTNEED (coalesced ranges).
                        ds.Release(segments.AsSpan(0, count));
                        ds.FlushReleases();
                    }

                    _batchSlots.Release();
                }
            }
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested)
        {
            error = e;
        }
        catch (Exception e)
        {
            error = e;
            LogConnectionFailed(_logger, id, e.GetType().Name, e.Message);
        }
        finally
        {
            if (c is not null)
            {
                try
                {
                    await _handler.OnDisconnectedAsync(c, error, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    LogHandlerFailed(_logger, id, nameof(IDevmemConnectionHandler.OnDisconnectedAsync), e.Message);
                }
            }

            try
            {
                ds.Dispose(); // whatever is still held goes back, and the connection is closed
            }
            catch (Exception e) when (e is DevmemIOException or InvalidOperationException)
            {
                LogConnectionFailed(_logger, id, e.GetType().Name, e.Message);
            }

            _status.ConnectionClosed();
            LogClosed(_logger, id, c?.BytesReceived ?? 0, c?.Batches ?? 0, error is null ? "end of stream" : error is OperationCanceledException ? "cancelled by the host's stop" : error.Message);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        if (_setup is null)
        {
            _status.Stopped();
            return;
        }

        LogStopping(_logger, _status.ActiveConnections);
        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        Task drained;
        lock (_connections)
        {
            drained = Task.WhenAll(_connections);
        }

        if (_options.DrainTimeout > TimeSpan.Zero && !drained.IsCompleted)
        {
            try
            {
                await drained.WaitAsync(_options.DrainTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
            }
        }

        await _abort.CancelAsync().ConfigureAwait(false);

        // The setup's memory must outlive every receive into it: wait for the connections however long the
        // cancelled handlers take.
        await drained.ConfigureAwait(false);
        _status.Stopped();
        DisposeSetup();
    }

    private void DisposeSetup()
    {
        DevmemRxSetup? setup = Interlocked.Exchange(ref _setup, null);
        if (setup is null)
        {
            return;
        }

        string ifname = setup.InterfaceName;
        setup.Dispose();
        _ownedMemory?.Dispose();
        _ownedMemory = null;
        LogRestored(_logger, ifname);
    }

    public async ValueTask DisposeAsync()
    {
        // A host that never called StopAsync (its start failed after ours) still gets the NIC back.
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopAccepting.Dispose();
        _abort.Dispose();
        _batchSlots?.Dispose();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Devmem receiver on {Interface}: zero copy (binding {BindingId}, queues {Queues}), listening on {Endpoint}")]
    private static partial void LogZeroCopy(ILogger logger, string @interface, uint bindingId, string queues, string endpoint);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Devmem receiver on {Interface}: receiving by copy ({FallbackKind}), listening on {Endpoint}; zero copy is impossible here: {Reason}")]
    private static partial void LogCopy(ILogger logger, string @interface, string fallbackKind, string endpoint, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "Devmem receiver on {Interface}: the NIC setup failed: {Message}")]
    private static partial void LogSetupFailed(ILogger logger, string @interface, string message);

    [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Devmem connection {Id} from {Remote} opened ({Mode})")]
    private static partial void LogOpened(ILogger logger, long id, string remote, string mode);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Devmem connection {Id} closed after {Bytes} bytes in {Batches} batches: {Reason}")]
    private static partial void LogClosed(ILogger logger, long id, long bytes, long batches, string reason);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "Devmem connection {Id} failed ({Type}): {Message}")]
    private static partial void LogConnectionFailed(ILogger logger, long id, string type, string message);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Devmem connection {Id}: the handler's {Callback} threw: {Message}")]
    private static partial void LogHandlerFailed(ILogger logger, long id, string callback, string message);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Devmem receiver: accept failed ({Error}): {Message}")]
    private static partial void LogAcceptFailed(ILogger logger, string error, string message);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "Devmem receiver stopping: no new connections; {Active} open connection(s) drain, then are cancelled")]
    private static partial void LogStopping(ILogger logger, int active);

    [LoggerMessage(EventId = 109, Level = LogLevel.Information, Message = "Devmem receiver stopped: the setup on {Interface} is undone (binding closed, NIC restored)")]
    private static partial void LogRestored(ILogger logger, string @interface);
}
