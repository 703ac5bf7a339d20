// devmem-info: shows what the kernel's netdev family knows about devices, queues, NAPI instances,
// page pools and queue statistics, in the kernel's own terms. --json prints exactly what the kernel's
// YNL CLI prints with --output-json for the same dump (tools/net/ynl/pyynl/cli.py), so the two can be
// swapped in scripts. 'doctor' says whether devmem RX can work here and what to fix (Devmem.Diagnostics).

using System.Globalization;
using System.Text;
using Devmem.Diagnostics;
using Devmem.Netlink;
using Devmem.Netlink.Netdev;

namespace Devmem.Cli;

internal static class Program
{
    private const string Usage = """
        Usage: devmem-info COMMAND [--ifname NAME] [--json] [--scope device|queue]
               devmem-info [COMMAND] --help

        Shows the kernel's netdev state relevant to devmem TCP (netdev generic netlink family).

        Commands:
          doctor     can devmem RX (and io_uring zcrx) work here? Host and
                     per-interface checks, each with its fix (see docs/doctor.md)
          dev        devices: XDP and AF_XDP features          (netdev dev-get)
          queue      RX/TX queues: NAPI id, bound dma-buf id or
                     io_uring instance and its rx-buf-len       (netdev queue-get)
          napi       NAPI instances: irq, thread, IRQ deferral  (netdev napi-get)
          page-pool  page pools: inflight pages, dma-buf id,
                     io_uring provider and its rx-buf-len       (netdev page-pool-get)
          qstats     device or per-queue statistics             (netdev qstats-get)

        Options:
          --ifname NAME   only this interface (unknown name: error, exit 1)
          --json          print the dump as the kernel's YNL CLI does with --output-json;
                          doctor: the report in the schema of docs/doctor.md
          --scope S       qstats only: device (default) or queue
          --help          show this text and exit
        Options take --opt=VALUE too; --json=0 is off.

        Exit status: 0 success, 1 the kernel or the system refused (one-line reason), 2 bad usage.
        doctor: 0 when devmem RX is possible on --ifname (without it: on some interface), else 1.
        """;

    private static readonly Dictionary<string, string> Operations = new(StringComparer.Ordinal)
    {
        ["dev"] = "dev-get",
        ["queue"] = "queue-get",
        ["napi"] = "napi-get",
        ["page-pool"] = "page-pool-get",
        ["qstats"] = "qstats-get",
    };

    private static int Main(string[] args)
    {
        CliProcess.Start("devmem-info");
        try
        {
            if (!TryParse(args, out Options? o, out string? usageError))
            {
                Console.Error.WriteLine($"devmem-info: {usageError}. Run 'devmem-info --help' for usage.");
                return 2;
            }

            if (o is null)
            {
                Console.Out.Write(Usage);
                return 0;
            }

            return Run(o);
        }
        catch (Exception e) when (e is NetlinkException or NetlinkNotSupportedException or NetlinkProtocolException or NetlinkDumpInterruptedException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("devmem-info: " + CliProcess.OneLine(e.Message));
            return 1;
        }
        catch (Exception e)
        {
            // The last catch: whatever else escaped is one line, never a stack trace.
            Console.Error.WriteLine(CliProcess.Unexpected(e));
            return 1;
        }
    }

    private sealed record Options(string Command, string? Ifname, bool Json, NetdevQstatsScope Scope);

    // Options as --opt VALUE or --opt=VALUE; --json alone, or --json=1/0; --help (or -h) anywhere, also
    // after a command ("devmem-info doctor --help"): options null and no error.
    private static bool TryParse(string[] args, out Options? options, out string? error)
    {
        options = null;
        error = null;
        string? command = null, ifname = null;
        bool json = false;
        NetdevQstatsScope scope = NetdevQstatsScope.Device;
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i], value = "";
            bool hasValue = false;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (name.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
                hasValue = true;
            }

