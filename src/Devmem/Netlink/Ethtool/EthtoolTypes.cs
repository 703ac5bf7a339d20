using System.Net;
using System.Net.Sockets;

namespace Devmem.Netlink.Ethtool;

/// <summary>TCP header/data split setting (<c>enum tcp_data_split</c>, ETHTOOL_TCP_DATA_SPLIT_*).</summary>
public enum EthtoolTcpDataSplit : byte
{
    /// <summary>Driver default / not reported ("auto").</summary>
    Unknown = 0,

    /// <summary>Off.</summary>
    Disabled = 1,

    /// <summary>On: what devmem RX needs.</summary>
    Enabled = 2,
}

/// <summary>
/// Ring parameters (ethtool rings-get). Null members were not reported by the driver. The record is
/// also the snapshot that <see cref="EthtoolClient.RestoreRings"/> returns a device to.
/// </summary>
/// <param name="RxMax">rx-max.</param>
/// <param name="RxMiniMax">rx-mini-max.</param>
/// <param name="RxJumboMax">rx-jumbo-max.</param>
/// <param name="TxMax">tx-max.</param>
/// <param name="Rx">rx.</param>
/// <param name="RxMini">rx-mini.</param>
/// <param name="RxJumbo">rx-jumbo.</param>
/// <param name="Tx">tx.</param>
/// <param name="RxBufLen">rx-buf-len.</param>
/// <param name="TcpDataSplit">tcp-data-split; null when the kernel omitted it (UNKNOWN).</param>
/// <param name="CqeSize">cqe-size.</param>
/// <param name="TxPush">tx-push.</param>
/// <param name="RxPush">rx-push.</param>
/// <param name="TxPushBufLen">tx-push-buf-len.</param>
/// <param name="TxPushBufLenMax">tx-push-buf-len-max.</param>
/// <param name="HdsThresh">hds-thresh (6.14+), if the driver supports it.</param>
/// <param name="HdsThreshMax">hds-thresh-max (6.14+).</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record EthtoolRings(
    uint? RxMax, uint? RxMiniMax, uint? RxJumboMax, uint? TxMax,
    uint? Rx, uint? RxMini, uint? RxJumbo, uint? Tx,
    uint? RxBufLen, EthtoolTcpDataSplit? TcpDataSplit, uint? CqeSize, byte? TxPush, byte? RxPush,
    uint? TxPushBufLen, uint? TxPushBufLenMax, uint? HdsThresh, uint? HdsThreshMax,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes);

/// <summary>Ring settings for rings-set; null members are not sent (left as they are).</summary>
/// <param name="Rx">rx ring size.</param>
/// <param name="RxMini">rx-mini.</param>
/// <param name="RxJumbo">rx-jumbo.</param>
/// <param name="Tx">tx ring size.</param>
/// <param name="RxBufLen">rx-buf-len.</param>
/// <param name="TcpDataSplit">tcp-data-split (devmem needs Enabled).</param>
/// <param name="CqeSize">cqe-size.</param>
/// <param name="TxPush">tx-push.</param>
/// <param name="RxPush">rx-push.</param>
/// <param name="TxPushBufLen">tx-push-buf-len.</param>
/// <param name="HdsThresh">hds-thresh (6.14+; devmem needs 0).</param>
public sealed record EthtoolRingsSettings(
    uint? Rx = null, uint? RxMini = null, uint? RxJumbo = null, uint? Tx = null, uint? RxBufLen = null,
    EthtoolTcpDataSplit? TcpDataSplit = null, uint? CqeSize = null, byte? TxPush = null, byte? RxPush = null,
    uint? TxPushBufLen = null, uint? HdsThresh = null);

/// <summary>Channel counts (ethtool channels-get); also the snapshot for <see cref="EthtoolClient.RestoreChannels"/>.</summary>
/// <param name="RxMax">rx-max.</param>
/// <param name="TxMax">tx-max.</param>
/// <param name="OtherMax">other-max.</param>
/// <param name="CombinedMax">combined-max.</param>
/// <param name="RxCount">rx-count.</param>
/// <param name="TxCount">tx-count.</param>
/// <param name="OtherCount">other-count.</param>
/// <param name="CombinedCount">combined-count.</param>
/// <param name="UnknownAttributes">Attributes from a newer kernel, kept as received.</param>
public sealed record EthtoolChannels(
    uint? RxMax, uint? TxMax, uint? OtherMax, uint? CombinedMax,
    uint? RxCount, uint? TxCount, uint? OtherCount, uint? CombinedCount,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes);

/// <summary>Channel counts for channels-set; null members are not sent.</summary>
/// <param name="RxCount">rx-count.</param>
/// <param name="TxCount">tx-count.</param>
/// <param name="OtherCount">other-count.</param>
/// <param name="CombinedCount">combined-count.</param>
public sealed record EthtoolChannelsSettings(uint? RxCount = null, uint? TxCount = null, uint? OtherCount = null, uint? CombinedCount = null);

