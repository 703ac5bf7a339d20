using System.Text.Json.Nodes;

namespace Devmem.Netlink.Tests;

// devmem-info --json against the kernel's own YNL CLI (tools/net/ynl/pyynl/cli.py --output-json, from
// Debian's newest linux-source) for every dump devmem-info offers: same keys in the same order, same
// enum and flag names, same values. Counters that move between runs (qstats) are checked to lie
// between two YNL runs taken before and after ours.
[Tier(Tier.HostKernel)]
public class YnlComparisonTests
{
    public static TheoryData<string, string, string?, string?> Dumps => new()
    {
        { "dev", "dev-get", null, null },
        { "queue", "queue-get", null, null },
        { "napi", "napi-get", null, null },
        { "page-pool", "page-pool-get", null, null },
        { "qstats", "qstats-get", null, null },
        { "qstats", "qstats-get", null, "queue" },
        { "queue", "queue-get", "lo", null },
        { "dev", "dev-get", "lo", null },
        { "qstats", "qstats-get", "lo", "queue" },
    };

    [Theory]
    [MemberData(nameof(Dumps))]
    public void Json_matches_the_kernels_ynl_cli_field_for_field(string command, string op, string? ifname, string? scope)
    {
        Assert.SkipWhen(Tools.Ynl.Command is null, Tools.Ynl.Why);
        int? ifindex = ifname is null ? null : HostNetdevTests.SysfsInterfaces()[ifname];
        // YNL sends the filter attributes the spec's dump request has (queue/napi/qstats: ifindex; qstats: scope);
        // for dev-get, which has none, the reference is the full dump filtered by ifindex.
        var request = new List<string>();
        if (ifindex is int i && op != "dev-get")
        {
            request.Add($"\"ifindex\": {i}");
        }

        if (scope == "queue")
        {
            request.Add("\"scope\": \"queue\"");
        }

        string[] ynlArgs = ["--dump", op, "--output-json", .. request.Count > 0 ? (string[])["--json", "{" + string.Join(", ", request) + "}"] : []];
        string[] ourArgs = [command, "--json", .. ifname is null ? [] : (string[])["--ifname", ifname], .. scope is null ? [] : (string[])["--scope", scope]];

        Tools.Result before = Tools.RunYnl(ynlArgs);
        Tools.Result ours = Tools.Run(Tools.DevmemInfo, ourArgs);
        Tools.Result after = Tools.RunYnl(ynlArgs);
        if (before.ExitCode != 0)
        {
            // The kernel refused the dump (e.g. lo has no qstats: EOPNOTSUPP, bad attribute ifindex).
            // devmem-info must refuse it too, in one line carrying YNL's error line.
            string ynlLine = before.Stdout.Trim();
            Assert.StartsWith("Netlink error: ", ynlLine, StringComparison.Ordinal);
            Assert.Equal(1, ours.ExitCode);
            Assert.Empty(ours.Stdout);
            Assert.Single(ours.Stderr.TrimEnd().Split('\n'));
            int dict = ynlLine.IndexOf(" {", StringComparison.Ordinal);
            Assert.Contains(dict < 0 ? ynlLine : ynlLine[..dict], ours.Stderr, StringComparison.Ordinal);
            if (dict >= 0)
            {
                Assert.Contains(ynlLine[(dict + 1)..], ours.Stderr, StringComparison.Ordinal);
            }

            return;
        }

        Assert.True(ours.ExitCode == 0, $"devmem-info failed: {ours.Stderr}");

        JsonNode? a = Filter(JsonNode.Parse(before.Stdout), ifindex, op);
        JsonNode? b = Filter(JsonNode.Parse(after.Stdout), ifindex, op);
        JsonNode? mine = JsonNode.Parse(ours.Stdout);
        Compare(a, mine, b, "$");
        if (before.Stdout == after.Stdout && op != "dev-get")
        {
            // Nothing moved: the text itself must be identical (separators, key order, escaping).
            Assert.Equal(before.Stdout.TrimEnd(), ours.Stdout.TrimEnd());
        }
    }

    private static JsonNode? Filter(JsonNode? dump, int? ifindex, string op)
    {
        if (ifindex is null || op != "dev-get")
        {
            return dump;
        }

        return new JsonArray([.. dump!.AsArray().Where(n => (int)n!["ifindex"]! == ifindex).Select(n => n!.DeepClone())]);
    }

    // before/after are YNL's; a value that differs between them is a moving counter and ours must lie in between.
    private static void Compare(JsonNode? before, JsonNode? ours, JsonNode? after, string path)
    {
        switch (before)
        {
            case JsonArray ba:
            {
                JsonArray oa = Assert.IsType<JsonArray>(ours, exactMatch: false);
                JsonArray aa = Assert.IsType<JsonArray>(after, exactMatch: false);
                Assert.True(ba.Count == oa.Count && ba.Count == aa.Count, $"{path}: {ba.Count} entries from YNL, {oa.Count} from devmem-info");
                for (int i = 0; i < ba.Count; i++)
                {
                    Compare(ba[i], oa[i], aa[i], $"{path}[{i}]");
                }

                break;
            }

            case JsonObject bo:
            {
                JsonObject oo = Assert.IsType<JsonObject>(ours, exactMatch: false);
                JsonObject ao = Assert.IsType<JsonObject>(after, exactMatch: false);
                Assert.Equal(bo.Select(kv => kv.Key), oo.Select(kv => kv.Key)); // same keys, same order
                foreach ((string key, JsonNode? value) in bo)
                {
                    Compare(value, oo[key], ao[key], $"{path}.{key}");
                }

                break;
            }

            default:
            {
                string b = before?.ToJsonString() ?? "null", o = ours?.ToJsonString() ?? "null", a = after?.ToJsonString() ?? "null";
                if (b == a)
                {
                    Assert.True(b == o, $"{path}: YNL says {b}, devmem-info says {o}");
                }
                else
                {
                    ulong lo = (ulong)before!, hi = (ulong)after!, mine = (ulong)ours!;
                    Assert.True(lo <= mine && mine <= hi, $"{path}: devmem-info says {mine}, YNL said {lo} before and {hi} after");
                }

                break;
            }
        }
    }
}
