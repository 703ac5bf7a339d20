using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Zcrx;
using Microsoft.Extensions.Logging;

namespace Devmem.Setup;

/// <summary>
/// The steps of <see cref="DevmemRxSetup"/> that change the NIC, in the order the setup calls them:
/// header split, RSS, the flow rule, bind-rx. Each changes only what is not already so, records the
/// change in the journal before making it (the flow rule right after: its location is known only
/// then), and pushes its exact undo on <see cref="DevmemSetupUndo"/>. A step the kernel refuses
/// leaves nothing to undo and throws <see cref="DevmemSetupException"/>.
/// </summary>
internal sealed partial class DevmemRxSteps
{
    private readonly EthtoolClient _ethtool;
    private readonly DevmemSetupUndo _undo;
    private readonly string _ifname;
    private readonly string? _driver;
    private readonly ILogger _logger;

    internal DevmemRxSteps(EthtoolClient ethtool, DevmemSetupUndo undo, string ifname, string? driver, ILogger logger)
    {
        _ethtool = ethtool;
        _undo = undo;
        _ifname = ifname;
        _driver = driver;
        _logger = logger;
    }

    /// <summary>The binding bind-rx made, until its undo (or the setup's dispose) closes it.</summary>
    internal DmabufBinding? Binding { get; private set; }