/// <summary>
/// RSS configuration of context 0 (ethtool rss-get): hash function, indirection table, key. The
/// snapshot for <see cref="EthtoolClient.RestoreRssIndirection"/>.
/// </summary>
/// <param name="HashFunction">hfunc bit (ETH_RSS_HASH_*), if reported.</param>
/// <param name="Indirection">The indirection table: entry i is the RX queue for hash bucket i; empty if the driver has none.</param>
/// <param name="HashKey">The hash key; empty if not reported.</param>
/// <param name="InputTransform">input-xfrm, if reported.</param>
/// <param name="UnknownAttributes">Attributes this library does not decode (flow-hash, newer ones), kept as received.</param>
public sealed record EthtoolRss(uint? HashFunction, IReadOnlyList<uint> Indirection, ReadOnlyMemory<byte> HashKey, uint? InputTransform,
    IReadOnlyList<NetlinkRawAttr> UnknownAttributes)
{
    /// <summary>
    /// The kernel's default table for <paramref name="rxQueues"/> queues (ethtool_rxfh_indir_default:
    /// entry i = i mod n), or, with <paramref name="start"/>, an even spread over queues [start, start+count)
    /// — what <c>ethtool -X IF equal N</c> writes.
    /// </summary>
    /// <param name="size">Table size (the device's).</param>
    /// <param name="rxQueues">Number of queues to spread over.</param>
    /// <param name="start">First queue.</param>
    /// <returns>The table.</returns>
    public static uint[] Equal(int size, uint rxQueues, uint start = 0)
    {
        ArgumentOutOfRangeException.ThrowIfZero(rxQueues);
        var t = new uint[size];
        for (int i = 0; i < size; i++)
        {
            t[i] = start + ((uint)i % rxQueues);
        }

        return t;
    }
}

/// <summary>The protocol a flow rule matches (flow_type without FLOW_EXT/FLOW_RSS).</summary>
public enum EthtoolFlowType : uint
{
    /// <summary>TCP_V4_FLOW.</summary>
    Tcp4 = 1,

    /// <summary>UDP_V4_FLOW.</summary>
    Udp4 = 2,

    /// <summary>TCP_V6_FLOW.</summary>
    Tcp6 = 5,

    /// <summary>UDP_V6_FLOW.</summary>
    Udp6 = 6,
}

/// <summary>
/// An ntuple flow steering rule (SIOCETHTOOL ETHTOOL_SRXCLSRLINS): packets of the given 4-tuple
/// (null fields are wildcards) go to RX queue <see cref="Queue"/>, or are dropped when it is null.
/// </summary>
/// <param name="FlowType">Protocol.</param>
/// <param name="Source">Source address to match, or null.</param>
/// <param name="Destination">Destination address to match, or null.</param>
/// <param name="SourcePort">Source port to match, or null.</param>
/// <param name="DestinationPort">Destination port to match, or null.</param>
/// <param name="Queue">The RX queue (ring_cookie); null = drop (RX_CLS_FLOW_DISC).</param>
/// <param name="Location">The rule's slot; null when adding lets the driver choose (RX_CLS_LOC_ANY).</param>
public sealed record EthtoolFlowRule(
    EthtoolFlowType FlowType,
    IPAddress? Source,
    IPAddress? Destination,
    ushort? SourcePort,
    ushort? DestinationPort,
    ulong? Queue,
    uint? Location = null)
{
    internal AddressFamily Family => FlowType is EthtoolFlowType.Tcp6 or EthtoolFlowType.Udp6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
}

/// <summary>
/// Netdev features by their kernel names (net/ethtool/common.c netdev_features_strings, e.g. "rx-ntuple-filter",
/// which ethtool(8) shows as "ntuple-filters"), as ethtool
/// features-get reports them (what <c>ethtool -k</c> shows).
/// </summary>
/// <param name="Hardware">Features the user may change (hw_features).</param>
/// <param name="Wanted">Features the user asked for.</param>
/// <param name="Active">Features on now.</param>
/// <param name="NoChange">Features that can never change.</param>
public sealed record EthtoolFeatures(IReadOnlySet<string> Hardware, IReadOnlySet<string> Wanted, IReadOnlySet<string> Active, IReadOnlySet<string> NoChange)
{
    /// <summary>NETIF_F_NTUPLE's kernel name: ntuple flow steering (<c>ethtool -K IF ntuple on</c>).</summary>
    public const string Ntuple = "rx-ntuple-filter";

    /// <summary>Whether the device has the feature at all: changeable, or on (fixed).</summary>
    /// <param name="name">The feature's kernel name.</param>
    /// <returns>true if supported.</returns>
    public bool Supports(string name) => Hardware.Contains(name) || Active.Contains(name);
}
