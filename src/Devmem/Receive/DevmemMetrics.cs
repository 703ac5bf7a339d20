using System.Diagnostics.Metrics;

namespace Devmem.Receive;

/// <summary>
/// The library's <see cref="Meter"/> ("Devmem") and its instruments. Collect them with
/// <c>dotnet-counters monitor --counters Devmem</c> or any <see cref="MeterListener"/>.
/// </summary>
public static class DevmemMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Devmem";

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> DmabufBytes =
        Meter.CreateCounter<long>("devmem.rx.dmabuf_bytes", "By", "Payload bytes received into the dma-buf.");

    internal static readonly Counter<long> LinearBytes =
        Meter.CreateCounter<long>("devmem.rx.linear_bytes", "By", "Payload bytes the kernel copied to host memory (SCM_DEVMEM_LINEAR).");

    internal static readonly Counter<long> Fragments =
        Meter.CreateCounter<long>("devmem.rx.fragments", "{fragment}", "Fragments (SCM_DEVMEM_DMABUF) received.");

    internal static readonly Counter<long> ReleaseCalls =
        Meter.CreateCounter<long>("devmem.rx.release_calls", "{call}", "setsockopt(SO_DEVMEM_DONTNEED) calls made.");

    internal static readonly Counter<long> UnsteeredBytes =
        Meter.CreateCounter<long>("devmem.rx.unsteered_bytes", "By", "Bytes a devmem socket received without devmem control messages (the flow is not steered to a bound queue).");

    internal static readonly UpDownCounter<long> TokensOutstanding =
        Meter.CreateUpDownCounter<long>("devmem.rx.tokens_outstanding", "{token}", "Tokens received and not yet given back to the kernel.");
}
