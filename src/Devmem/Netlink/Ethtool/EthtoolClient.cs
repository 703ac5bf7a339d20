using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;
using Devmem.Sys;
using static Devmem.Interop.Ethtool;
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
/// Netlink refusals throw <see cref="NetlinkException"/> with the kernel's message (e.g. "setting TCP
/// data split is not supported"); ioctl refusals throw <see cref="EthtoolIoctlException"/>. Setting
/// needs CAP_NET_ADMIN. Sockets live in the network namespace of the thread that called <see cref="Open"/>.
/// </remarks>
public sealed class EthtoolClient : IDisposable
{
    private readonly GenericNetlinkSocket _socket;
    private readonly SafeSocketFdHandle _ioctlSocket;

    private EthtoolClient(GenericNetlinkSocket socket, GenericNetlinkFamily family, SafeSocketFdHandle ioctlSocket)
    {
        _socket = socket;
        Family = family;
        _ioctlSocket = ioctlSocket;
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
        var ioctl = new SafeSocketFdHandle();
        try
        {
            SysResult r = Syscalls.Socket(sys_socket.AF_INET, sys_socket_type.SOCK_DGRAM | sys_socket_type.SOCK_CLOEXEC, 0);
            if (r.IsError)
            {
                throw GenericNetlinkSocket.Io("socket(AF_INET, SOCK_DGRAM) for SIOCETHTOOL", r.Errno);
            }

            ioctl.Own(r.Int32);
            return new EthtoolClient(socket, socket.GetFamily(ETHTOOL_GENL_NAME), ioctl);
        }
        catch
        {
            ioctl.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Closes both sockets.</summary>
    public void Dispose()
    {
        _socket.Dispose();
        _ioctlSocket.Dispose();
    }

    // ---- features ----------------------------------------------------------------------------

    /// <summary>
    /// features-get: the device's netdev features by name. Asked for without
    /// ETHTOOL_FLAG_COMPACT_BITSETS, so the kernel names every bit (net/ethtool/bitset.c).
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The feature sets.</returns>
    public EthtoolFeatures GetFeatures(string ifname)
    {
        EthtoolFeatures? result = null;
        foreach (NetlinkMessage m in Get("features-get", ifname))
        {
            HashSet<string> hw = [], wanted = [], active = [], nochange = [];
            foreach (NetlinkAttr a in m.GetGenlAttributes())
            {
                HashSet<string>? into = a.Type switch
                {
                    ETHTOOL_A_FEATURES_HW => hw,
                    ETHTOOL_A_FEATURES_WANTED => wanted,
                    ETHTOOL_A_FEATURES_ACTIVE => active,
                    ETHTOOL_A_FEATURES_NOCHANGE => nochange,
                    _ => null,
                };
                if (into is not null)
                {
                    ParseBitset(a.GetNested(), into);
                }
            }

            result = new EthtoolFeatures(hw, wanted, active, nochange);
        }

        return result ?? throw NetlinkProtocolException.Malformed("ethtool features-get: no reply.");
    }

    /// <summary>
    /// Adds the names of the bits set in a verbose bitset: with NOMASK every listed bit is set; with a
    /// mask, a listed bit is set when it carries ETHTOOL_A_BITSET_BIT_VALUE.
    /// </summary>
    internal static void ParseBitset(NetlinkAttributeReader bitset, HashSet<string> into)
    {
        bool noMask = false;
        foreach (NetlinkAttr a in bitset)
        {
            if (a.Type == ETHTOOL_A_BITSET_NOMASK)
            {
                noMask = true;
            }
        }

        foreach (NetlinkAttr a in bitset)
        {
            if (a.Type != ETHTOOL_A_BITSET_BITS)
            {
                continue;
            }

            foreach (NetlinkAttr bit in a.GetNested())
            {
                if (bit.Type != ETHTOOL_A_BITSET_BITS_BIT)
                {
                    continue;
                }

                string? name = null;
                bool value = noMask;
                foreach (NetlinkAttr f in bit.GetNested())
                {
                    if (f.Type == ETHTOOL_A_BITSET_BIT_NAME)
                    {
                        name = f.GetString();
                    }
                    else if (f.Type == ETHTOOL_A_BITSET_BIT_VALUE)
                    {
                        value = true;
                    }
                }

                if (value && name is { Length: > 0 })
                {
                    into.Add(name);
                }
            }
        }
    }

    // ---- rings -------------------------------------------------------------------------------

    /// <summary>rings-get.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The ring parameters (also a snapshot for <see cref="RestoreRings"/>).</returns>
    public EthtoolRings GetRings(string ifname)
    {
        EthtoolRings? result = null;
        foreach (NetlinkMessage m in Get("rings-get", ifname))
        {
            result = ParseRings(m.GetGenlAttributes());
        }

        return result ?? throw NetlinkProtocolException.Malformed("ethtool rings-get: no reply.");
    }

    internal static EthtoolRings ParseRings(NetlinkAttributeReader attrs)
    {
        uint? rxMax = null, rxMiniMax = null, rxJumboMax = null, txMax = null, rx = null, rxMini = null, rxJumbo = null, tx = null;
        uint? bufLen = null, cqe = null, pushLen = null, pushLenMax = null, hds = null, hdsMax = null;
        byte? txPush = null, rxPush = null;
        EthtoolTcpDataSplit? split = null;
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case ETHTOOL_A_RINGS_HEADER: break;
                case ETHTOOL_A_RINGS_RX_MAX: rxMax = a.GetU32(); break;
                case ETHTOOL_A_RINGS_RX_MINI_MAX: rxMiniMax = a.GetU32(); break;
                case ETHTOOL_A_RINGS_RX_JUMBO_MAX: rxJumboMax = a.GetU32(); break;
                case ETHTOOL_A_RINGS_TX_MAX: txMax = a.GetU32(); break;
                case ETHTOOL_A_RINGS_RX: rx = a.GetU32(); break;
                case ETHTOOL_A_RINGS_RX_MINI: rxMini = a.GetU32(); break;
                case ETHTOOL_A_RINGS_RX_JUMBO: rxJumbo = a.GetU32(); break;
                case ETHTOOL_A_RINGS_TX: tx = a.GetU32(); break;
                case ETHTOOL_A_RINGS_RX_BUF_LEN: bufLen = a.GetU32(); break;
                case ETHTOOL_A_RINGS_TCP_DATA_SPLIT: split = (EthtoolTcpDataSplit)a.GetU8(); break;
                case ETHTOOL_A_RINGS_CQE_SIZE: cqe = a.GetU32(); break;
                case ETHTOOL_A_RINGS_TX_PUSH: txPush = a.GetU8(); break;
                case ETHTOOL_A_RINGS_RX_PUSH: rxPush = a.GetU8(); break;
                case ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN: pushLen = a.GetU32(); break;
                case ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN_MAX: pushLenMax = a.GetU32(); break;
                case ETHTOOL_A_RINGS_HDS_THRESH: hds = a.GetU32(); break;
                case ETHTOOL_A_RINGS_HDS_THRESH_MAX: hdsMax = a.GetU32(); break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new EthtoolRings(rxMax, rxMiniMax, rxJumboMax, txMax, rx, rxMini, rxJumbo, tx, bufLen, split, cqe, txPush, rxPush,
            pushLen, pushLenMax, hds, hdsMax, NetlinkRawAttr.Done(unknown));
    }

    /// <summary>rings-set: sends only the non-null settings.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="settings">What to change.</param>
    public void SetRings(string ifname, EthtoolRingsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        NetlinkRequest request = Begin("rings-set", ifname);
        ref NetlinkWriter w = ref request.Writer;
        Put(ref w, ETHTOOL_A_RINGS_RX, settings.Rx);
        Put(ref w, ETHTOOL_A_RINGS_RX_MINI, settings.RxMini);
        Put(ref w, ETHTOOL_A_RINGS_RX_JUMBO, settings.RxJumbo);
        Put(ref w, ETHTOOL_A_RINGS_TX, settings.Tx);
        Put(ref w, ETHTOOL_A_RINGS_RX_BUF_LEN, settings.RxBufLen);
        if (settings.TcpDataSplit is EthtoolTcpDataSplit s)
        {
            w.WriteU8(ETHTOOL_A_RINGS_TCP_DATA_SPLIT, (byte)s);
        }

        Put(ref w, ETHTOOL_A_RINGS_CQE_SIZE, settings.CqeSize);
        if (settings.TxPush is byte tp)
        {
            w.WriteU8(ETHTOOL_A_RINGS_TX_PUSH, tp);
        }

        if (settings.RxPush is byte rp)
        {
            w.WriteU8(ETHTOOL_A_RINGS_RX_PUSH, rp);
        }

        Put(ref w, ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN, settings.TxPushBufLen);
        Put(ref w, ETHTOOL_A_RINGS_HDS_THRESH, settings.HdsThresh);
        request.Send().Drain();
    }

    /// <summary>
    /// Puts the ring settings back as <paramref name="snapshot"/> had them, sending only what differs
    /// now (a driver refuses even an unchanged value for a setting it cannot change). A tcp-data-split
    /// that the snapshot did not report is restored as Unknown (the driver's default), as ncdevmem does.
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="snapshot">What <see cref="GetRings"/> returned earlier.</param>
    public void RestoreRings(string ifname, EthtoolRings snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        EthtoolRings now = GetRings(ifname);
        var s = new EthtoolRingsSettings(
            Diff(now.Rx, snapshot.Rx), Diff(now.RxMini, snapshot.RxMini), Diff(now.RxJumbo, snapshot.RxJumbo), Diff(now.Tx, snapshot.Tx),
            Diff(now.RxBufLen, snapshot.RxBufLen),
            (now.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown) != (snapshot.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown) ? snapshot.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown : null,
            Diff(now.CqeSize, snapshot.CqeSize), Diff(now.TxPush, snapshot.TxPush), Diff(now.RxPush, snapshot.RxPush),
            Diff(now.TxPushBufLen, snapshot.TxPushBufLen), Diff(now.HdsThresh, snapshot.HdsThresh));
        if (s != new EthtoolRingsSettings())
        {
            SetRings(ifname, s);
        }
    }

    // ---- channels ----------------------------------------------------------------------------

    /// <summary>channels-get.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The channel counts (also a snapshot for <see cref="RestoreChannels"/>).</returns>
    public EthtoolChannels GetChannels(string ifname)
    {
        EthtoolChannels? result = null;
        foreach (NetlinkMessage m in Get("channels-get", ifname))
        {
            result = ParseChannels(m.GetGenlAttributes());
        }

        return result ?? throw NetlinkProtocolException.Malformed("ethtool channels-get: no reply.");
    }

    internal static EthtoolChannels ParseChannels(NetlinkAttributeReader attrs)
    {
        uint? rxMax = null, txMax = null, otherMax = null, combinedMax = null, rx = null, tx = null, other = null, combined = null;
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case ETHTOOL_A_CHANNELS_HEADER: break;
                case ETHTOOL_A_CHANNELS_RX_MAX: rxMax = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_TX_MAX: txMax = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_OTHER_MAX: otherMax = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_COMBINED_MAX: combinedMax = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_RX_COUNT: rx = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_TX_COUNT: tx = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_OTHER_COUNT: other = a.GetU32(); break;
                case ETHTOOL_A_CHANNELS_COMBINED_COUNT: combined = a.GetU32(); break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new EthtoolChannels(rxMax, txMax, otherMax, combinedMax, rx, tx, other, combined, NetlinkRawAttr.Done(unknown));
    }

    /// <summary>channels-set: sends only the non-null counts.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="settings">The counts.</param>
    public void SetChannels(string ifname, EthtoolChannelsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        NetlinkRequest request = Begin("channels-set", ifname);
        ref NetlinkWriter w = ref request.Writer;
        Put(ref w, ETHTOOL_A_CHANNELS_RX_COUNT, settings.RxCount);
        Put(ref w, ETHTOOL_A_CHANNELS_TX_COUNT, settings.TxCount);
        Put(ref w, ETHTOOL_A_CHANNELS_OTHER_COUNT, settings.OtherCount);
        Put(ref w, ETHTOOL_A_CHANNELS_COMBINED_COUNT, settings.CombinedCount);
        request.Send().Drain();
    }

    /// <summary>Puts the channel counts back as <paramref name="snapshot"/> had them (only what differs is sent).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="snapshot">What <see cref="GetChannels"/> returned earlier.</param>
    public void RestoreChannels(string ifname, EthtoolChannels snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        EthtoolChannels now = GetChannels(ifname);
        var s = new EthtoolChannelsSettings(Diff(now.RxCount, snapshot.RxCount), Diff(now.TxCount, snapshot.TxCount),
            Diff(now.OtherCount, snapshot.OtherCount), Diff(now.CombinedCount, snapshot.CombinedCount));
        if (s != new EthtoolChannelsSettings())
        {
            SetChannels(ifname, s);
        }
    }

    // ---- RSS -----------------------------------------------------------------------------------

    /// <summary>rss-get for context 0.</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The RSS configuration (also a snapshot for <see cref="RestoreRssIndirection"/>).</returns>
    public EthtoolRss GetRss(string ifname)
    {
        EthtoolRss? result = null;
        foreach (NetlinkMessage m in Get("rss-get", ifname))
        {
            result = ParseRss(m.GetGenlAttributes());
        }

        return result ?? throw NetlinkProtocolException.Malformed("ethtool rss-get: no reply.");
    }

    internal static EthtoolRss ParseRss(NetlinkAttributeReader attrs)
    {
        uint? hfunc = null, xfrm = null;
        uint[] indir = [];
        byte[] key = [];
        List<NetlinkRawAttr>? unknown = null;
        foreach (NetlinkAttr a in attrs)
        {
            switch (a.Type)
            {
                case ETHTOOL_A_RSS_HEADER: break;
                case ETHTOOL_A_RSS_HFUNC: hfunc = a.GetU32(); break;
                case ETHTOOL_A_RSS_INPUT_XFRM: xfrm = a.GetU32(); break;
                case ETHTOOL_A_RSS_HKEY: key = a.Payload.ToArray(); break;
                case ETHTOOL_A_RSS_INDIR:
                    // u32[] in host byte order (ethtool.yaml: sub-type u32).
                    if (a.Payload.Length % 4 != 0)
                    {
                        throw NetlinkProtocolException.Malformed($"ethtool rss indir of {a.Payload.Length} bytes is not a u32 array.");
                    }

                    indir = MemoryMarshal.Cast<byte, uint>(a.Payload).ToArray();
                    break;
                default: NetlinkRawAttr.Add(ref unknown, a); break;
            }
        }

        return new EthtoolRss(hfunc, indir, key, xfrm, NetlinkRawAttr.Done(unknown));
    }

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
    public unsafe uint[] GetRssIndirectionIoctl(string ifname)
    {
        // First call with size 0 returns the device's size (net/ethtool/ioctl.c ethtool_get_rxfh_indir).
        ethtool_rxfh_indir head = new() { cmd = ETHTOOL_GRXFHINDIR, size = 0 };
        Ioctl(ifname, &head, "ETHTOOL_GRXFHINDIR");
        if (head.size == 0)
        {
            return [];
        }

        var buffer = new byte[8 + (4 * (int)head.size)];
        fixed (byte* p = buffer)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buffer, ETHTOOL_GRXFHINDIR);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), head.size);
            Ioctl(ifname, p, "ETHTOOL_GRXFHINDIR");
        }

        return MemoryMarshal.Cast<byte, uint>(buffer.AsSpan(8)).ToArray();
    }

    /// <summary>Sets the table through SIOCETHTOOL ETHTOOL_SRXFHINDIR (size 0 = default).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="table">The table (exactly the device's size) or empty for the default.</param>
    public unsafe void SetRssIndirectionIoctl(string ifname, ReadOnlySpan<uint> table)
    {
        var buffer = new byte[8 + (4 * table.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, ETHTOOL_SRXFHINDIR);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), (uint)table.Length);
        MemoryMarshal.AsBytes(table).CopyTo(buffer.AsSpan(8));
        fixed (byte* p = buffer)
        {
            Ioctl(ifname, p, "ETHTOOL_SRXFHINDIR");
        }
    }

    // ---- ntuple flow rules (SIOCETHTOOL) ------------------------------------------------------

    /// <summary>
    /// The ifindex of <paramref name="ifname"/> in the network namespace this client's sockets were
    /// opened in (SIOCGIFINDEX, as if_nametoindex(3)); unlike <c>/sys/class/net</c>, which shows the
    /// namespace sysfs was mounted in, this is right after a setns(2).
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The ifindex.</returns>
    /// <exception cref="EthtoolIoctlException">ENODEV: no such interface.</exception>
    public unsafe int GetInterfaceIndex(string ifname)
    {
        ifreq ifr = default;
        Ioctl(ifname, ref ifr, Sockios.SIOCGIFINDEX, "SIOCGIFINDEX");
        // ifr_ifindex is an int at offset 16, in the union where ifr_data lies (linux/if.h).
        return *(int*)&ifr.ifr_data;
    }

    /// <summary>
    /// The driver's own name and bus address (ETHTOOL_GDRVINFO, unprivileged): "virtio_net", "bnxt_en",
    /// "testnic". This is the name the kernel's driver tables use, which a sysfs driver link may not give
    /// (a virtual device, or a parent bound to no driver).
    /// </summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The driver name and bus info ("" when the driver reports none).</returns>
    public unsafe (string Driver, string BusInfo) GetDriverInfo(string ifname)
    {
        ethtool_drvinfo info = new() { cmd = ETHTOOL_GDRVINFO };
        Ioctl(ifname, &info, "ETHTOOL_GDRVINFO");
        return (CString(info.driver, 32), CString(info.bus_info, 32));

        static string CString(byte* p, int max)
        {
            var span = new ReadOnlySpan<byte>(p, max);
            int end = span.IndexOf((byte)0);
            return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
        }
    }

    /// <summary>The number of RX rings (ETHTOOL_GRXRINGS).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The count.</returns>
    public unsafe uint GetRxRingCount(string ifname)
    {
        ethtool_rxnfc nfc = new() { cmd = ETHTOOL_GRXRINGS };
        Ioctl(ifname, &nfc, "ETHTOOL_GRXRINGS");
        return (uint)nfc.data;
    }

    /// <summary>The flow rules installed (ETHTOOL_GRXCLSRLCNT, GRXCLSRLALL, then GRXCLSRULE for each).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <returns>The rules, with their locations (also a snapshot for <see cref="RestoreFlowRules"/>).</returns>
    public unsafe IReadOnlyList<EthtoolFlowRule> GetFlowRules(string ifname)
    {
        ethtool_rxnfc count = new() { cmd = ETHTOOL_GRXCLSRLCNT };
        Ioctl(ifname, &count, "ETHTOOL_GRXCLSRLCNT");
        uint n = count.rule_cnt;
        if (n == 0)
        {
            return [];
        }

        // rule_locs[] starts at offset 188, inside the struct's tail padding (kernel-api.md §4).
        int offset = (int)Marshal.OffsetOf<ethtool_rxnfc>(nameof(ethtool_rxnfc.rule_locs));
        var buffer = new byte[Math.Max(sizeof(ethtool_rxnfc), offset + (4 * (int)n))];
        uint[] locations;
        fixed (byte* p = buffer)
        {
            var all = (ethtool_rxnfc*)p;
            all->cmd = ETHTOOL_GRXCLSRLALL;
            all->rule_cnt = n;
            Ioctl(ifname, p, "ETHTOOL_GRXCLSRLALL");
            locations = MemoryMarshal.Cast<byte, uint>(buffer.AsSpan(offset, 4 * (int)Math.Min(n, all->rule_cnt))).ToArray();
        }

        var rules = new List<EthtoolFlowRule>(locations.Length);
        foreach (uint loc in locations)
        {
            ethtool_rxnfc one = new() { cmd = ETHTOOL_GRXCLSRULE };
            one.fs.location = loc;
            Ioctl(ifname, &one, "ETHTOOL_GRXCLSRULE");
            rules.Add(DecodeRule(one.fs));
        }

        return rules;
    }

    /// <summary>Adds a flow rule (ETHTOOL_SRXCLSRLINS).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="rule">The rule; a null location lets the driver choose (RX_CLS_LOC_ANY).</param>
    /// <returns>The location the rule got (delete it with <see cref="DeleteFlowRule"/>).</returns>
    public unsafe uint AddFlowRule(string ifname, EthtoolFlowRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ethtool_rxnfc nfc = new() { cmd = ETHTOOL_SRXCLSRLINS };
        nfc.fs = EncodeRule(rule);
        Ioctl(ifname, &nfc, "ETHTOOL_SRXCLSRLINS");
        return nfc.fs.location;
    }

    /// <summary>Deletes the flow rule at <paramref name="location"/> (ETHTOOL_SRXCLSRLDEL).</summary>
    /// <param name="ifname">Interface name.</param>
    /// <param name="location">The rule's location.</param>
    public unsafe void DeleteFlowRule(string ifname, uint location)
    {
        ethtool_rxnfc nfc = new() { cmd = ETHTOOL_SRXCLSRLDEL };
        nfc.fs.location = location;
        Ioctl(ifname, &nfc, "ETHTOOL_SRXCLSRLDEL");
    }

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

    internal static unsafe ethtool_rx_flow_spec EncodeRule(EthtoolFlowRule rule)
    {
        ethtool_rx_flow_spec fs = default;
        fs.flow_type = (uint)rule.FlowType;
        fs.ring_cookie = rule.Queue ?? RX_CLS_FLOW_DISC;
        fs.location = rule.Location ?? RX_CLS_LOC_ANY;
        bool v6 = rule.FlowType is EthtoolFlowType.Tcp6 or EthtoolFlowType.Udp6;
        int addrLen = v6 ? 16 : 4;
        // ethtool_tcpip4_spec: ip4src @0, ip4dst @4, psrc @8, pdst @10; ethtool_tcpip6_spec: ip6src @0,
        // ip6dst @16, psrc @32, pdst @34. Network byte order; a mask byte of 0xff means "compare".
        var h = new Span<byte>(fs.h_u, 52);
        var m = new Span<byte>(fs.m_u, 52);
        WriteAddress(rule.Source, h, m, 0, addrLen, v6);
        WriteAddress(rule.Destination, h, m, addrLen, addrLen, v6);
        WritePort(rule.SourcePort, h, m, 2 * addrLen);
        WritePort(rule.DestinationPort, h, m, (2 * addrLen) + 2);
        return fs;
    }

    private static void WriteAddress(IPAddress? address, Span<byte> h, Span<byte> m, int offset, int length, bool v6)
    {
        if (address is null)
        {
            return;
        }

        if ((address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6) != v6)
        {
            throw new ArgumentException($"address {address} does not match the rule's flow type.");
        }

        address.TryWriteBytes(h.Slice(offset, length), out _);
        m.Slice(offset, length).Fill(0xff);
    }

    private static void WritePort(ushort? port, Span<byte> h, Span<byte> m, int offset)
    {
        if (port is ushort p)
        {
            BinaryPrimitives.WriteUInt16BigEndian(h[offset..], p);
            m.Slice(offset, 2).Fill(0xff);
        }
    }

    internal static unsafe EthtoolFlowRule DecodeRule(ethtool_rx_flow_spec fs)
    {
        var type = (EthtoolFlowType)(fs.flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS));
        bool v6 = type is EthtoolFlowType.Tcp6 or EthtoolFlowType.Udp6;
        int addrLen = v6 ? 16 : 4;
        var h = new ReadOnlySpan<byte>(fs.h_u, 52);
        var m = new ReadOnlySpan<byte>(fs.m_u, 52);
        return new EthtoolFlowRule(type, Addr(h, m, 0, addrLen), Addr(h, m, addrLen, addrLen), Port(h, m, 2 * addrLen), Port(h, m, (2 * addrLen) + 2),
            fs.ring_cookie == RX_CLS_FLOW_DISC ? null : fs.ring_cookie, fs.location);

        static IPAddress? Addr(ReadOnlySpan<byte> h, ReadOnlySpan<byte> m, int off, int len) =>
            m.Slice(off, len).ContainsAnyExcept((byte)0) ? new IPAddress(h.Slice(off, len)) : null;

        static ushort? Port(ReadOnlySpan<byte> h, ReadOnlySpan<byte> m, int off) =>
            m.Slice(off, 2).ContainsAnyExcept((byte)0) ? BinaryPrimitives.ReadUInt16BigEndian(h[off..]) : null;
    }

    // ---- plumbing ----------------------------------------------------------------------------

    private unsafe void Ioctl(string ifname, void* data, string command)
    {
        ifreq ifr = default;
        ifr.ifr_data = data;
        Ioctl(ifname, ref ifr, Sockios.SIOCETHTOOL, command);
    }

    private unsafe void Ioctl(string ifname, ref ifreq ifr, uint request, string command)
    {
        // UTF-8, as every other place a name reaches the kernel (ETHTOOL_A_HEADER_DEV_NAME, IFLA_IFNAME).
        byte[] name = InterfaceNames.ToBytes(ifname, nameof(ifname));
        fixed (ifreq* p = &ifr)
        {
            name.CopyTo(new Span<byte>(p->ifr_name, If.IFNAMSIZ));
            SysResult r = Syscalls.Ioctl(_ioctlSocket, request, p);
            if (r.IsError)
            {
                throw EthtoolIoctlException.Failed(ifname, command, r.Errno);
            }
        }
    }

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

    private NetlinkReplies Get(string opName, string ifname) => Begin(opName, ifname).Send();

    private static void Put(ref NetlinkWriter w, ushort type, uint? value)
    {
        if (value is uint v)
        {
            w.WriteU32(type, v);
        }
    }

    private static T? Diff<T>(T? now, T? then) where T : struct => then is T t && !EqualityComparer<T?>.Default.Equals(now, then) ? t : null;
}
