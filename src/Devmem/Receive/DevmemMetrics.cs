using System.Diagnostics.Metrics;

namespace Devmem.Receive;

/// <summary>
/// The library's instruments on a <see cref="System.Diagnostics.Metrics.Meter"/> named "Devmem". With an
/// <see cref="IMeterFactory"/> (<see cref="Setup.DevmemRxSetupOptions.MeterFactory"/>, e.g. the one
/// <c>services.AddMetrics()</c> registers) the meter comes from <c>meterFactory.Create(new MeterOptions("Devmem"))</c>;
/// without one, from a static meter of the same name. Collect them with
/// <c>dotnet-counters monitor --counters Devmem</c>, OpenTelemetry, or any <see cref="MeterListener"/>.
/// </summary>
/// <remarks>
/// Every measurement carries the tags <see cref="ModeTag"/> (<c>zero_copy</c> or <c>copy</c>) and
/// <see cref="InterfaceTag"/>. Receive instruments are recorded once per receive or release call, never
/// per fragment. The instrument table is in docs/design.md ("Metrics").
/// </remarks>
public sealed class DevmemMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Devmem";

    /// <summary>Tag: how the socket receives, <see cref="ZeroCopyMode"/> or <see cref="CopyMode"/>.</summary>
    public const string ModeTag = "devmem.mode";

    /// <summary>Tag: the network interface (OpenTelemetry's <c>network.interface.name</c>).</summary>
    public const string InterfaceTag = "network.interface.name";

    /// <summary>Value of <see cref="ModeTag"/> for zero copy (devmem TCP).</summary>
    public const string ZeroCopyMode = "zero_copy";

    /// <summary>Value of <see cref="ModeTag"/> for the copy fallback.</summary>
    public const string CopyMode = "copy";

    /// <summary>Counter (By): payload bytes the NIC wrote into the dma-buf (zero copy only).</summary>
    public const string RxDmabufBytesName = "devmem.rx.dmabuf_bytes";

    /// <summary>Counter (By): payload bytes the copy fallback copied into the memory's slots.</summary>
    public const string RxCopiedBytesName = "devmem.rx.copied_bytes";

    /// <summary>Counter (By): bytes the kernel kept in host memory (<c>SCM_DEVMEM_LINEAR</c>).</summary>
    public const string RxLinearBytesName = "devmem.rx.linear_bytes";

    /// <summary>Counter (By): bytes a zero-copy socket received without devmem control messages (flow not steered).</summary>
    public const string RxUnsteeredBytesName = "devmem.rx.unsteered_bytes";

    /// <summary>Counter ({fragment}): fragments handed to the application (dma-buf fragments, or copy slots).</summary>
    public const string RxFragmentsName = "devmem.rx.fragments";

    /// <summary>Counter ({call}): <c>setsockopt(SO_DEVMEM_DONTNEED)</c> calls (zero copy only).</summary>
    public const string RxReleaseCallsName = "devmem.rx.release_calls";

    /// <summary>UpDownCounter ({token}): tokens received and not yet given back (zero copy: to the kernel; copy: slots held).</summary>
    public const string RxTokensOutstandingName = "devmem.rx.tokens_outstanding";

    /// <summary>Counter (By): payload bytes sent from the dma-buf.</summary>
    public const string TxBytesName = "devmem.tx.bytes";

    /// <summary>Counter (By): payload bytes the TX copy fallback sent over plain TCP (copied out of the memory by the CPU).</summary>
    public const string TxCopiedBytesName = "devmem.tx.copied_bytes";

    /// <summary>Counter ({call}): send calls: <c>sendmsg(MSG_ZEROCOPY)</c> from the dma-buf, or plain sends in the copy fallback (tag <c>devmem.mode</c>).</summary>
    public const string TxSendsName = "devmem.tx.sends";

    /// <summary>Counter ({notification}): zerocopy completion notifications read from the error queue.</summary>
    public const string TxCompletionsName = "devmem.tx.completions";

    /// <summary>ObservableCounter ({buffer}): buffers a zcrx instance's sockets gave back through its refill ring (tags <see cref="ZcrxIdTag"/>, <see cref="InterfaceTag"/>).</summary>
    public const string ZcrxBuffersReturnedName = "devmem.zcrx.buffers_returned";

    /// <summary>ObservableCounter (By): bytes the kernel copied into a zcrx instance's area instead of receiving them by zero copy (<c>struct zcrx_stats</c>, 7.3).</summary>
    public const string ZcrxKernelCopiedBytesName = "devmem.zcrx.kernel_copied_bytes";

    /// <summary>ObservableCounter ({call}): ZCRX_CTRL_FLUSH_RQ calls (an instance without a NIC needs them; with a NIC, none).</summary>
    public const string ZcrxRefillFlushesName = "devmem.zcrx.refill_flushes";

    /// <summary>Counter ({event}): zcrx notifications (tag <see cref="ZcrxEventTag"/>: <c>alloc_fail</c>, the NIC found no free buffer; <c>copy</c>, the kernel copied).</summary>
    public const string ZcrxEventsName = "devmem.zcrx.events";

    /// <summary>Tag: the zcrx instance's id.</summary>
    public const string ZcrxIdTag = "devmem.zcrx.id";

    /// <summary>Tag: the zcrx event type.</summary>
    public const string ZcrxEventTag = "devmem.zcrx.event";

    private static readonly Meter s_staticMeter = new(MeterName);

    private readonly Lock _zcrxLock = new();
    private readonly List<Zcrx.ZcrxInstance> _zcrx = [];

    /// <summary>The instruments on the static meter, for code without an <see cref="IMeterFactory"/>.</summary>
    internal static DevmemMetrics Default { get; } = new(s_staticMeter);

    private DevmemMetrics(Meter meter)
    {
        Meter = meter;
        RxDmabufBytes = meter.CreateCounter<long>(RxDmabufBytesName, "By", "Payload bytes the NIC wrote into the dma-buf (zero copy).");
        RxCopiedBytes = meter.CreateCounter<long>(RxCopiedBytesName, "By", "Payload bytes the copy fallback copied into the memory's slots.");
        RxLinearBytes = meter.CreateCounter<long>(RxLinearBytesName, "By", "Payload bytes the kernel copied to host memory (SCM_DEVMEM_LINEAR).");
        RxUnsteeredBytes = meter.CreateCounter<long>(RxUnsteeredBytesName, "By", "Bytes a devmem socket received without devmem control messages (the flow is not steered to a bound queue).");
        RxFragments = meter.CreateCounter<long>(RxFragmentsName, "{fragment}", "Fragments handed to the application (SCM_DEVMEM_DMABUF, or copy slots).");
        RxReleaseCalls = meter.CreateCounter<long>(RxReleaseCallsName, "{call}", "setsockopt(SO_DEVMEM_DONTNEED) calls made.");
        RxTokensOutstanding = meter.CreateUpDownCounter<long>(RxTokensOutstandingName, "{token}", "Tokens received and not yet given back (zero copy: to the kernel; copy fallback: slots held).");
        TxBytes = meter.CreateCounter<long>(TxBytesName, "By", "Payload bytes sent from the dma-buf (sendmsg with SCM_DEVMEM_DMABUF).");
        TxCopiedBytes = meter.CreateCounter<long>(TxCopiedBytesName, "By", "Payload bytes the TX copy fallback sent over plain TCP (copied out of the memory by the CPU).");
        TxSends = meter.CreateCounter<long>(TxSendsName, "{call}", "Send calls: sendmsg(MSG_ZEROCOPY) from the dma-buf, or plain sends in the copy fallback.");
        TxCompletions = meter.CreateCounter<long>(TxCompletionsName, "{notification}", "Zerocopy completion notifications read from the error queue.");
        ZcrxEvents = meter.CreateCounter<long>(ZcrxEventsName, "{event}", "zcrx notifications: alloc_fail (the NIC found no free buffer), copy (the kernel copied instead of zero copy).");
        meter.CreateObservableCounter(ZcrxBuffersReturnedName, () => ObserveZcrx(z => z.BuffersReturned), "{buffer}", "Buffers given back through zcrx refill rings.");
        meter.CreateObservableCounter(ZcrxKernelCopiedBytesName, () => ObserveZcrx(z => z.CopyStats?.CopyBytes), "By", "Bytes the kernel copied into zcrx areas instead of receiving by zero copy.");
        meter.CreateObservableCounter(ZcrxRefillFlushesName, () => ObserveZcrx(z => z.RefillFlushes), "{call}", "ZCRX_CTRL_FLUSH_RQ calls.");
    }

    /// <summary>Starts observing <paramref name="zcrx"/> (until <see cref="Untrack"/>).</summary>
    internal void Track(Zcrx.ZcrxInstance zcrx)
    {
        lock (_zcrxLock)
        {
            _zcrx.Add(zcrx);
        }
    }

    internal void Untrack(Zcrx.ZcrxInstance zcrx)
    {
        lock (_zcrxLock)
        {
            _zcrx.Remove(zcrx);
        }
    }

    private List<Measurement<long>> ObserveZcrx(Func<Zcrx.ZcrxInstance, long?> read)
    {
        var list = new List<Measurement<long>>();
        lock (_zcrxLock)
        {
            foreach (Zcrx.ZcrxInstance z in _zcrx)
            {
                if (read(z) is long v)
                {
                    list.Add(new Measurement<long>(v, new KeyValuePair<string, object?>(ZcrxIdTag, z.Id), new KeyValuePair<string, object?>(InterfaceTag, z.InterfaceName)));
                }
            }
        }

        return list;
    }

    /// <summary>The instruments on <paramref name="meterFactory"/>'s "Devmem" meter, or <see cref="Default"/> when null.</summary>
    internal static DevmemMetrics For(IMeterFactory? meterFactory) =>
        meterFactory is null ? Default : new DevmemMetrics(meterFactory.Create(new MeterOptions(MeterName)));

    /// <summary>The meter the instruments are on.</summary>
    internal Meter Meter { get; }

    internal Counter<long> RxDmabufBytes { get; }

    internal Counter<long> RxCopiedBytes { get; }

    internal Counter<long> RxLinearBytes { get; }

    internal Counter<long> RxUnsteeredBytes { get; }

    internal Counter<long> RxFragments { get; }

    internal Counter<long> RxReleaseCalls { get; }

    internal UpDownCounter<long> RxTokensOutstanding { get; }

    internal Counter<long> TxBytes { get; }

    internal Counter<long> TxCopiedBytes { get; }

    internal Counter<long> TxSends { get; }

    internal Counter<long> TxCompletions { get; }

    internal Counter<long> ZcrxEvents { get; }
}
