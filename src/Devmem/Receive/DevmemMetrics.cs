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

    /// <summary>Counter ({call}): <c>sendmsg(MSG_ZEROCOPY)</c> calls from the dma-buf.</summary>
    public const string TxSendsName = "devmem.tx.sends";

    /// <summary>Counter ({notification}): zerocopy completion notifications read from the error queue.</summary>
    public const string TxCompletionsName = "devmem.tx.completions";

    private static readonly Meter s_staticMeter = new(MeterName);

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
        TxSends = meter.CreateCounter<long>(TxSendsName, "{call}", "sendmsg(MSG_ZEROCOPY) calls from the dma-buf.");
        TxCompletions = meter.CreateCounter<long>(TxCompletionsName, "{notification}", "Zerocopy completion notifications read from the error queue.");
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

    internal Counter<long> TxSends { get; }

    internal Counter<long> TxCompletions { get; }
}