    /// <summary>
    /// Runs one kernel call of <paramref name="step"/> and turns the library's kernel and permission errors
    /// into a <see cref="DevmemSetupException"/> naming the step, the interface and what could not be done.
    /// </summary>
    internal static T Run<T>(DevmemSetupStep step, string ifname, string what, Func<T> action, Func<Exception, string?>? hint = null)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is NetlinkException or EthtoolIoctlException or UnauthorizedAccessException or NetlinkNotSupportedException or DmabufException)
        {
            throw DevmemSetupException.From(step, ifname, what, e, hint?.Invoke(e));
        }
    }

    /// <summary>tcp-data-split on and hds-thresh 0 (where reported), each only if not already so.</summary>
    internal void HeaderSplit()
    {
        EthtoolRings rings = Run(DevmemSetupStep.Snapshot, _ifname, "cannot read the ring parameters", () => _ethtool.GetRings(_ifname));
        bool splitOn = rings.TcpDataSplit == EthtoolTcpDataSplit.Enabled;
        bool thresholdZero = rings.HdsThresh is null or 0;
        if (splitOn && thresholdZero)
        {
            return;
        }

        EthtoolTcpDataSplit oldSplit = rings.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown;
        uint? oldThreshold = rings.HdsThresh;
        string journaled = $"split {(splitOn ? "-" : ((byte)oldSplit).ToString(CultureInfo.InvariantCulture))} {(thresholdZero ? "-" : oldThreshold!.Value.ToString(CultureInfo.InvariantCulture))}";
        Change(journaled, () => Run(DevmemSetupStep.HeaderSplit, _ifname, "cannot turn on TCP header/data split", () => Set(splitOn ? null : EthtoolTcpDataSplit.Enabled, thresholdZero ? null : 0),
            e => e is NetlinkException { Errno: Interop.Errno.EOPNOTSUPP } or EthtoolIoctlException { Errno: Interop.Errno.EOPNOTSUPP }
                ? $"driver {_driver} cannot split TCP headers from payload: devmem RX is not possible on this NIC"
                : null),
            e => e.Errno == Interop.Errno.EOPNOTSUPP ? DevmemFallbackKind.NoHeaderSplit : null);

        // Undo exactly these two fields: tcp-data-split back to what was reported (Unknown, the driver's
        // default, when it was not), hds-thresh back to its old value.
        _undo.Done($"tcp-data-split {Name(rings.TcpDataSplit)} -> on{(thresholdZero ? "" : $", hds-thresh {oldThreshold} -> 0")}",
            $"tcp-data-split back to {Name(rings.TcpDataSplit)}{(thresholdZero ? "" : $", hds-thresh back to {oldThreshold}")}",
            () => Set(splitOn ? null : oldSplit, thresholdZero ? null : oldThreshold), journaled);

        bool Set(EthtoolTcpDataSplit? split, uint? threshold)
        {
            _ethtool.SetRings(_ifname, new EthtoolRingsSettings(TcpDataSplit: split, HdsThresh: threshold));
            return true;
        }

        static string Name(EthtoolTcpDataSplit? s) => s switch
        {
            EthtoolTcpDataSplit.Enabled => "on",
            EthtoolTcpDataSplit.Disabled => "off",
            _ => "auto",
        };
    }

    /// <summary>The RSS indirection table spread over queues 0..<paramref name="start"/>-1, only if it pointed at a devmem queue.</summary>
    internal void Rss(uint start)
    {
        EthtoolRss rss;
        try
        {
            rss = Run(DevmemSetupStep.Snapshot, _ifname, "cannot read the RSS indirection table", () => _ethtool.GetRss(_ifname),
                e => e is EthtoolIoctlException or NetlinkException ? "the driver must report an RSS table so that ordinary traffic can be kept off the devmem queues; or set the NIC up yourself and skip configuration (-n)" : null);
        }
        catch (DevmemSetupException e) when (e.Errno == Interop.Errno.EOPNOTSUPP)
        {
            e.FallbackKind = DevmemFallbackKind.NoRssTable;
            throw;
        }

        if (rss.Indirection.Count == 0)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Rss, _ifname, "the driver has no RSS indirection table, so ordinary traffic cannot be kept off the devmem queues",
                "set the NIC up yourself and skip configuration (-n)", DevmemFallbackKind.NoRssTable);
        }

        if (rss.Indirection.All(q => q < start))
        {
            return;
        }

        // ethtool -X IF equal START: hash buckets spread over queues 0..START-1.
        uint[] table = EthtoolRss.Equal(rss.Indirection.Count, start);
        string journaled = $"rss {string.Join(',', rss.Indirection)}";
        Change(journaled, () => Run(DevmemSetupStep.Rss, _ifname, $"cannot spread RSS over queues 0..{start - 1}", () =>
        {
            _ethtool.SetRssIndirection(_ifname, table);
            return true;
        }));

        _undo.Done($"RSS indirection spread over queues 0..{start - 1} (was over {string.Join(',', rss.Indirection.Distinct().Order())})",
            "RSS indirection table back as it was", () => _ethtool.RestoreRssIndirection(_ifname, rss), journaled);
    }

    /// <summary>
    /// One ntuple rule steering the flow to <paramref name="queue"/>: the 5-tuple when the client is
    /// known, else (or when the NIC refuses it, as ncdevmem retries) destination address and port.
    /// </summary>
    /// <returns>The rule's location, and whether it matches the 5-tuple.</returns>
    internal (uint Location, bool FiveTuple) FlowRule(DevmemFlowSteering s, uint queue)
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
            location = _ethtool.AddFlowRule(_ifname, full);
        }
        catch (Exception e) when (five && e is EthtoolIoctlException)
        {
            // ncdevmem retries without the source fields: some NICs match only 3-tuples.
            LogFiveTupleRefused(_logger, _ifname, e.Message);
            five = false;
            location = Run(DevmemSetupStep.FlowRule, _ifname, $"cannot add a flow rule steering {server} port {s.Port} to queue {queue}",
                () => _ethtool.AddFlowRule(_ifname, destinationOnly), FlowRuleHint);
        }
        catch (Exception e) when (e is EthtoolIoctlException)
        {
            throw DevmemSetupException.From(DevmemSetupStep.FlowRule, _ifname, $"cannot add a flow rule steering {server} port {s.Port} to queue {queue}", e, FlowRuleHint(e));
        }

        // Recorded right after the rule is added: its location is known only then.
        string journaled = $"rule {location.ToString(CultureInfo.InvariantCulture)}";
        _undo.Journal(journaled);
        EthtoolFlowRule added = five ? full : destinationOnly;
        string from = !five ? "" : added.SourcePort is null ? $"from {added.Source} " : $"from {added.Source} port {added.SourcePort} ";
        _undo.Done($"flow rule {location}: {added.FlowType} {from}to {server} port {s.Port} -> queue {queue}",
            $"delete flow rule {location}", () => _ethtool.DeleteFlowRule(_ifname, location), journaled);
        return (location, five);
    }

    /// <summary>netdev bind-rx of <paramref name="memory"/> to <paramref name="queues"/>; the binding owns its netlink socket, and disposing it unbinds.</summary>
    internal DmabufBinding BindRx(NetdevClient netdev, int ifindex, DeviceMemory memory, IReadOnlyList<uint> queues, uint? rxPageSize)
    {
        string plural = queues.Count == 1 ? "" : "s";
        DmabufBinding binding;
        try
        {
            binding = Run(DevmemSetupStep.BindRx, _ifname, $"cannot bind the dma-buf to RX queue{plural} {string.Join(',', queues)}",
                () => netdev.BindRx(ifindex, memory.DmabufHandle, queues, rxPageSize));
        }
        catch (DevmemSetupException e) when (e.Errno is Interop.Errno.EOPNOTSUPP or Interop.Errno.ENODATA && rxPageSize is null)
        {
            // The NIC itself cannot: no queue API or DMA device (EOPNOTSUPP), a page pool that cannot take
            // unreadable memory (ENODATA) (net/core/devmem.c, net/core/netdev_rx_queue.c).
            e.FallbackKind = DevmemFallbackKind.BindRxUnsupported;
            throw;
        }

        Binding = binding;
        _undo.Done($"bound the dma-buf ({memory.Kind}, {memory.Size} bytes) to RX queue{plural} {string.Join(',', queues)} as binding {binding.Id}",
            $"unbind binding {binding.Id}", () =>
            {
                binding.Dispose();
                Binding = null;
            });
        return binding;
    }

    /// <summary>The zcrx instance of <see cref="OpenZcrx"/>, until undone.</summary>
    internal ZcrxInstance? Zcrx { get; private set; }

    /// <summary>Registers an io_uring zcrx instance on <paramref name="queue"/> with <paramref name="memory"/> as its area; undo disposes it.</summary>
    internal ZcrxInstance OpenZcrx(int ifindex, DeviceMemory memory, uint queue, uint? rxBufferLength, ZcrxDriver driver, Receive.DevmemMetrics metrics)
    {
        ZcrxInstance zcrx;
        try
        {
            zcrx = ZcrxInstance.Open(memory, new ZcrxOptions(ifindex, queue) { RxBufferLength = rxBufferLength, Driver = driver, Logger = _logger, InterfaceName = _ifname }, metrics);
        }
        catch (ZcrxException e)
        {
            var d = DevmemSetupException.From(DevmemSetupStep.BindRx, _ifname, $"cannot register an io_uring zcrx instance on RX queue {queue}", e);
            if (e.Unsupported is not null)
            {
                d.FallbackKind = DevmemFallbackKind.ZcrxUnsupported;
            }

            throw d;
        }

        Zcrx = zcrx;
        _undo.Done($"registered io_uring zcrx instance {zcrx.Id} ({memory.Kind}, {memory.Size} bytes) on RX queue {queue}",
            $"unregister zcrx instance {zcrx.Id}", () =>
            {
                zcrx.Dispose();
                Zcrx = null;
            });
        return zcrx;
    }

    // Journals a change, then makes it; when the kernel refuses it there is nothing to undo, so the record
    // goes again (and the refusal may name a fallback kind).
    private void Change(string journaled, Func<bool> make, Func<DevmemSetupException, DevmemFallbackKind?>? fallback = null)
    {
        _undo.Journal(journaled);
        try
        {
            make();
        }
        catch (DevmemSetupException e)
        {
            _undo.Unjournal(journaled);
            if (fallback?.Invoke(e) is { } kind)
            {
                e.FallbackKind = kind;
            }

            throw;
        }
    }

    private string? FlowRuleHint(Exception e) => e is EthtoolIoctlException { Errno: Interop.Errno.EOPNOTSUPP or Interop.Errno.EINVAL }
        ? $"the driver takes no such ntuple rule; check that ntuple filters are on (ethtool -K {_ifname} ntuple on) and the rule table has room"
        : null;

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "{Interface}: the NIC refused a 5-tuple flow rule ({Error}); trying destination address and port only")]
    private static partial void LogFiveTupleRefused(ILogger logger, string @interface, string error);
}
