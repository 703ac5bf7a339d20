using Devmem.Interop;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Zcrx;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Setup;

/// <summary>
/// Sets a NIC up for devmem RX and binds a dma-buf to its RX queues, as the kernel's ncdevmem server
/// does, and undoes exactly what it did, in reverse, on <see cref="Dispose"/>, on failure and on
/// process exit.
/// </summary>
/// <remarks>
/// <para>Steps, in order (<see cref="DevmemSetupStep"/>): check the interface (it must have a parent
/// device, and on kernels before 6.15 a driver known to have a queue management API, because 6.12's
/// bind-rx attaches the dma-buf before it checks and WARNs for a device that cannot DMA it); snapshot
/// rings, channels, RSS and flow rules; header split on (tcp-data-split enabled, hds-thresh 0 where the
/// kernel has it); RSS indirection spread over the queues below the devmem queues; one ntuple rule for
/// the flow (5-tuple, else destination only, as ncdevmem retries) to the first devmem queue; bind-rx.
/// Each step that changed something pushes its exact undo; nothing else on the NIC is touched (other
/// flow rules stay: 6.12's ncdevmem switched ntuple off and on, which wiped them).</para>
/// <para>The binding lives as long as this object (it owns the bind-rx netlink socket). Disposing
/// unbinds first, then restores the NIC. Sockets that still hold fragments keep the dma-buf mapped
/// until they release them or close: their page pool holds a reference on the binding until its last
/// buffer comes back, and the mapping goes with the last reference (net/core/devmem.c,
/// mp_dmabuf_devmem_destroy and __net_devmem_dmabuf_binding_free). That does not stop the restore.</para>
/// <para>With <see cref="DevmemFallback.Copy"/>, a setup that finds zero copy impossible on this host
/// or NIC (<see cref="DevmemFallbackKind"/>: no dma-buf provider, a NIC that cannot bind) is undone and
/// this object stays usable in copy mode: <see cref="IsZeroCopy"/> is false, <see cref="FallbackKind"/>
/// and <see cref="FallbackReason"/> say why, and <see cref="Wrap(Socket, ILogger?)"/> gives copy-fallback sockets into the
/// same memory, all sharing its slots. A configuration error (no such interface, queues out of range,
/// EPERM...) is thrown even with <see cref="DevmemFallback.Copy"/>.</para>
/// </remarks>
public sealed partial class DevmemRxSetup : IDisposable
{
    private readonly Lock _lock = new();
    private readonly DevmemSetupUndo _undo;
    private readonly ILogger _logger;
    private readonly DeviceMemory _memory;
    private readonly DevmemRxSetupOptions _options;
    private readonly DevmemMetrics _metrics;
    private DevmemSetupSignals? _signals;
    private EthtoolClient? _ethtool;
    private DevmemRxSteps? _steps;
    private IReadOnlyList<string> _recovered = [];
    private bool _disposed;

    // Set by Apply(size, ...): this setup made the memory (and disposes it); the selection's account when
    // no dma-buf provider worked and the memory is host memory.
    private bool _ownsMemory;
    private string? _noProvider;

    private DevmemRxSetup(DeviceMemory memory, DevmemRxSetupOptions options, ILogger logger)
    {
        _memory = memory;
        _options = options;
        _metrics = DevmemMetrics.For(options.MeterFactory);
        _logger = logger;
        InterfaceName = options.InterfaceName;
        _undo = new DevmemSetupUndo(options.InterfaceName, logger);
    }

    /// <summary>The interface.</summary>
    public string InterfaceName { get; }

    /// <summary>Its ifindex.</summary>
    public int InterfaceIndex { get; private set; }

    /// <summary>The driver's name (ETHTOOL_GDRVINFO), or null when the device reports none.</summary>
    public string? Driver { get; private set; }

    /// <summary>The RX queues the dma-buf is bound to (chosen even in copy mode, for the record).</summary>
    public IReadOnlyList<uint> Queues { get; private set; } = [];

    /// <summary>The binding, while zero copy is live; null in copy mode and after dispose.</summary>
    public DmabufBinding? Binding => _steps?.Binding;

    /// <summary>With <see cref="DevmemRxEngine.Zcrx"/>: the io_uring zcrx instance on the queue; null otherwise (and in copy mode).</summary>
    public ZcrxInstance? Zcrx => _steps?.Zcrx;

    /// <summary>The binding id that RX cmsgs carry as <c>dmabuf_id</c>; 0 in copy mode.</summary>
    public uint BindingId { get; private set; }

