using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
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
/// until they release them or close (kernel-api.md §5), which does not stop the restore.</para>
/// <para>With <see cref="DevmemFallback.Copy"/>, a setup that finds zero copy impossible on this host
/// or NIC (<see cref="DevmemFallbackKind"/>: no dma-buf provider, a NIC that cannot bind) is undone and
/// this object stays usable in copy mode: <see cref="IsZeroCopy"/> is false, <see cref="FallbackKind"/>
/// and <see cref="FallbackReason"/> say why, and <see cref="Wrap(Socket, ILogger?)"/> gives copy-fallback sockets into the
/// same memory, all sharing its slots. A configuration error (no such interface, queues out of range,
/// EPERM...) is thrown even with <see cref="DevmemFallback.Copy"/>.</para>
/// </remarks>
public sealed partial class DevmemRxSetup : IDisposable
{
    private const string NeedsDevmemNic = "devmem RX needs a NIC whose driver supports it (bnxt_en, gve, mlx5_core, fbnic on 7.x kernels; see docs/hardware.md)";

    private readonly Lock _lock = new();
    private readonly Stack<(string What, Action Undo, string? Journaled)> _undo = new();
    private readonly ILogger _logger;
    private readonly DeviceMemory _memory;
    private readonly DevmemRxSetupOptions _options;
    private readonly List<string> _changes = [];
    private readonly List<PosixSignalRegistration> _signals = [];
    private EthtoolClient? _ethtool;
    private DevmemSetupJournal? _journal;
    private IReadOnlyList<string> _recovered = [];
    private DmabufBinding? _binding;
    private bool _processExitHooked;
    private bool _disposed;

    // Set by Apply(size, ...): this setup made the memory (and disposes it); the selection's account when
    // no dma-buf provider worked and the memory is host memory.
    private bool _ownsMemory;
    private string? _noProvider;

    private DevmemRxSetup(DeviceMemory memory, DevmemRxSetupOptions options, ILogger logger)
    {
        _memory = memory;
        _options = options;
        _logger = logger;
        InterfaceName = options.InterfaceName;
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
    public DmabufBinding? Binding => _binding;

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
    public IReadOnlyList<string> Changes => _changes;

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
            List<Exception> undoFailures = setup.UndoAll();
            string? journalPath = setup._journal?.FilePath;

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
            setup.UndoAll();
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        return IsZeroCopy
            ? new DevmemSocket(socket, logger)
            : DevmemSocket.CreateCopyFallbackCore(socket, _memory, FallbackReason ?? "copy mode", DevmemSocket.DefaultSlotSize, logger, logFallback: false);
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
        return IsZeroCopy
            ? new DevmemSocket(socket, logger)
            : DevmemSocket.CreateCopyFallbackCore(socket, _memory, FallbackReason ?? "copy mode", copySlotSize, logger, logFallback: false);
    }

    /// <summary>Unbinds (closes the binding's netlink socket), then undoes each change in reverse order.</summary>
    /// <returns>The undo steps that failed (empty when the NIC is back as it was).</returns>
    public IReadOnlyList<Exception> Undo()
    {
        IReadOnlyList<Exception> failures = UndoAll();
        Dispose();
        return failures;
    }

