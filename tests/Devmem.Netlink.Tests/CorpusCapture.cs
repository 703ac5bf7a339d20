using Devmem.Interop;
using static Devmem.Interop.EthtoolNetlink;
using static Devmem.Interop.Genetlink;
using static Devmem.Interop.Netdev;
using static Devmem.Interop.Netlink;
using static Devmem.Interop.Rtnetlink;

namespace Devmem.Netlink.Tests;

// Captures the fuzz corpus (tests/Devmem.Netlink.Tests/Corpus/*.bin): the raw reply datagrams the
// running kernel sends to real requests, each file one request's replies, datagram after datagram
// (each datagram is whole netlink messages, so the concatenation parses as a message stream). Run by
// `scripts/fuzz.sh capture` (DEVMEM_CAPTURE_CORPUS=DIR); in a normal test run it does nothing.
[Tier(Tier.HostKernel)]
public sealed class CorpusCapture
{
    public static string CorpusDirectory => Path.Combine(Tools.RepoRoot, "tests", "Devmem.Netlink.Tests", "Corpus");

    [Fact]
    public void Capture_the_corpus_from_the_running_kernel_when_asked()
    {
        string? dir = Environment.GetEnvironmentVariable("DEVMEM_CAPTURE_CORPUS");
        if (string.IsNullOrEmpty(dir))
        {
            // Not a test: the capture tool. The corpus it wrote is checked in and read by FuzzTests.
            return;
        }

        Directory.CreateDirectory(dir);
        using (GenericNetlinkSocket s = GenericNetlinkSocket.Open())
        {
            ushort netdev = s.GetFamily("netdev").Id;
            ushort ethtool = s.GetFamily("ethtool").Id;
            Save(dir, "nlctrl-getfamily-netdev", Request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, false, (ref NetlinkWriter w) => w.WriteString(CTRL_ATTR_FAMILY_NAME, "netdev")));
            Save(dir, "nlctrl-getfamily-ethtool", Request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, false, (ref NetlinkWriter w) => w.WriteString(CTRL_ATTR_FAMILY_NAME, "ethtool")));
            Save(dir, "nlctrl-getfamily-enoent", Request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, false, (ref NetlinkWriter w) => w.WriteString(CTRL_ATTR_FAMILY_NAME, "nosuchfamily")));
            Save(dir, "netdev-dev-get-dump", Request(s, netdev, NETDEV_CMD_DEV_GET, 1, true, null));
            Save(dir, "netdev-queue-get-dump", Request(s, netdev, NETDEV_CMD_QUEUE_GET, 1, true, null));
            Save(dir, "netdev-napi-get-dump", Request(s, netdev, NETDEV_CMD_NAPI_GET, 1, true, null));
            Save(dir, "netdev-page-pool-get-dump", Request(s, netdev, NETDEV_CMD_PAGE_POOL_GET, 1, true, null));
            Save(dir, "netdev-qstats-get-dump", Request(s, netdev, NETDEV_CMD_QSTATS_GET, 1, true, null));
            Save(dir, "netdev-bind-rx-lo-einval", Request(s, netdev, NETDEV_CMD_BIND_RX, 1, false, (ref NetlinkWriter w) => w.WriteU32(NETDEV_A_DEV_IFINDEX, 1)));
            foreach (string dev in new[] { "lo", "eth0" })
            {
                if (!Directory.Exists($"/sys/class/net/{dev}"))
                {
                    continue;
                }

                CaptureEthtool(s, ethtool, dir, dev, dev);
            }
        }

        NetNamespace? ns = null;
        try
        {
            ns = new NetNamespace();
        }
        catch (InvalidOperationException e)
        {
            // The VM guests' kernels have no veth: their corpus has no veth replies.
            TestContext.Current.SendDiagnosticMessage($"no veth capture: {e.Message}");
        }

        using (ns)
        {
            ns?.Enter(() =>
            {
                using GenericNetlinkSocket s = GenericNetlinkSocket.Open();
                CaptureEthtool(s, s.GetFamily("ethtool").Id, dir, "va", "veth");
                using GenericNetlinkSocket rt = GenericNetlinkSocket.Open(32 * 1024, NETLINK_ROUTE);
                Save(dir, "rtnetlink-getlink-dump-veth-netns", RawDump(rt, RTM_GETLINK));
                return 0;
            });
        }

        using (GenericNetlinkSocket rt = GenericNetlinkSocket.Open(32 * 1024, NETLINK_ROUTE))
        {
            Save(dir, "rtnetlink-getlink-dump", RawDump(rt, RTM_GETLINK));
        }
    }

    private static void CaptureEthtool(GenericNetlinkSocket s, ushort ethtool, string dir, string dev, string label)
    {
        foreach ((string name, byte cmd) in new[] { ("rings", ETHTOOL_MSG_RINGS_GET), ("channels", ETHTOOL_MSG_CHANNELS_GET), ("rss", ETHTOOL_MSG_RSS_GET), ("features", ETHTOOL_MSG_FEATURES_GET) })
        {
            Save(dir, $"ethtool-{name}-get-{label}", Request(s, ethtool, cmd, 1, false, (ref NetlinkWriter w) =>
            {
                int h = w.BeginNested(1);
                w.WriteString(ETHTOOL_A_HEADER_DEV_NAME, dev);
                w.EndNested(h);
            }));
        }
    }

    private delegate void Attributes(ref NetlinkWriter w);

    private static List<byte[]> Request(GenericNetlinkSocket s, ushort family, byte cmd, byte version, bool dump, Attributes? attrs)
    {
        NetlinkRequest request = s.CreateRequest(family, cmd, version, dump, "corpus", "capture");
        ref NetlinkWriter w = ref request.Writer;
        attrs?.Invoke(ref w);
        w.EndMessage();
        s.Transmit(w.Written);
        return ReadUntilEnd(s);
    }

    private static unsafe List<byte[]> RawDump(GenericNetlinkSocket s, ushort type)
    {
        NetlinkRequest request = s.CreateRawRequest(type, dump: true, "corpus", "capture");
        ref NetlinkWriter w = ref request.Writer;
        w.WriteFixedHeader(new byte[16]); // struct ifinfomsg, all zero (strict dump checking)
        w.EndMessage();
        s.Transmit(w.Written);
        return ReadUntilEnd(s);
    }

    // Every datagram up to the one holding NLMSG_DONE or NLMSG_ERROR (the ACK or the error).
    private static List<byte[]> ReadUntilEnd(GenericNetlinkSocket s)
    {
        var datagrams = new List<byte[]>();
        while (true)
        {
            byte[] d = s.ReceiveDatagram().ToArray();
            datagrams.Add(d);
            foreach (NetlinkMessage m in new NetlinkMessageReader(d))
            {
                if (m.Type is NLMSG_DONE or NLMSG_ERROR)
                {
                    return datagrams;
                }
            }
        }
    }

    private static void Save(string dir, string name, List<byte[]> datagrams) =>
        File.WriteAllBytes(Path.Combine(dir, name + ".bin"), datagrams.SelectMany(d => d).ToArray());
}
