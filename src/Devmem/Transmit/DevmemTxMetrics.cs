using System.Diagnostics.Metrics;
using Devmem.Receive;

namespace Devmem.Transmit;

/// <summary>
/// Records one <see cref="DevmemTxSocket"/>'s TX instruments (<see cref="DevmemMetrics"/>) with the tags
/// <c>devmem.mode</c> and the interface, built once per socket when a listener first wants a measurement.
/// </summary>
internal sealed class DevmemTxMetrics(DevmemMetrics metrics, bool zeroCopy, Func<string> interfaceName)
{
    private KeyValuePair<string, object?>[]? _tags;

    public void Sent(long bytes)
    {
        if (metrics.TxSends.Enabled)
        {
            metrics.TxSends.Add(1, Tags);
        }

        Counter<long> bytesCounter = zeroCopy ? metrics.TxBytes : metrics.TxCopiedBytes;
        if (bytesCounter.Enabled)
        {
            bytesCounter.Add(bytes, Tags);
        }
    }

    public void Completed()
    {
        if (metrics.TxCompletions.Enabled)
        {
            metrics.TxCompletions.Add(1, Tags);
        }
    }

    private ReadOnlySpan<KeyValuePair<string, object?>> Tags => _tags ??= SocketMetrics.Tags(zeroCopy, interfaceName());
}
