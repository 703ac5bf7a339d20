using System.Diagnostics.Metrics;
using Devmem.Receive;

namespace Devmem.Transmit;

/// <summary>The devmem TX instruments, on the library's meter (<see cref="DevmemMetrics.MeterName"/>).</summary>
internal static class DevmemTxMetrics
{
    internal static readonly Counter<long> Bytes =
        DevmemMetrics.Meter.CreateCounter<long>("devmem.tx.bytes", "By", "Payload bytes sent from the dma-buf (sendmsg with SCM_DEVMEM_DMABUF).");

    internal static readonly Counter<long> Sends =
        DevmemMetrics.Meter.CreateCounter<long>("devmem.tx.sends", "{call}", "sendmsg(MSG_ZEROCOPY) calls from the dma-buf.");

    internal static readonly Counter<long> Completions =
        DevmemMetrics.Meter.CreateCounter<long>("devmem.tx.completions", "{notification}", "Zerocopy completion notifications read from the error queue.");
}