            switch (name)
            {
                case "--help" or "-h":
                    error = hasValue ? "--help takes no value" : null;
                    return !hasValue;
                case "--json":
                    try
                    {
                        json = !hasValue || CliProcess.ParseSwitch(name, value);
                    }
                    catch (UsageException e)
                    {
                        error = e.Message;
                        return false;
                    }

                    break;
                case "--ifname" or "--scope" when !hasValue && i + 1 >= args.Length:
                    error = $"{name} needs a value";
                    return false;
                case "--ifname":
                    ifname = hasValue ? value : args[++i];
                    if (Devmem.Netlink.InterfaceNames.Problem(ifname) is { } problem)
                    {
                        error = $"--ifname {Devmem.Netlink.InterfaceNames.Describe(ifname, problem)}";
                        return false;
                    }

                    break;
                case "--scope":
                    string s = hasValue ? value : args[++i];
                    if (s is not ("device" or "queue"))
                    {
                        error = $"--scope must be 'device' or 'queue', not '{s}'";
                        return false;
                    }

                    scope = s == "queue" ? NetdevQstatsScope.Queue : NetdevQstatsScope.Device;
                    break;
                default:
                    if (command is null && !hasValue && (Operations.ContainsKey(name) || name == "doctor"))
                    {
                        command = name;
                        break;
                    }

                    error = name.StartsWith('-') ? $"unknown option '{name}'" : $"unknown argument '{args[i]}'";
                    return false;
            }
        }

        if (command is null)
        {
            error = "missing command (doctor, dev, queue, napi, page-pool or qstats)";
            return false;
        }

        if (scope == NetdevQstatsScope.Queue && command != "qstats")
        {
            error = "--scope applies to qstats only";
            return false;
        }

        options = new Options(command, ifname, json, scope);
        return true;
    }

    private static int Run(Options o)
    {
        if (o.Command == "doctor")
        {
            return Doctor(o);
        }

        Dictionary<int, string> names = InterfaceNames();
        int? ifindex = null;
        if (o.Ifname is not null)
        {
            KeyValuePair<int, string> match = names.FirstOrDefault(kv => kv.Value == o.Ifname);
            if (match.Value is null)
            {
                Console.Error.WriteLine($"devmem-info: no interface named '{o.Ifname}' in this network namespace (see 'ip link').");
                return 1;
            }

            ifindex = match.Key;
        }

        using NetdevClient client = NetdevClient.Open();
        string operation = Operations[o.Command];
        if (o.Json)
        {
            Console.Out.WriteLine(Retry(() => client.DumpAsYnlJson(operation, ifindex, o.Scope)));
            return 0;
        }

        Table table = o.Command switch
        {
            "dev" => DevTable(Retry(client.GetDevices).Where(d => ifindex is null || d.Ifindex == ifindex), names),
            "queue" => QueueTable(Retry(() => client.GetQueues(ifindex)), names),
            "napi" => NapiTable(Retry(() => client.GetNapis(ifindex)), names),
            "page-pool" => PagePoolTable(Retry(() => client.GetPagePools(ifindex)), names),
            _ => QstatsTable(Retry(() => client.GetQueueStats(ifindex, o.Scope)), names, o.Scope),
        };
        Console.Out.Write(table.Render());
        return 0;
    }

    private static int Doctor(Options o)
    {
        DoctorReport report;
        try
        {
            report = DevmemDoctor.Examine(o.Ifname);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine("devmem-info: " + e.Message.Split(" (Parameter", 2)[0]);
            return 1;
        }

        Console.Out.Write(o.Json ? report.ToJson() + "\n" : RenderDoctor(report));
        return report.DevmemRxPossible ? 0 : 1;
    }

    // ✓ pass, ✗ fail (blocks devmem RX), ! warning (does not block), – not applicable.
    private static string RenderDoctor(DoctorReport report)
    {
        var sb = new StringBuilder();
        int width = report.Host.Checks.Concat(report.Zcrx.Checks).Concat(report.Interfaces.SelectMany(i => i.ZcrxCheck is { } z ? [.. i.Checks, z] : i.Checks))
            .Max(c => c.Title.Length) + 2;
        Section(sb, $"host: Linux {report.Host.KernelRelease}", report.Host.Checks, width);
        Section(sb, "host: io_uring zcrx", report.Zcrx.Checks, width);
        foreach (DoctorInterfaceReport d in report.Interfaces)
        {
            Section(sb, $"{d.Name} (ifindex {d.Ifindex.ToString(CultureInfo.InvariantCulture)}): devmem RX {(report.IsPossibleOn(d) ? "possible" : "not possible")}, " +
                $"io_uring zcrx {(report.IsZcrxPossibleOn(d) ? "possible" : "not possible")}", d.ZcrxCheck is { } z ? [.. d.Checks, z] : d.Checks, width);
        }

        sb.Append(report.Explain()).Append('\n');
        sb.Append(report.ExplainZcrx()).Append('\n');
        return sb.ToString();

        static void Section(StringBuilder sb, string head, IReadOnlyList<DoctorCheck> checks, int width)
        {
            sb.Append(head).Append('\n');
            foreach (DoctorCheck c in checks)
            {
                string mark = c.Status switch { DoctorStatus.Pass => "✓", DoctorStatus.Fail => "✗", DoctorStatus.Warn => "!", _ => "–" };
                sb.Append("  ").Append(mark).Append(' ').Append(c.Title.PadRight(width)).Append(c.Detail).Append('\n');
                if (c.Fix is not null && c.Status is DoctorStatus.Fail or DoctorStatus.Warn)
                {
                    sb.Append(' ', 4 + width).Append("fix: ").Append(c.Fix).Append('\n');
                }
            }

            sb.Append('\n');
        }
    }

    // An interrupted dump (NLM_F_DUMP_INTR) is retried: the kernel's lists changed during the dump.
    private static T Retry<T>(Func<T> dump)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return dump();
            }
            catch (NetlinkDumpInterruptedException) when (attempt < 3)
            {
            }
        }
    }

    private static Dictionary<int, string> InterfaceNames()
    {
        var names = new Dictionary<int, string>();
        foreach (string dir in Directory.GetDirectories("/sys/class/net"))
        {
            if (int.TryParse(File.ReadAllText(Path.Combine(dir, "ifindex")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int i))
            {
                names[i] = Path.GetFileName(dir);
            }
        }

        return names;
    }

    private static string Name(Dictionary<int, string> names, int? ifindex) =>
        ifindex is int i ? names.GetValueOrDefault(i, "?") : "-";

    private static string Opt<T>(T? v) where T : struct => v is T x ? string.Format(CultureInfo.InvariantCulture, "{0}", x) : "-";

    private static string Flags<T>(T value) where T : struct, Enum
    {
        ulong bits = Convert.ToUInt64(value, CultureInfo.InvariantCulture);
        if (bits == 0)
        {
            return "-";
        }

        var parts = new List<string>();
        foreach (T f in Enum.GetValues<T>())
        {
            ulong b = Convert.ToUInt64(f, CultureInfo.InvariantCulture);
            if (b != 0 && (bits & b) == b)
            {
                parts.Add(Kebab(f.ToString()));
            }
        }

        return string.Join(',', parts);
    }

    // NetdevXdpFeatures.XskZerocopy → "xsk-zerocopy", the spec's spelling.
    private static string Kebab(string pascal)
    {
        var sb = new StringBuilder();
        foreach (char c in pascal)
        {
            if (char.IsUpper(c) && sb.Length > 0)
            {
                sb.Append('-');
            }

            sb.Append(char.ToLowerInvariant(c));
        }

        return sb.ToString();
    }

    private static Table DevTable(IEnumerable<NetdevDevice> devices, Dictionary<int, string> names)
    {
        var t = new Table("IFNAME", "IFINDEX", "XDP-FEATURES", "XDP-ZC-MAX-SEGS", "XDP-RX-METADATA", "XSK-FEATURES");
        foreach (NetdevDevice d in devices.OrderBy(d => d.Ifindex))
        {
            t.Add(Name(names, d.Ifindex), d.Ifindex.ToString(CultureInfo.InvariantCulture), Flags(d.XdpFeatures), Opt(d.XdpZeroCopyMaxSegments),
                Flags(d.XdpRxMetadataFeatures), Flags(d.XskFeatures));
        }

        return t;
    }

    private static Table QueueTable(IEnumerable<NetdevQueueInfo> queues, Dictionary<int, string> names)
    {
        var t = new Table("IFNAME", "IFINDEX", "TYPE", "ID", "NAPI-ID", "DMABUF", "IO-URING", "XSK", "RX-BUF-LEN");
        foreach (NetdevQueueInfo q in queues.OrderBy(q => q.Ifindex).ThenBy(q => q.Type).ThenBy(q => q.Id))
        {
            t.Add(Name(names, q.Ifindex), q.Ifindex.ToString(CultureInfo.InvariantCulture), q.Type == NetdevQueueType.Rx ? "rx" : "tx",
                q.Id.ToString(CultureInfo.InvariantCulture), Opt(q.NapiId), Opt(q.DmabufId), q.HasIoUring ? "yes" : "-", q.HasXsk ? "yes" : "-", Opt(q.IoUringRxBufferLength));
        }

        return t;
    }

    private static Table NapiTable(IEnumerable<NetdevNapi> napis, Dictionary<int, string> names)
    {
        var t = new Table("IFNAME", "IFINDEX", "ID", "IRQ", "PID", "DEFER-HARD-IRQS", "GRO-FLUSH-TIMEOUT", "IRQ-SUSPEND-TIMEOUT", "THREADED");
        foreach (NetdevNapi n in napis.OrderBy(n => n.Ifindex).ThenBy(n => n.Id))
        {
            t.Add(Name(names, n.Ifindex), n.Ifindex.ToString(CultureInfo.InvariantCulture), n.Id.ToString(CultureInfo.InvariantCulture), Opt(n.Irq), Opt(n.Pid),
                Opt(n.DeferHardIrqs), Opt(n.GroFlushTimeoutNs), Opt(n.IrqSuspendTimeoutNs), n.Threaded is NetdevNapiThreaded th ? Kebab(th.ToString()) : "-");
        }

        return t;
    }

    private static Table PagePoolTable(IEnumerable<NetdevPagePool> pools, Dictionary<int, string> names)
    {
        var t = new Table("IFNAME", "IFINDEX", "ID", "NAPI-ID", "INFLIGHT", "INFLIGHT-MEM", "DETACH-TIME", "DMABUF", "IO-URING", "RX-BUF-LEN");
        foreach (NetdevPagePool p in pools.OrderBy(p => p.Ifindex).ThenBy(p => p.Id))
        {
            t.Add(Name(names, p.Ifindex), Opt(p.Ifindex), p.Id.ToString(CultureInfo.InvariantCulture), Opt(p.NapiId), Opt(p.Inflight), Opt(p.InflightMemory),
                Opt(p.DetachTime), Opt(p.DmabufId), p.HasIoUring ? "yes" : "-", Opt(p.IoUringRxBufferLength));
        }

        return t;
    }

    private static Table QstatsTable(IReadOnlyList<NetdevQueueStats> stats, Dictionary<int, string> names, NetdevQstatsScope scope)
    {
        // Columns: the counters any record reports, in the spec's order.
        string[] counters = NetdevQueueStats.KnownCounters.Where(c => stats.Any(s => s.Counters.ContainsKey(c))).ToArray();
        string[] head = scope == NetdevQstatsScope.Queue ? ["IFNAME", "IFINDEX", "QUEUE-TYPE", "QUEUE-ID"] : ["IFNAME", "IFINDEX"];
        var t = new Table([.. head, .. counters.Select(c => c.ToUpperInvariant())]);
        foreach (NetdevQueueStats s in stats.OrderBy(s => s.Ifindex).ThenBy(s => s.QueueType).ThenBy(s => s.QueueId))
        {
            List<string> row = [Name(names, s.Ifindex), s.Ifindex.ToString(CultureInfo.InvariantCulture)];
            if (scope == NetdevQstatsScope.Queue)
            {
                row.Add(s.QueueType == NetdevQueueType.Tx ? "tx" : "rx");
                row.Add(Opt(s.QueueId));
            }

            row.AddRange(counters.Select(c => s.Counters.TryGetValue(c, out ulong v) ? v.ToString(CultureInfo.InvariantCulture) : "-"));
            t.Add([.. row]);
        }

        return t;
    }

    private sealed class Table(params string[] header)
    {
        private readonly List<string[]> _rows = [header];

        public void Add(params string[] row) => _rows.Add(row);

        public string Render()
        {
            if (_rows.Count == 1)
            {
                return "(none)\n";
            }

            int[] widths = Enumerable.Range(0, header.Length).Select(c => _rows.Max(r => r[c].Length)).ToArray();
            var sb = new StringBuilder();
            foreach (string[] row in _rows)
            {
                for (int c = 0; c < row.Length; c++)
                {
                    sb.Append(c == row.Length - 1 ? row[c] : row[c].PadRight(widths[c] + 2));
                }

                sb.Append('\n');
            }

            return sb.ToString();
        }
    }
}
