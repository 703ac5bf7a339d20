using System.Runtime.CompilerServices;
using Devmem.Netlink.Netdev;
using Devmem.Receive;

namespace Devmem.Transmit;

/// <summary>
/// Records the devmem TX instruments (<see cref="DevmemMetrics"/>, static meter) with the tags
/// <c>devmem.mode=zero_copy</c> and the binding's interface, looked up once per binding when a listener
/// first wants a measurement.
/// </summary>
internal static class DevmemTxMetrics
{
    private static readonly ConditionalWeakTable<DmabufBinding, KeyValuePair<string, object?>[]> s_tags = new();

    public static void Sent(DmabufBinding binding, long bytes)
    {
        DevmemMetrics m = DevmemMetrics.Default;
        if (m.TxSends.Enabled)
        {
            m.TxSends.Add(1, Tags(binding));
        }

        if (m.TxBytes.Enabled)
        {
            m.TxBytes.Add(bytes, Tags(binding));
        }
    }

    public static void Completed(DmabufBinding binding)
    {
        DevmemMetrics m = DevmemMetrics.Default;
        if (m.TxCompletions.Enabled)
        {
            m.TxCompletions.Add(1, Tags(binding));
        }
    }

    private static ReadOnlySpan<KeyValuePair<string, object?>> Tags(DmabufBinding binding) =>
        s_tags.GetValue(binding, static b => SocketMetrics.Tags(zeroCopy: true, SocketMetrics.InterfaceName(b.Ifindex) ?? $"ifindex {b.Ifindex}"));
}
