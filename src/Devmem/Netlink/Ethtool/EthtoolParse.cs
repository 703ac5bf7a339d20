using System.Runtime.InteropServices;
using static Devmem.Interop.EthtoolNetlink;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// Decodes the ethtool family's replies (features, rings, channels, rss) into the typed records: pure,
/// over the reply's attributes, so it is tested on captured bytes. Unknown attributes are kept.
/// </summary>
internal static class EthtoolParse
{
    internal static EthtoolFeatures Features(NetlinkAttributeReader attrs)
    {
        HashSet<string> hw = [], wanted = [], active = [], nochange = [];
        foreach (NetlinkAttr a in attrs)
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
                Bitset(a.GetNested(), into);
            }
        }

        return new EthtoolFeatures(hw, wanted, active, nochange);
    }

    /// <summary>
    /// Adds the names of the bits set in a verbose bitset: with NOMASK every listed bit is set; with a
    /// mask, a listed bit is set when it carries ETHTOOL_A_BITSET_BIT_VALUE.
    /// </summary>
    internal static void Bitset(NetlinkAttributeReader bitset, HashSet<string> into)
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

    internal static EthtoolRings Rings(NetlinkAttributeReader attrs)
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

    internal static EthtoolChannels Channels(NetlinkAttributeReader attrs)
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

    internal static EthtoolRss Rss(NetlinkAttributeReader attrs)
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
}
