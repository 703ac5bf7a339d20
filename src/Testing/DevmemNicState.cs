using System.Globalization;
using System.Text;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Setup;

namespace Devmem.Testing;

/// <summary>
/// Everything devmem RX setup can touch on a NIC, read from the kernel: rings (header split,
/// hds-thresh), channels, the RSS indirection table, the ntuple rules, and which RX queues have a
/// dma-buf bound. <see cref="ToString"/> is a canonical text, so two captures compare as strings, and a
/// difference reads as a diff.
/// </summary>
/// <param name="InterfaceName">The interface.</param>
/// <param name="Rings">rings-get, or null when the driver has none.</param>
/// <param name="Channels">channels-get, or null when the driver has none.</param>
/// <param name="RssIndirection">The RSS indirection table (empty when the driver has none).</param>
/// <param name="FlowRules">The ntuple rules (empty when the driver has none).</param>
/// <param name="BoundQueues">RX queue id → binding id, for each queue with a dma-buf bound.</param>
public sealed record DevmemNicState(
    string InterfaceName,
    EthtoolRings? Rings,
    EthtoolChannels? Channels,
    IReadOnlyList<uint> RssIndirection,
    IReadOnlyList<EthtoolFlowRule> FlowRules,
    IReadOnlyDictionary<uint, uint> BoundQueues)
{
    /// <summary>Reads the state of <paramref name="interfaceName"/>; parts the driver does not have are empty.</summary>
    /// <param name="interfaceName">The interface.</param>
    /// <returns>The state.</returns>
    public static DevmemNicState Capture(string interfaceName)
    {
        using EthtoolClient ethtool = EthtoolClient.Open();
        using NetdevClient netdev = NetdevClient.Open();
        int ifindex = DevmemRxSetup.GetInterfaceIndex(ethtool, interfaceName);
        EthtoolRings? rings = Try(() => ethtool.GetRings(interfaceName));
        EthtoolChannels? channels = Try(() => ethtool.GetChannels(interfaceName));
        IReadOnlyList<uint> rss = Try(() => ethtool.GetRss(interfaceName).Indirection) ?? [];
        IReadOnlyList<EthtoolFlowRule> rules = Try(() => ethtool.GetFlowRules(interfaceName)) ?? [];
        var bound = new SortedDictionary<uint, uint>();
        foreach (NetdevQueueInfo q in netdev.GetQueues(ifindex))
        {
            if (q.Type == NetdevQueueType.Rx && q.DmabufId is uint id)
            {
                bound[q.Id] = id;
            }
        }

        return new DevmemNicState(interfaceName, rings, channels, rss, rules, bound);
    }

    /// <summary>The canonical text: one line per setting.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        var sb = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        sb.Append(c, $"interface {InterfaceName}\n");
        if (Rings is { } r)
        {
            sb.Append(c, $"rings rx={r.Rx} tx={r.Tx} rx-buf-len={r.RxBufLen} tcp-data-split={r.TcpDataSplit?.ToString() ?? "unknown"} hds-thresh={r.HdsThresh}\n");
        }

        if (Channels is { } ch)
        {
            sb.Append(c, $"channels rx={ch.RxCount} tx={ch.TxCount} other={ch.OtherCount} combined={ch.CombinedCount}\n");
        }

        sb.Append("rss ").Append(string.Join(' ', RssIndirection)).Append('\n');
        foreach (EthtoolFlowRule rule in FlowRules.OrderBy(x => x.Location))
        {
            sb.Append(c, $"rule {rule.Location}: {rule.FlowType} {rule.Source}:{rule.SourcePort} -> {rule.Destination}:{rule.DestinationPort} queue {rule.Queue?.ToString(c) ?? "drop"}\n");
        }

        foreach (KeyValuePair<uint, uint> b in BoundQueues)
        {
            sb.Append(c, $"bound rx queue {b.Key} to dma-buf binding {b.Value}\n");
        }

        return sb.ToString();
    }

    private static T? Try<T>(Func<T> read)
        where T : class
    {
        try
        {
            return read();
        }
        catch (EthtoolIoctlException e) when (e.Errno == Interop.Errno.EOPNOTSUPP)
        {
            return null;
        }
        catch (NetlinkException e) when (e.Errno == Interop.Errno.EOPNOTSUPP)
        {
            return null;
        }
    }
}
