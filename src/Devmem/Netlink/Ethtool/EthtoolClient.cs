using System.Runtime.InteropServices;
using Devmem.Interop;
using static Devmem.Interop.EthtoolNetlink;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// What devmem setup needs from ethtool: ring parameters (tcp-data-split, hds-thresh), channel counts,
/// the RSS indirection table, and ntuple flow rules — each readable as a snapshot that the matching
/// Restore method puts back. Rings, channels and RSS reads go over the ethtool generic netlink family;
/// RSS writes use netlink RSS_SET where the kernel has it (6.17+) and the SIOCETHTOOL ioctl otherwise;
/// flow rules use SIOCETHTOOL (ethtool has no netlink op for them).
/// </summary>
/// <remarks>
/// <para>Netlink refusals throw <see cref="NetlinkException"/> with the kernel's message (e.g. "setting TCP
/// data split is not supported"); ioctl refusals throw <see cref="EthtoolIoctlException"/>. Setting
/// needs CAP_NET_ADMIN. Sockets live in the network namespace of the thread that called <see cref="Open"/>.</para>
/// <para>This class sends the netlink requests and is the one public entry; the replies' decoding
/// (<c>EthtoolParse</c>), the SIOCETHTOOL transport (<c>EthtoolIoctl</c>) and the flow-rule encoding
/// (<c>EthtoolFlowRuleCodec</c>) are internal, each in its file.</para>
/// </remarks>
public sealed class EthtoolClient : IDisposable
{
    private readonly GenericNetlinkSocket _socket;
    private readonly EthtoolIoctl _ioctl;

    private EthtoolClient(GenericNetlinkSocket socket, GenericNetlinkFamily family, EthtoolIoctl ioctl)
    {
        _socket = socket;
        Family = family;
        _ioctl = ioctl;
    }

    /// <summary>The ethtool family as the running kernel describes it.</summary>
    public GenericNetlinkFamily Family { get; }

    private static NetlinkFamilySpec Spec => EthtoolSpec.Family;

    /// <summary>Whether RSS can be set over netlink (ETHTOOL_MSG_RSS_SET, 6.17+); else the ioctl is used.</summary>
    public bool HasNetlinkRssSet => Family.Supports(ETHTOOL_MSG_RSS_SET, dump: false);