    /// <summary>The location of the flow rule this setup added, or null when it added none.</summary>
    public uint? FlowRuleLocation { get; private set; }

    /// <summary>Whether the flow rule matches the 5-tuple (false: destination address and port only).</summary>
    public bool FlowRuleIsFiveTuple { get; private set; }

    /// <summary>True when the dma-buf is bound (zero copy); false in copy fallback.</summary>
    public bool IsZeroCopy { get; private set; }

    /// <summary>Why zero copy was not possible, in copy mode; null otherwise.</summary>
    public string? FallbackReason { get; private set; }

    /// <summary>Why zero copy was not possible, as a value to switch on, in copy mode; null otherwise.</summary>
    public DevmemFallbackKind? FallbackKind { get; private set; }

    /// <summary>The failure that made this setup fall back to copy, when it did.</summary>
    public DevmemSetupException? FallbackCause { get; private set; }

    /// <summary>What the setup changed, one line per change, in order (for logs and <c>--json</c>).</summary>
    public IReadOnlyList<string> Changes => _undo.Changes;

    /// <summary>
    /// What this setup undid first, left on the interface by an earlier process that was killed before
    /// it could undo its own setup (found in its journal under <c>/run/devmem</c>), and each such undo
    /// that failed ("could not undo …"; its record stays in the journal for the next setup).
    /// </summary>
    public IReadOnlyList<string> Recovered => _recovered;

    /// <summary>The memory the NIC (or the copy fallback) writes into.</summary>
    public DeviceMemory Memory => _memory;

