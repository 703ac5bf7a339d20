using static Devmem.Interop.EthtoolNetlink;
using K = Devmem.Netlink.NetlinkAttributeKind;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// The parts of the ethtool family's spec (Documentation/netlink/specs/ethtool.yaml, 7.3.4) that
/// devmem setup uses: header, rings, channels, rss. Used for error paths and names.
/// </summary>
internal static class EthtoolSpec
{
    public static readonly NetlinkEnumSpec TcpDataSplit = new("tcp-data-split", false, ["unknown", "disabled", "enabled"]);

    public static readonly NetlinkFamilySpec Family = new(
        ETHTOOL_GENL_NAME,
        ETHTOOL_GENL_VERSION,
        [
            new("features-get", ETHTOOL_MSG_FEATURES_GET, "features", ReplyCommand: ETHTOOL_MSG_FEATURES_GET_REPLY),
            new("rings-get", ETHTOOL_MSG_RINGS_GET, "rings", ReplyCommand: ETHTOOL_MSG_RINGS_GET_REPLY),
            new("rings-set", ETHTOOL_MSG_RINGS_SET, "rings"),
            new("channels-get", ETHTOOL_MSG_CHANNELS_GET, "channels", ReplyCommand: ETHTOOL_MSG_CHANNELS_GET_REPLY),
            new("channels-set", ETHTOOL_MSG_CHANNELS_SET, "channels"),
            new("rss-get", ETHTOOL_MSG_RSS_GET, "rss", AddedIn: "6.2", ReplyCommand: ETHTOOL_MSG_RSS_GET_REPLY),
            new("rss-set", ETHTOOL_MSG_RSS_SET, "rss", AddedIn: "6.17"),
        ],
        [
            new("header",
                new(ETHTOOL_A_HEADER_DEV_INDEX, "dev-index", K.U32),
                new(ETHTOOL_A_HEADER_DEV_NAME, "dev-name", K.String),
                new(ETHTOOL_A_HEADER_FLAGS, "flags", K.U32),
                new(ETHTOOL_A_HEADER_PHY_INDEX, "phy-index", K.U32)),
            new("features",
                new(ETHTOOL_A_FEATURES_HEADER, "header", K.Nest, NestedSet: "header"),
                new(ETHTOOL_A_FEATURES_HW, "hw", K.Nest),
                new(ETHTOOL_A_FEATURES_WANTED, "wanted", K.Nest),
                new(ETHTOOL_A_FEATURES_ACTIVE, "active", K.Nest),
                new(ETHTOOL_A_FEATURES_NOCHANGE, "nochange", K.Nest)),
            new("rings",
                new(ETHTOOL_A_RINGS_HEADER, "header", K.Nest, NestedSet: "header"),
                new(ETHTOOL_A_RINGS_RX_MAX, "rx-max", K.U32),
                new(ETHTOOL_A_RINGS_RX_MINI_MAX, "rx-mini-max", K.U32),
                new(ETHTOOL_A_RINGS_RX_JUMBO_MAX, "rx-jumbo-max", K.U32),
                new(ETHTOOL_A_RINGS_TX_MAX, "tx-max", K.U32),
                new(ETHTOOL_A_RINGS_RX, "rx", K.U32),
                new(ETHTOOL_A_RINGS_RX_MINI, "rx-mini", K.U32),
                new(ETHTOOL_A_RINGS_RX_JUMBO, "rx-jumbo", K.U32),
                new(ETHTOOL_A_RINGS_TX, "tx", K.U32),
                new(ETHTOOL_A_RINGS_RX_BUF_LEN, "rx-buf-len", K.U32),
                new(ETHTOOL_A_RINGS_TCP_DATA_SPLIT, "tcp-data-split", K.U8, TcpDataSplit),
                new(ETHTOOL_A_RINGS_CQE_SIZE, "cqe-size", K.U32),
                new(ETHTOOL_A_RINGS_TX_PUSH, "tx-push", K.U8),
                new(ETHTOOL_A_RINGS_RX_PUSH, "rx-push", K.U8),
                new(ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN, "tx-push-buf-len", K.U32),
                new(ETHTOOL_A_RINGS_TX_PUSH_BUF_LEN_MAX, "tx-push-buf-len-max", K.U32),
                new(ETHTOOL_A_RINGS_HDS_THRESH, "hds-thresh", K.U32),
                new(ETHTOOL_A_RINGS_HDS_THRESH_MAX, "hds-thresh-max", K.U32)),
            new("channels",
                new(ETHTOOL_A_CHANNELS_HEADER, "header", K.Nest, NestedSet: "header"),
                new(ETHTOOL_A_CHANNELS_RX_MAX, "rx-max", K.U32),
                new(ETHTOOL_A_CHANNELS_TX_MAX, "tx-max", K.U32),
                new(ETHTOOL_A_CHANNELS_OTHER_MAX, "other-max", K.U32),
                new(ETHTOOL_A_CHANNELS_COMBINED_MAX, "combined-max", K.U32),
                new(ETHTOOL_A_CHANNELS_RX_COUNT, "rx-count", K.U32),
                new(ETHTOOL_A_CHANNELS_TX_COUNT, "tx-count", K.U32),
                new(ETHTOOL_A_CHANNELS_OTHER_COUNT, "other-count", K.U32),
                new(ETHTOOL_A_CHANNELS_COMBINED_COUNT, "combined-count", K.U32)),
            new("rss",
                new(ETHTOOL_A_RSS_HEADER, "header", K.Nest, NestedSet: "header"),
                new(ETHTOOL_A_RSS_CONTEXT, "context", K.U32),
                new(ETHTOOL_A_RSS_HFUNC, "hfunc", K.U32),
                new(ETHTOOL_A_RSS_INDIR, "indir", K.Binary),
                new(ETHTOOL_A_RSS_HKEY, "hkey", K.Binary),
                new(ETHTOOL_A_RSS_INPUT_XFRM, "input-xfrm", K.U32),
                new(ETHTOOL_A_RSS_START_CONTEXT, "start-context", K.U32),
                new(ETHTOOL_A_RSS_FLOW_HASH, "flow-hash", K.Nest)),
        ]);
}