    /// <summary>Unbinds and restores the NIC; undo failures are logged, not thrown.</summary>
    public void Dispose()
    {
        UndoAll();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (PosixSignalRegistration r in _signals)
            {
                r.Dispose();
            }

            _signals.Clear();
            if (_processExitHooked)
            {
                AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
                _processExitHooked = false;
            }

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
            return CheckInterface(ethtool, interfaceName);
        }
    }

    private static (int Ifindex, string? Driver) CheckInterface(EthtoolClient ethtool, string ifname)
    {
        int ifindex = GetInterfaceIndex(ethtool, ifname);
        (string? driver, string busInfo) = TryDriver(ethtool, ifname);
        if (!HasParentDevice(ifname, ifindex, busInfo))
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname,
                $"{ifname} has no parent device (a virtual interface{(driver is null ? "" : $", driver {driver}")}): a dma-buf cannot be attached to it",
                NeedsDevmemNic, DevmemFallbackKind.NoParentDevice);
        }

        Version kernel = DevmemDrivers.RunningKernel;
        if (!DevmemDrivers.KernelMayBeAsked(driver, kernel))
        {
            string what = DevmemDrivers.Lookup(driver, kernel) == DriverRxSupport.NoQueueApi
                ? $"driver {driver} has no queue management API: devmem RX is not possible on this NIC"
                : $"driver {driver ?? "(none reported)"} is not known to have a queue management API, and kernel {kernel} attaches the dma-buf before it checks (a kernel WARN for a device that cannot DMA it), so bind-rx is not attempted";
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, what, NeedsDevmemNic, DevmemFallbackKind.UnsupportedDriver);
        }

        return (ifindex, driver);
    }

    /// <summary>The ifindex of <paramref name="interfaceName"/> in the calling thread's network namespace.</summary>
    /// <param name="ethtool">An ethtool client opened in that namespace.</param>
    /// <param name="interfaceName">The interface.</param>
    /// <returns>The ifindex.</returns>
    /// <exception cref="DevmemSetupException">The name is not valid, or there is no such interface.</exception>
    internal static int GetInterfaceIndex(EthtoolClient ethtool, string interfaceName)
    {
        if (InterfaceNames.Problem(interfaceName) is { } problem)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, interfaceName, $"not a valid interface name ({problem})");
        }

        try
        {
            return ethtool.GetInterfaceIndex(interfaceName);
        }
        catch (EthtoolIoctlException e) when (e.Errno == Interop.Errno.ENODEV)
        {
            throw DevmemSetupException.From(DevmemSetupStep.Check, interfaceName, "no such interface in this network namespace", e,
                "list the interfaces with 'ip link' (or 'devmem-info doctor')");
        }
    }

    /// <summary>
    /// Whether the netdev has a parent device (what a dma-buf is attached to): sysfs's <c>device</c>
    /// link when sysfs shows this namespace (its ifindex file matches), else the bus address the driver
    /// reports (virtual devices report none).
    /// </summary>
    private static bool HasParentDevice(string ifname, int ifindex, string busInfo)
    {
        string sys = $"/sys/class/net/{ifname}";
        try
        {
            if (File.Exists($"{sys}/ifindex") && int.Parse(File.ReadAllText($"{sys}/ifindex").Trim(), CultureInfo.InvariantCulture) == ifindex)
            {
                return Directory.Exists($"{sys}/device");
            }
        }
        catch (IOException)
        {
        }

        return busInfo.Length > 0;
    }

    private void Run()
    {
        string ifname = InterfaceName;
        Hook();

        // ---- check: what the kernel would trip over, before anything changes.
        _ethtool = Step(DevmemSetupStep.Check, "cannot open the ethtool netlink family", EthtoolClient.Open);
        (InterfaceIndex, Driver) = CheckInterface(_ethtool, ifname);
        _recovered = DevmemSetupJournal.RecoverAbandoned(_ethtool, ifname, _logger);

        using NetdevClient netdev = Step(DevmemSetupStep.Check, "cannot open the netdev netlink family", NetdevClient.Open);
        EthtoolChannels channels = Step(DevmemSetupStep.Snapshot, "cannot read the channel counts", () => _ethtool.GetChannels(ifname));
        uint rxq = (channels.RxCount ?? 0) + (channels.CombinedCount ?? 0);
        uint count = _options.QueueCount ?? 1;
        uint start = _options.StartQueue ?? (rxq > count ? rxq - count : 0);
        if (count == 0 || start + count > rxq)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname,
                $"RX queues {start}..{start + count - 1} are out of range: {ifname} has {rxq} (rx {channels.RxCount ?? 0} + combined {channels.CombinedCount ?? 0})",
                $"choose a start queue and count within 0..{(rxq == 0 ? 0 : rxq - 1)}");
        }

        if (start == 0 && !_options.SkipConfiguration)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname,
                $"RX queue 0 cannot be a devmem queue while RSS must keep ordinary traffic on the queues below the first devmem queue ({ifname} has {rxq} RX queues)",
                rxq < 2 ? "devmem RX needs at least 2 RX queues: raise them (ethtool -L)" : "choose a start queue of 1 or more");
        }

        Queues = [.. Enumerable.Range((int)start, (int)count).Select(i => (uint)i)];
        foreach (uint q in Queues)
        {
            uint? bound = Step(DevmemSetupStep.Check, $"cannot read RX queue {q}", () => netdev.GetQueue(InterfaceIndex, NetdevQueueType.Rx, q).DmabufId);
            if (bound is uint other)
            {
                throw DevmemSetupException.Failed(DevmemSetupStep.Check, ifname, $"RX queue {q} already has a dma-buf bound (binding {other})", Interop.Errno.EEXIST,
                    "another process holds it; choose other queues (-t/-q) or stop that process");
            }
        }

        // Memory last among the checks: a configuration error above (queues out of range or taken) is
        // reported as such even when there is no dma-buf to bind, and is never a reason to fall back.
        if (!_memory.IsDmabuf)
        {
            throw _noProvider is not null
                ? DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, _noProvider,
                    "zero copy needs a dma-buf provider: a kernel with CONFIG_UDMABUF or CONFIG_DMABUF_HEAPS_SYSTEM, or an NVIDIA GPU; or set Fallback = DevmemFallback.Copy",
                    DevmemFallbackKind.NoDmabufProvider)
                : DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, $"{_memory.Kind} memory is not a dma-buf, so the NIC cannot be bound to it",
                    "zero copy needs a dma-buf provider (udmabuf, a dma-heap or a CUDA GPU)", DevmemFallbackKind.NotDmabuf);
        }

        if (!_options.SkipConfiguration)
        {
            _journal = DevmemSetupJournal.Begin(ifname, _logger);
            ConfigureHeaderSplit(ifname);
            ConfigureRss(ifname, start);
            if (_options.Steering is { } steering)
            {
                AddFlowRule(ifname, steering, start);
            }
        }

        // ---- bind-rx: the binding owns its netlink socket; disposing it unbinds.
        try
        {
            _binding = Step(DevmemSetupStep.BindRx, $"cannot bind the dma-buf to RX queue{(count == 1 ? "" : "s")} {string.Join(',', Queues)}",
                () => netdev.BindRx(InterfaceIndex, _memory.DmabufHandle, Queues, _options.RxPageSize));
        }
        catch (DevmemSetupException e) when (e.Errno is Interop.Errno.EOPNOTSUPP or Interop.Errno.ENODATA && _options.RxPageSize is null)
        {
            // The NIC itself cannot: no queue API or DMA device (EOPNOTSUPP), a page pool that cannot take
            // unreadable memory (ENODATA) (net/core/devmem.c, net/core/netdev_rx_queue.c).
            e.FallbackKind = DevmemFallbackKind.BindRxUnsupported;
            throw;
        }

        BindingId = _binding.Id;
        DmabufBinding binding = _binding;
        Done($"bound the dma-buf ({_memory.Kind}, {_memory.Size} bytes) to RX queue{(count == 1 ? "" : "s")} {string.Join(',', Queues)} as binding {binding.Id}",
            $"unbind binding {binding.Id}", () =>
            {
                binding.Dispose();
                _binding = null;
            });
    }

    private void ConfigureHeaderSplit(string ifname)
    {
        EthtoolRings rings = Step(DevmemSetupStep.Snapshot, "cannot read the ring parameters", () => _ethtool!.GetRings(ifname));
        bool splitOn = rings.TcpDataSplit == EthtoolTcpDataSplit.Enabled;
        bool thresholdZero = rings.HdsThresh is null or 0;
        if (splitOn && thresholdZero)
        {
            return;
        }

        EthtoolTcpDataSplit oldSplit = rings.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown;
        uint? oldThreshold = rings.HdsThresh;
        string journaled = $"split {(splitOn ? "-" : ((byte)oldSplit).ToString(CultureInfo.InvariantCulture))} {(thresholdZero ? "-" : oldThreshold!.Value.ToString(CultureInfo.InvariantCulture))}";
        Journal(journaled);
        try
        {
            Step(DevmemSetupStep.HeaderSplit, "cannot turn on TCP header/data split", () => _ethtool!.SetRings(ifname,
                new EthtoolRingsSettings(TcpDataSplit: splitOn ? null : EthtoolTcpDataSplit.Enabled, HdsThresh: thresholdZero ? null : 0)),
                e => e is NetlinkException { Errno: Interop.Errno.EOPNOTSUPP } or EthtoolIoctlException { Errno: Interop.Errno.EOPNOTSUPP }
                    ? $"driver {Driver} cannot split TCP headers from payload: devmem RX is not possible on this NIC"
                    : null);
        }
        catch (DevmemSetupException e)
        {
            // The kernel refused the change: there is nothing to undo.
            Unjournal(journaled);
            if (e.Errno == Interop.Errno.EOPNOTSUPP)
            {
                e.FallbackKind = DevmemFallbackKind.NoHeaderSplit;
            }

            throw;
        }

        // Undo exactly these two fields: tcp-data-split back to what was reported (Unknown, the driver's
        // default, when it was not), hds-thresh back to its old value.
        Done($"tcp-data-split {Name(rings.TcpDataSplit)} -> on{(thresholdZero ? "" : $", hds-thresh {oldThreshold} -> 0")}",
            $"tcp-data-split back to {Name(rings.TcpDataSplit)}{(thresholdZero ? "" : $", hds-thresh back to {oldThreshold}")}",
            () => _ethtool!.SetRings(ifname, new EthtoolRingsSettings(TcpDataSplit: splitOn ? null : oldSplit, HdsThresh: thresholdZero ? null : oldThreshold)), journaled);

        static string Name(EthtoolTcpDataSplit? s) => s switch
        {
            EthtoolTcpDataSplit.Enabled => "on",
            EthtoolTcpDataSplit.Disabled => "off",
            _ => "auto",
        };
    }

    private void ConfigureRss(string ifname, uint start)
    {
        EthtoolRss rss;
        try
        {
            rss = Step(DevmemSetupStep.Snapshot, "cannot read the RSS indirection table", () => _ethtool!.GetRss(ifname),
                e => e is EthtoolIoctlException or NetlinkException ? "the driver must report an RSS table so that ordinary traffic can be kept off the devmem queues; or set the NIC up yourself and skip configuration (-n)" : null);
        }
        catch (DevmemSetupException e) when (e.Errno == Interop.Errno.EOPNOTSUPP)
        {
            e.FallbackKind = DevmemFallbackKind.NoRssTable;
            throw;
        }

        if (rss.Indirection.Count == 0)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Rss, ifname, "the driver has no RSS indirection table, so ordinary traffic cannot be kept off the devmem queues",
                "set the NIC up yourself and skip configuration (-n)", DevmemFallbackKind.NoRssTable);
        }

        if (rss.Indirection.All(q => q < start))
        {
            return;
        }

        // ethtool -X IF equal START: hash buckets spread over queues 0..START-1.
        uint[] table = EthtoolRss.Equal(rss.Indirection.Count, start);
        string journaled = $"rss {string.Join(',', rss.Indirection)}";
        Journal(journaled);
        try
        {
            Step(DevmemSetupStep.Rss, $"cannot spread RSS over queues 0..{start - 1}", () => _ethtool!.SetRssIndirection(ifname, table));
        }
        catch (DevmemSetupException)
        {
            Unjournal(journaled); // refused: nothing to undo
            throw;
        }

        Done($"RSS indirection spread over queues 0..{start - 1} (was over {string.Join(',', rss.Indirection.Distinct().Order())})",
            "RSS indirection table back as it was", () => _ethtool!.RestoreRssIndirection(ifname, rss), journaled);
    }

    private void AddFlowRule(string ifname, DevmemFlowSteering s, uint queue)
    {
        IPAddress server = s.ServerAddress.IsIPv4MappedToIPv6 ? s.ServerAddress.MapToIPv4() : s.ServerAddress;
        IPAddress? client = s.ClientAddress is { IsIPv4MappedToIPv6: true } c ? c.MapToIPv4() : s.ClientAddress;
        EthtoolFlowType type = server.AddressFamily == AddressFamily.InterNetworkV6 ? EthtoolFlowType.Tcp6 : EthtoolFlowType.Tcp4;
        var full = new EthtoolFlowRule(type, client, server, client is null ? null : s.ClientPort, s.Port, queue);
        var destinationOnly = new EthtoolFlowRule(type, null, server, null, s.Port, queue);
        uint location;
        bool five = full.Source is not null || full.SourcePort is not null;
        try
        {
            location = _ethtool!.AddFlowRule(ifname, full);
        }
        catch (Exception e) when (five && e is EthtoolIoctlException)
        {
            // ncdevmem retries without the source fields: some NICs match only 3-tuples.
            LogFiveTupleRefused(_logger, ifname, e.Message);
            five = false;
            location = Step(DevmemSetupStep.FlowRule, $"cannot add a flow rule steering {server} port {s.Port} to queue {queue}",
                () => _ethtool!.AddFlowRule(ifname, destinationOnly), FlowRuleHint);
        }
        catch (Exception e) when (e is EthtoolIoctlException)
        {
            throw DevmemSetupException.From(DevmemSetupStep.FlowRule, ifname, $"cannot add a flow rule steering {server} port {s.Port} to queue {queue}", e, FlowRuleHint(e));
        }

        // Recorded right after the rule is added: its location is known only then.
        string journaled = $"rule {location.ToString(CultureInfo.InvariantCulture)}";
        Journal(journaled);
        FlowRuleLocation = location;
        FlowRuleIsFiveTuple = five;
        EthtoolFlowRule added = five ? full : destinationOnly;
        string from = !five ? "" : added.SourcePort is null ? $"from {added.Source} " : $"from {added.Source} port {added.SourcePort} ";
        Done($"flow rule {location}: {added.FlowType} {from}to {server} port {s.Port} -> queue {queue}",
            $"delete flow rule {location}", () => _ethtool!.DeleteFlowRule(ifname, location), journaled);
    }

    private string? FlowRuleHint(Exception e) => e is EthtoolIoctlException { Errno: Interop.Errno.EOPNOTSUPP or Interop.Errno.EINVAL }
        ? $"the driver takes no such ntuple rule; check that ntuple filters are on (ethtool -K {InterfaceName} ntuple on) and the rule table has room"
        : null;

    private static (string? Driver, string BusInfo) TryDriver(EthtoolClient ethtool, string ifname)
    {
        try
        {
            (string d, string bus) = ethtool.GetDriverInfo(ifname);
            return (d.Length == 0 ? null : d, bus);
        }
        catch (EthtoolIoctlException)
        {
            return (null, "");
        }
    }

    private T Step<T>(DevmemSetupStep step, string what, Func<T> action, Func<Exception, string?>? hint = null)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is NetlinkException or EthtoolIoctlException or UnauthorizedAccessException or NetlinkNotSupportedException or DmabufException)
        {
            throw DevmemSetupException.From(step, InterfaceName, what, e, hint?.Invoke(e));
        }
    }

    private void Step(DevmemSetupStep step, string what, Action action, Func<Exception, string?>? hint = null) =>
        Step<bool>(step, what, () =>
        {
            action();
            return true;
        }, hint);

    private void Journal(string entry) => _journal?.Add(entry);

    private void Unjournal(string entry) => _journal?.Remove(entry);

    // journaled: the change's journal record, removed once the change is undone (and kept when its undo fails).
    private void Done(string change, string undoWhat, Action undo, string? journaled = null)
    {
        lock (_lock)
        {
            _changes.Add(change);
            _undo.Push((undoWhat, undo, journaled));
        }

        LogChange(_logger, InterfaceName, change);
    }

    private List<Exception> UndoAll()
    {
        var failures = new List<Exception>();
        lock (_lock)
        {
            while (_undo.TryPop(out (string What, Action Undo, string? Journaled) u))
            {
                try
                {
                    u.Undo();
                    if (u.Journaled is not null)
                    {
                        Unjournal(u.Journaled);
                    }

                    LogUndo(_logger, InterfaceName, u.What);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
                {
                    var f = DevmemSetupException.From(DevmemSetupStep.Undo, InterfaceName, $"cannot {u.What}", e);
                    failures.Add(f);
                    LogUndoFailed(_logger, InterfaceName, f.Message);
                }
            }

            // The journal goes when it holds no change any more. A change whose undo failed keeps its
            // record, also through later calls (Dispose after a failed Apply), for the next setup on this
            // interface to undo once this process has ended.
            if (_journal is { IsEmpty: true })
            {
                _journal.Delete();
                _journal = null;
            }
        }

        return failures;
    }

    private void Hook()
    {
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        _processExitHooked = true;
        if (_options.UndoOnSignals)
        {
            foreach (PosixSignal s in (ReadOnlySpan<PosixSignal>)[PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT])
            {
                // The handler undoes and leaves ctx.Cancel false, so the runtime's default action (ending
                // the process) follows.
                _signals.Add(PosixSignalRegistration.Create(s, _ => UndoAll()));
            }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => UndoAll();

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "devmem RX is not possible on {Interface}; receiving by copy into {Memory} memory instead: {Reason}")]
    private static partial void LogFallback(ILogger logger, string @interface, string memory, string reason);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "{Interface}: the NIC refused a 5-tuple flow rule ({Error}); trying destination address and port only")]
    private static partial void LogFiveTupleRefused(ILogger logger, string @interface, string error);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "{Interface}: {Change}")]
    private static partial void LogChange(ILogger logger, string @interface, string change);

    [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "{Interface}: undo: {Undo}")]
    private static partial void LogUndo(ILogger logger, string @interface, string undo);

    [LoggerMessage(EventId = 14, Level = LogLevel.Error, Message = "{Interface}: {Error}")]
    private static partial void LogUndoFailed(ILogger logger, string @interface, string error);
}