    /// <summary>Opens the netlink socket (resolving "ethtool") and an AF_INET datagram socket for SIOCETHTOOL.</summary>
    /// <returns>The client.</returns>
    public static EthtoolClient Open()
    {
        GenericNetlinkSocket socket = GenericNetlinkSocket.Open();
        EthtoolIoctl? ioctl = null;
        try
        {
            ioctl = EthtoolIoctl.Open();
            return new EthtoolClient(socket, socket.GetFamily(ETHTOOL_GENL_NAME), ioctl);
        }
        catch
        {
            ioctl?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Closes both sockets.</summary>
    public void Dispose()
    {
        _socket.Dispose();
        _ioctl.Dispose();
    }

    // ---- features ----------------------------------------------------------------------------

    /// <summary>
    /// features-get: the device's netdev features by name. Asked for without
    /// ETHTOOL_FLAG_COMPACT_BITSETS, so the kernel names every bit (net/ethtool/bitset.c).
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The feature sets.</returns>
    public EthtoolFeatures GetFeatures(string ifname) => GetOne("features-get", ifname, EthtoolParse.Features);

    // ---- rings -------------------------------------------------------------------------------

    /// <summary>rings-get.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The ring parameters (also a snapshot for <see cref="RestoreRings"/>).</returns>
    public EthtoolRings GetRings(string ifname) => GetOne("rings-get", ifname, EthtoolParse.Rings);

    /// <summary>rings-set: sends only the non-null settings.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="settings">What to change.</param>
    public void SetRings(string ifname, EthtoolRingsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Set("rings-set", ifname, (ref NetlinkWriter w) =>
        {
            Put(ref w, ETHTOOL_A_RINGS_RX, settings.Rx);
            Put(ref w, ETHTOOL_A_RINGS_RX_MINI, settings.RxMini);
            Put(ref w, ETHTOOL_A_RINGS_RX_JUMBO, settings.RxJumbo);
            Put(ref w, ETHTOOL_A_RINGS_TX, settings.Tx);
            Put(ref w, ETHTOOL_A_RINGS_RX_BUF_LEN, settings.RxBufLen);
            Put(ref w, ETHTOOL_A_RINGS_TCP_DATA_SPLIT, (byte?)settings.TcpDataSplit);
            Put(ref w, ETHTOOL_A_RINGS_CQE_SIZE, settings.CqeSize);
            Put(ref w, ETHTOOL_A_RINGS_TX_PUSH, settings.TxPush);
            Put(ref w, ETHTOOL_A_RINGS_RX_PUSH, settings.RxPush);
            Put(ref w, ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN, settings.TxPushBufLen);
            Put(ref w, ETHTOOL_A_RINGS_HDS_THRESH, settings.HdsThresh);
        });
    }

    /// <summary>
    /// Puts the ring settings back as <paramref name="snapshot"/> had them, sending only what differs
    /// now (a driver refuses even an unchanged value for a setting it cannot change). A tcp-data-split
    /// that the snapshot did not report is restored as Unknown (the driver's default), as ncdevmem does.
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="snapshot">What <see cref="GetRings"/> returned earlier.</param>
    public void RestoreRings(string ifname, EthtoolRings snapshot) => Restore(ifname, snapshot, GetRings, SetRings, new EthtoolRingsSettings(), (now, then) =>
        new EthtoolRingsSettings(
            Diff(now.Rx, then.Rx), Diff(now.RxMini, then.RxMini), Diff(now.RxJumbo, then.RxJumbo), Diff(now.Tx, then.Tx),
            Diff(now.RxBufLen, then.RxBufLen),
            (now.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown) != (then.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown) ? then.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown : null,
            Diff(now.CqeSize, then.CqeSize), Diff(now.TxPush, then.TxPush), Diff(now.RxPush, then.RxPush),
            Diff(now.TxPushBufLen, then.TxPushBufLen), Diff(now.HdsThresh, then.HdsThresh)));

    // ---- channels ----------------------------------------------------------------------------

    /// <summary>channels-get.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The channel counts (also a snapshot for <see cref="RestoreChannels"/>).</returns>
    public EthtoolChannels GetChannels(string ifname) => GetOne("channels-get", ifname, EthtoolParse.Channels);

    /// <summary>channels-set: sends only the non-null counts.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="settings">The counts.</param>
    public void SetChannels(string ifname, EthtoolChannelsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Set("channels-set", ifname, (ref NetlinkWriter w) =>
        {
            Put(ref w, ETHTOOL_A_CHANNELS_RX_COUNT, settings.RxCount);
            Put(ref w, ETHTOOL_A_CHANNELS_TX_COUNT, settings.TxCount);
            Put(ref w, ETHTOOL_A_CHANNELS_OTHER_COUNT, settings.OtherCount);
            Put(ref w, ETHTOOL_A_CHANNELS_COMBINED_COUNT, settings.CombinedCount);
        });
    }

    /// <summary>Puts the channel counts back as <paramref name="snapshot"/> had them (only what differs is sent).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="snapshot">What <see cref="GetChannels"/> returned earlier.</param>
    public void RestoreChannels(string ifname, EthtoolChannels snapshot) => Restore(ifname, snapshot, GetChannels, SetChannels, new EthtoolChannelsSettings(), (now, then) =>
        new EthtoolChannelsSettings(Diff(now.RxCount, then.RxCount), Diff(now.TxCount, then.TxCount),
            Diff(now.OtherCount, then.OtherCount), Diff(now.CombinedCount, then.CombinedCount)));

    // ---- RSS -----------------------------------------------------------------------------------

    /// <summary>rss-get for context 0.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The RSS configuration (also a snapshot for <see cref="RestoreRssIndirection"/>).</returns>
    public EthtoolRss GetRss(string ifname) => GetOne("rss-get", ifname, EthtoolParse.Rss);

    /// <summary>
    /// Sets the RSS indirection table of context 0: netlink RSS_SET (6.17+) or SIOCETHTOOL
    /// ETHTOOL_SRXFHINDIR. An empty table resets it to the kernel's default.
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="table">The table (the device's size exactly; netlink also accepts a divisor of it, repeated), or empty for the default.</param>
    public void SetRssIndirection(string ifname, ReadOnlySpan<uint> table)
    {
        if (HasNetlinkRssSet)
        {
            NetlinkRequest request = Begin("rss-set", ifname);
            ref NetlinkWriter w = ref request.Writer;
            w.WriteBinary(ETHTOOL_A_RSS_INDIR, MemoryMarshal.AsBytes(table));
            request.Send().Drain();
            return;
        }

        SetRssIndirectionIoctl(ifname, table);
    }

    /// <summary>Resets the RSS indirection table to the kernel's default spread.</summary>
    /// <param name="ifname">Interface name.</param>
    public void ResetRssIndirection(string ifname) => SetRssIndirection(ifname, []);

    /// <summary>
    /// Puts the indirection table back as <paramref name="snapshot"/> had it. A snapshot table equal to
    /// the kernel's default for the current RX ring count is restored as "default" (so the kernel keeps
    /// adjusting it when channels change), any other table is written as it was.
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="snapshot">What <see cref="GetRss"/> returned earlier.</param>
    public void RestoreRssIndirection(string ifname, EthtoolRss snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Indirection.Count == 0 || GetRss(ifname).Indirection.SequenceEqual(snapshot.Indirection))
        {
            return;
        }

        uint rings = GetRxRingCount(ifname);
        uint[] table = [.. snapshot.Indirection];
        if (rings > 0 && table.AsSpan().SequenceEqual(EthtoolRss.Equal(table.Length, rings)))
        {
            ResetRssIndirection(ifname);
        }
        else
        {
            SetRssIndirection(ifname, table);
        }
    }

    /// <summary>The RSS indirection table through SIOCETHTOOL ETHTOOL_GRXFHINDIR (for kernels or tools without netlink RSS).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The table.</returns>
    public uint[] GetRssIndirectionIoctl(string ifname) => _ioctl.GetRssIndirection(ifname);

    /// <summary>Sets the table through SIOCETHTOOL ETHTOOL_SRXFHINDIR (size 0 = default).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="table">The table (exactly the device's size) or empty for the default.</param>
    public void SetRssIndirectionIoctl(string ifname, ReadOnlySpan<uint> table) => _ioctl.SetRssIndirection(ifname, table);

    // ---- ntuple flow rules (SIOCETHTOOL) ------------------------------------------------------

    /// <summary>
    /// The ifindex of <paramref name="ifname"/> in the network namespace this client's sockets were
    /// opened in (SIOCGIFINDEX, as if_nametoindex(3)); unlike <c>/sys/class/net</c>, which shows the
    /// namespace sysfs was mounted in, this is right after a setns(2).
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The ifindex.</returns>
    /// <exception cref="EthtoolIoctlException">ENODEV: no such interface.</exception>
    public int GetInterfaceIndex(string ifname) => _ioctl.GetInterfaceIndex(ifname);

    /// <summary>
    /// The driver's own name and bus address (ETHTOOL_GDRVINFO, unprivileged): "virtio_net", "bnxt_en",
    /// "testnic". This is the name the kernel's driver tables use, which a sysfs driver link may not give
    /// (a virtual device, or a parent bound to no driver).
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The driver name and bus info ("" when the driver reports none).</returns>
    public (string Driver, string BusInfo) GetDriverInfo(string ifname) => _ioctl.GetDriverInfo(ifname);

    /// <summary>The number of RX rings (ETHTOOL_GRXRINGS).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The count.</returns>
    public uint GetRxRingCount(string ifname) => _ioctl.GetRxRingCount(ifname);

    /// <summary>The flow rules installed (ETHTOOL_GRXCLSRLCNT, GRXCLSRLALL, then GRXCLSRULE for each).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The rules, with their locations (also a snapshot for <see cref="RestoreFlowRules"/>).</returns>
    public IReadOnlyList<EthtoolFlowRule> GetFlowRules(string ifname) => _ioctl.GetFlowRules(ifname);

    /// <summary>Adds a flow rule (ETHTOOL_SRXCLSRLINS).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="rule">The rule; a null location lets the driver choose (RX_CLS_LOC_ANY).</param>
    /// <returns>The location the rule got (delete it with <see cref="DeleteFlowRule"/>).</returns>
    public uint AddFlowRule(string ifname, EthtoolFlowRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return _ioctl.AddFlowRule(ifname, rule);
    }

    /// <summary>Deletes the flow rule at <paramref name="location"/> (ETHTOOL_SRXCLSRLDEL).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="location">The rule's location.</param>
    public void DeleteFlowRule(string ifname, uint location) => _ioctl.DeleteFlowRule(ifname, location);

    /// <summary>
    /// Puts the flow rules back as <paramref name="snapshot"/> had them: deletes rules added since,
    /// re-adds rules removed since, at their old locations.
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="snapshot">What <see cref="GetFlowRules"/> returned earlier.</param>
    public void RestoreFlowRules(string ifname, IReadOnlyList<EthtoolFlowRule> snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        IReadOnlyList<EthtoolFlowRule> now = GetFlowRules(ifname);
        foreach (EthtoolFlowRule r in now.Where(r => !snapshot.Contains(r)))
        {
            DeleteFlowRule(ifname, r.Location!.Value);
        }

        foreach (EthtoolFlowRule r in snapshot.Where(r => !now.Contains(r)))
        {
            AddFlowRule(ifname, r);
        }
    }

    // ---- plumbing ----------------------------------------------------------------------------

    private NetlinkRequest Begin(string opName, string ifname)
    {
        ArgumentException.ThrowIfNullOrEmpty(ifname);
        NetlinkOperationSpec op = Spec.Operation(opName);
        Family.Require(op, dump: false);
        NetlinkRequest request = _socket.CreateRequest(Family.Id, Spec, op, dump: false);
        int header = request.Writer.BeginNested(1); // ETHTOOL_A_*_HEADER is attribute 1 of every message
        request.Writer.WriteString(ETHTOOL_A_HEADER_DEV_NAME, ifname);
        request.Writer.EndNested(header);
        return request;
    }

    // A get op's reply: one message (the last one, should a kernel send more), parsed; none is malformed.
    private T GetOne<T>(string opName, string ifname, Func<NetlinkAttributeReader, T> parse) where T : class
    {
        T? result = null;
        foreach (NetlinkMessage m in Begin(opName, ifname).Send())
        {
            result = parse(m.GetGenlAttributes());
        }

        return result ?? throw NetlinkProtocolException.Malformed($"ethtool {opName}: no reply.");
    }

    // A set op: the header, what write adds, and the kernel's ack.
    private void Set(string opName, string ifname, WriterAction write)
    {
        NetlinkRequest request = Begin(opName, ifname);
        write(ref request.Writer);
        request.Send().Drain();
    }

    // Settings left null are not sent (the kernel leaves them as they are).
    private static void Put(ref NetlinkWriter w, ushort type, uint? value)
    {
        if (value is uint v)
        {
            w.WriteU32(type, v);
        }
    }

    private static void Put(ref NetlinkWriter w, ushort type, byte? value)
    {
        if (value is byte v)
        {
            w.WriteU8(type, v);
        }
    }

    // A restore reads the state now and sends a set of what differs from the snapshot, only when
    // something does (nothing to change equals the empty settings).
    private static void Restore<TSnapshot, TSettings>(string ifname, TSnapshot snapshot, Func<string, TSnapshot> get, Action<string, TSettings> set,
        TSettings nothing, Func<TSnapshot, TSnapshot, TSettings> diff)
        where TSettings : IEquatable<TSettings>
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        TSettings changes = diff(get(ifname), snapshot);
        if (!changes.Equals(nothing))
        {
            set(ifname, changes);
        }
    }

    private static T? Diff<T>(T? now, T? then) where T : struct => then is T t && !EqualityComparer<T?>.Default.Equals(now, then) ? t : null;

    private delegate void WriterAction(ref NetlinkWriter writer);
}