    /// <summary>
    /// Makes <paramref name="memorySize"/> bytes of memory with the best dma-buf provider
    /// (<see cref="MemoryProviders.Select"/>: CUDA, udmabuf, dma-heap), then sets the NIC up and binds it as
    /// <see cref="Apply(DeviceMemory, DevmemRxSetupOptions, ILogger?)"/> does. When no provider works, the
    /// memory is host memory: with <see cref="DevmemFallback.Copy"/> the setup is in copy mode
    /// (<see cref="DevmemFallbackKind.NoDmabufProvider"/>, unless the NIC refused first), otherwise the
    /// providers' reasons are thrown. The setup owns the memory (<see cref="Memory"/>) and disposes it.
    /// </summary>
    /// <param name="memorySize">Bytes of memory, at least 1.</param>
    /// <param name="options">Interface, queues, steering, fallback.</param>
    /// <param name="logger">Where to log the provider choice, each change and its undo; none by default.</param>
    /// <returns>The live setup; dispose it to unbind, restore the NIC and free the memory.</returns>
    /// <exception cref="DevmemSetupException">A step failed (and no fallback was allowed or possible).</exception>
    /// <exception cref="AggregateException">A step failed and undoing an earlier step failed too: the step's
    /// <see cref="DevmemSetupException"/>, then one per failed undo (<see cref="DevmemSetupStep.Undo"/>). The journal
    /// under <c>/run/devmem</c> keeps exactly what was not undone, for the next setup on the interface.</exception>
    public static DevmemRxSetup Apply(long memorySize, DevmemRxSetupOptions options, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memorySize);
        ArgumentNullException.ThrowIfNull(options);
        // An rx-page-size above the page size needs every dma-buf entry aligned to it (udmabuf from huge pages).
        ProviderSelection selection = MemoryProviders.Select(memorySize, new MemoryProviderOptions { Logger = logger, Alignment = options.RxPageSize ?? 0 });
        DeviceMemory memory = selection.Memory ?? HostMemory.Create(memorySize, "devmem-copy");
        try
        {
            string? noProvider = selection.Memory is null
                ? $"no dma-buf provider could make {memorySize} bytes ({string.Join("; ", selection.Candidates.Select(c => $"{c.Kind}: {c.Reason}"))})"
                : null;
            return Apply(memory, options, logger, ownsMemory: true, noProvider);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sets <paramref name="options"/>' interface up and binds <paramref name="memory"/> to its RX queues.
    /// On failure everything done so far is undone; then, when the failure means zero copy is impossible
    /// here (<see cref="DevmemSetupException.FallbackKind"/>) and <see cref="DevmemFallback.Copy"/> was
    /// asked for, the returned object is in copy mode; otherwise (and always for a configuration error)
    /// the failure is thrown.
    /// </summary>
    /// <param name="memory">A dma-buf (udmabuf, dma-heap, CUDA); for the copy fallback it needs a CPU mapping.</param>
    /// <param name="options">Interface, queues, steering, fallback.</param>
    /// <param name="logger">Where to log each change and its undo; none by default.</param>
    /// <returns>The live setup; dispose it to unbind and restore the NIC.</returns>
    /// <exception cref="DevmemSetupException">A step failed (and no fallback was allowed or possible).</exception>
    /// <exception cref="AggregateException">A step failed and undoing an earlier step failed too: the step's
    /// <see cref="DevmemSetupException"/>, then one per failed undo (<see cref="DevmemSetupStep.Undo"/>). The journal
    /// under <c>/run/devmem</c> keeps exactly what was not undone, for the next setup on the interface.</exception>
    public static DevmemRxSetup Apply(DeviceMemory memory, DevmemRxSetupOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(options);
        return Apply(memory, options, logger, ownsMemory: false, noProvider: null);
    }

    private static DevmemRxSetup Apply(DeviceMemory memory, DevmemRxSetupOptions options, ILogger? logger, bool ownsMemory, string? noProvider)
    {
        var setup = new DevmemRxSetup(memory, options, logger ?? NullLogger.Instance) { _noProvider = noProvider };
        try
        {
            setup.Run();
            setup.IsZeroCopy = true;
            setup._ownsMemory = ownsMemory;
            return setup;
        }
        catch (DevmemSetupException e)
        {
            List<Exception> undoFailures = setup._undo.UndoAll();
            string? journalPath = setup._undo.JournalPath;

            // Only what a valid configuration cannot change falls back; a configuration error is thrown.
            if (options.Fallback == DevmemFallback.Copy && e.FallbackKind is { } kind && memory.HasCpuMapping && undoFailures.Count == 0)
            {
                setup.FallbackCause = e;
                setup.FallbackReason = e.Message;
                setup.FallbackKind = kind;
                setup._ownsMemory = ownsMemory;
                LogFallback(setup._logger, options.InterfaceName, memory.Kind.ToString(), e.Message);
                return setup;
            }

            setup.Dispose();
            if (undoFailures.Count > 0)
            {
                string kept = journalPath is null ? "" : $" (the journal {journalPath} keeps what was not undone: the next setup on {options.InterfaceName} undoes it once this process has ended)";
                throw new AggregateException($"{e.Message} Undoing the steps before it also failed; the NIC may be left configured{kept}.", [e, .. undoFailures]);
            }

            if (options.Fallback == DevmemFallback.Copy && e.FallbackKind is not null && !memory.HasCpuMapping)
            {
                throw DevmemSetupException.Amend(e, $" (no copy fallback: {memory.Kind} memory has no CPU mapping)");
            }

            throw;
        }
        catch
        {
            setup._undo.UndoAll();
            setup.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Wraps a connected socket of the steered flow: a zero-copy <see cref="DevmemSocket"/> while the
    /// binding is live, a copy-fallback one into <see cref="Memory"/> in copy mode. Call it for each
    /// connection: in copy mode every socket shares the memory's slots (a slot is never lent twice), and
    /// the fallback was logged once, by <c>Apply</c>. Thread-safe.
    /// </summary>
    /// <param name="socket">The accepted or connected socket; it stays the caller's.</param>
    /// <param name="logger">The socket's logger; none by default.</param>
    /// <returns>The devmem socket.</returns>
    public DevmemSocket Wrap(Socket socket, ILogger? logger = null)
    {
        return Wrap(socket, DevmemSocket.DefaultSlotSize, logger);
    }

    /// <summary>
    /// Wraps a connected socket of the steered flow with a caller-chosen copy-fallback slot size (a
    /// multiple of 4096; every socket over this setup's memory uses the same). In zero-copy mode the
    /// slot size does not apply.
    /// </summary>
    /// <param name="socket">The accepted or connected socket; it stays the caller's.</param>
    /// <param name="copySlotSize">Bytes per copy-fallback slot.</param>
    /// <param name="logger">The socket's logger; none by default.</param>
    /// <returns>The devmem socket.</returns>
    public DevmemSocket Wrap(Socket socket, int copySlotSize, ILogger? logger = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsZeroCopy && Zcrx is { } zcrx)
        {
            return zcrx.Wrap(socket, logger);
        }

        return IsZeroCopy
            ? DevmemSocket.CreateZeroCopy(socket, logger, _metrics, InterfaceName)
            : DevmemSocket.CreateCopyFallbackCore(socket, _memory, FallbackReason ?? "copy mode", copySlotSize, logger, logFallback: false, _metrics, InterfaceName);
    }

    /// <summary>
    /// Accepts the next connection on <paramref name="listener"/> and returns it wrapped, as
    /// <see cref="Wrap(Socket, ILogger?)"/> would, whichever the engine: with io_uring zcrx the ring accepts
    /// it and arms its zero-copy receive at once (<see cref="ZcrxInstance.Accept"/>: the peer's first data
    /// is read while the application is still making its objects); otherwise the listener accepts it.
    /// </summary>
    /// <param name="listener">A listening TCP socket on the steered address and port; it stays the caller's.</param>
    /// <param name="logger">The socket's logger; none by default.</param>
    /// <param name="cancellationToken">Ends the wait for a connection.</param>
    /// <returns>The connection, receiving; it owns the accepted socket and closes it when disposed.</returns>
    /// <exception cref="ObjectDisposedException">This setup or the listener was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="DevmemException">The socket does not listen, or the kernel refused the accept (with its errno).</exception>
    /// <exception cref="ZcrxException">With zcrx: the instance's loop failed (<see cref="ZcrxException.LoopFailed"/>).</exception>
    /// <exception cref="InvalidOperationException">With zcrx driven by the receiving thread: another thread drives the ring.</exception>
    public DevmemSocket Accept(Socket listener, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(listener);
        if (IsZeroCopy && Zcrx is { } zcrx)
        {
            return zcrx.Accept(listener, logger, cancellationToken: cancellationToken);
        }

        cancellationToken.ThrowIfCancellationRequested();
        Socket connection;
        try
        {
            connection = cancellationToken.CanBeCanceled
                ? listener.AcceptAsync(cancellationToken).AsTask().GetAwaiter().GetResult()
                : listener.Accept();
        }
        catch (Exception e) when (e is InvalidOperationException or SocketException)
        {
            throw AcceptFailed(e);
        }

        return OwnWrapped(connection, logger);
    }

    /// <summary>
    /// <see cref="Accept"/> without a thread waiting: the listener's <see cref="Socket.AcceptAsync(CancellationToken)"/>,
    /// or with io_uring zcrx <see cref="ZcrxInstance.AcceptAsync"/> (the ring accepts and arms the receive;
    /// with <see cref="ZcrxDriver.ReceivingThread"/> the call drives the ring and completes synchronously).
    /// </summary>
    /// <param name="listener">A listening TCP socket on the steered address and port; it stays the caller's.</param>
    /// <param name="logger">The socket's logger; none by default.</param>
    /// <param name="cancellationToken">Ends the wait for a connection.</param>
    /// <returns>The connection, receiving; it owns the accepted socket and closes it when disposed.</returns>
    /// <exception cref="ObjectDisposedException">This setup or the listener was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="DevmemException">The socket does not listen, or the kernel refused the accept (with its errno).</exception>
    /// <exception cref="ZcrxException">With zcrx: the instance's loop failed (<see cref="ZcrxException.LoopFailed"/>).</exception>
    public async ValueTask<DevmemSocket> AcceptAsync(Socket listener, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(listener);
        if (IsZeroCopy && Zcrx is { } zcrx)
        {
            return await zcrx.AcceptAsync(listener, logger, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        Socket connection;
        try
        {
            connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or SocketException)
        {
            throw AcceptFailed(e);
        }

        return OwnWrapped(connection, logger);
    }

    // The listener's own accept failed: .NET's check that it listens, or the kernel's errno.
    private static DevmemException AcceptFailed(Exception e) => e is SocketException se
        // .NET gives the kernel's errno as NativeErrorCode on Linux.
        ? DevmemException.Syscall("accept", (Errno)se.NativeErrorCode, se.SocketErrorCode == SocketError.InvalidArgument ? ZcrxInstance.NotListeningHint : null)
        // .NET's own check (Listen was not called on this Socket); the zcrx ring's accept gets EINVAL.
        : DevmemException.Condition("accept", $"accept on a socket that does not listen: {e.Message}", ZcrxInstance.NotListeningHint);

    private DevmemSocket OwnWrapped(Socket connection, ILogger? logger)
    {
        try
        {
            return Wrap(connection, logger).OwningSocket();
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Unbinds (closes the binding's netlink socket), then undoes each change in reverse order.</summary>
    /// <returns>The undo steps that failed (empty when the NIC is back as it was).</returns>
    public IReadOnlyList<Exception> Undo()
    {
        IReadOnlyList<Exception> failures = _undo.UndoAll();
        Dispose();
        return failures;
    }

    /// <summary>Unbinds and restores the NIC; undo failures are logged, not thrown.</summary>
    public void Dispose()
    {
        _undo.UndoAll();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _signals?.Dispose();
            _signals = null;
            _ethtool?.Dispose();
            _ethtool = null;
            if (_ownsMemory)
            {
                _memory.Dispose();
            }
        }
    }

    /// <summary>
    /// The check step alone, without memory and without changing anything: the interface exists, has a
    /// parent device, and its driver is not known to lack devmem RX (nor unknown on a kernel that would
    /// attach a dma-buf before checking). For a CLI to fail fast on a bad interface.
    /// </summary>
    /// <param name="interfaceName">The interface.</param>
    /// <returns>Its ifindex and driver name.</returns>
    /// <exception cref="DevmemSetupException">At <see cref="DevmemSetupStep.Check"/>, saying why.</exception>
    public static (int Ifindex, string? Driver) CheckInterface(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        EthtoolClient ethtool;
        try
        {
            ethtool = EthtoolClient.Open();
        }
        catch (Exception e) when (e is NetlinkException or NetlinkNotSupportedException or UnauthorizedAccessException)
        {
            throw DevmemSetupException.From(DevmemSetupStep.Check, interfaceName, "cannot open the ethtool netlink family", e);
        }

        using (ethtool)
        {
            return DevmemRxPlan.CheckInterface(ethtool, interfaceName);
        }
    }

    /// <summary>The ifindex of <paramref name="interfaceName"/> in the calling thread's network namespace.</summary>
    /// <param name="ethtool">An ethtool client opened in that namespace.</param>
    /// <param name="interfaceName">The interface.</param>
    /// <returns>The ifindex.</returns>
    /// <exception cref="DevmemSetupException">The name is not valid, or there is no such interface.</exception>
    internal static int GetInterfaceIndex(EthtoolClient ethtool, string interfaceName) => DevmemRxPlan.GetInterfaceIndex(ethtool, interfaceName);

    // The steps in order: check and plan (DevmemRxPlan), then the changes (DevmemRxSteps), each pushing
    // its undo on _undo, which Dispose, a failure, process exit and the signals (DevmemSetupSignals) run.
    private void Run()
    {
        string ifname = InterfaceName;
        _signals = DevmemSetupSignals.Hook(() => _undo.UndoAll(), _options.UndoOnSignals);

        // ---- check: what the kernel would trip over, before anything changes.
        _ethtool = DevmemRxSteps.Run(DevmemSetupStep.Check, ifname, "cannot open the ethtool netlink family", EthtoolClient.Open);
        EthtoolClient ethtool = _ethtool;
        (InterfaceIndex, Driver) = DevmemRxPlan.CheckInterface(ethtool, ifname);
        _recovered = DevmemSetupJournal.RecoverAbandoned(ethtool, ifname, _logger);

        using NetdevClient netdev = DevmemRxSteps.Run(DevmemSetupStep.Check, ifname, "cannot open the netdev netlink family", NetdevClient.Open);
        EthtoolChannels channels = DevmemRxSteps.Run(DevmemSetupStep.Snapshot, ifname, "cannot read the channel counts", () => ethtool.GetChannels(ifname));
        Queues = DevmemRxPlan.ChooseQueues(ifname, channels, _options);
        DevmemRxPlan.CheckQueuesFree(netdev, ifname, InterfaceIndex, Queues);
        bool zcrx = _options.Engine == DevmemRxEngine.Zcrx;
        if (zcrx)
        {
            DevmemRxPlan.CheckZcrx(_memory, Queues, ifname);
        }
        else
        {
            DevmemRxPlan.CheckMemory(_memory, _noProvider, ifname);
        }

        _steps = new DevmemRxSteps(ethtool, _undo, ifname, Driver, _logger);
        if (!_options.SkipConfiguration)
        {
            _undo.BeginJournal();
            _steps.HeaderSplit();
            _steps.Rss(Queues[0]);
            if (_options.Steering is { } steering)
            {
                (uint location, bool five) = _steps.FlowRule(steering, Queues[0]);
                FlowRuleLocation = location;
                FlowRuleIsFiveTuple = five;
            }
        }

        if (zcrx)
        {
            // ---- zcrx: the instance lives as long as its io_uring; disposing it unregisters.
            _steps.OpenZcrx(InterfaceIndex, _memory, Queues[0], _options.RxPageSize, _options.ZcrxDriver, _metrics);
            return;
        }

        // ---- bind-rx: the binding owns its netlink socket; disposing it unbinds.
        BindingId = _steps.BindRx(netdev, InterfaceIndex, _memory, Queues, _options.RxPageSize).Id;
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "devmem RX is not possible on {Interface}; receiving by copy into {Memory} memory instead: {Reason}")]
    private static partial void LogFallback(ILogger logger, string @interface, string memory, string reason);
}
