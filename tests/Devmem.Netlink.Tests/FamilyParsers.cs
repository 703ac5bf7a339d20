using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;

namespace Devmem.Netlink.Tests;

// Every decoder the fuzz tests run: attribute-level decoders of each family (fed attribute streams)
// and message-level ones (fed whole messages: they read the fixed header too).
internal static class FamilyParsers
{
    private static readonly string[] EthtoolSets = ["header", "features", "rings", "channels", "rss"];

    private static readonly string[] NetdevSets = ["dev", "queue", "napi", "page-pool", "page-pool-stats", "qstats", "dmabuf", "lease"];

    public static IReadOnlyList<Func<NetlinkAttributeReader, object>> All { get; } =
    [
        // netdev
        a => NetdevParse.Queue(a),
        a => NetdevParse.Device(a),
        a => NetdevParse.Napi(a),
        a => NetdevParse.PagePool(a),
        a => NetdevParse.PagePoolStats(a),
        a => NetdevParse.QueueStats(a),
        a => NetdevParse.BindingId(a),
        .. NetdevSets.Select<string, Func<NetlinkAttributeReader, object>>(set => a => Ynl(a, NetdevSpec.Family, set)),

        // ethtool
        a => EthtoolParse.Rings(a),
        a => EthtoolParse.Channels(a),
        a => EthtoolParse.Rss(a),
        a =>
        {
            var bits = new HashSet<string>();
            EthtoolParse.Bitset(a, bits);
            return bits;
        },
        .. EthtoolSets.Select<string, Func<NetlinkAttributeReader, object>>(set => a => Ynl(a, EthtoolSpec.Family, set)),
    ];

    public static IReadOnlyList<Func<NetlinkMessage, object>> Messages { get; } =
    [
        m => GenericNetlinkSocket.ParseFamily(m, "fuzz"), // nlctrl getfamily
        m => RouteLinks.ParseLink(m), // rtnetlink RTM_NEWLINK
        m => NetlinkErrors.ParseError(m, out _),
        m => NetlinkErrors.ParseDone(m, out _),
        m => m.GenlCommand,
    ];

    private static string Ynl(NetlinkAttributeReader a, NetlinkFamilySpec family, string set)
    {
        var j = new YnlJson();
        j.WriteMessage(a, family, family.Set(set));
        return j.ToString();
    }
}
