using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Devmem.Cli.Tests;

/// <summary>
/// Every flag of both CLIs with every kind of bad value: missing, empty, -1, 0, one past the largest,
/// 2^64, full-width digits, a 16+ byte UTF-8 name. Whatever the value, the built program (run as a
/// user runs it) must exit 1 (refused at run time) or 2 (bad usage), print no stack trace or
/// "Unhandled exception", say it in at most 5 lines, and take under 5 s of CPU time (user + system, as
/// bash's <c>time</c> reports it: wall-clock time on a shared 2-core machine running VMs says more about
/// the machine than about the program; a run still going after 60 s counts as a hang). The base command line around
/// each flag is one that ends quickly whatever the value (self-tests on lo, doctor on a missing interface).
/// </summary>
[Tier(Tier.HostKernel)]
public sealed partial class ArgvPropertyTests
{
    private const string TwoTo64 = "18446744073709551616";
    private const string FullWidth = "\uff11\uff12\uff13";          // "１２３"
    private const string LongUtf8 = "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"; // 9 characters, 18 bytes

    // flag, the command line it is added to, its value one past the largest it takes.
    public static TheoryData<string, string, string[], string> Flags => new()
    {
        { "ncdevmem", "-f", [], "abcdefghijklmnop" },
        { "ncdevmem", "-f", ["-s", "127.0.0.1", "-p", "9"], "abcdefghijklmnop" },          // the client (a UTF-8 name crashed it)
        { "ncdevmem", "-f", ["-l", "-s", "127.0.0.1", "-p", "9"], "abcdefghijklmnop" },    // the server
        { "ncdevmem", "-s", ["-f", "lo"], "256.0.0.1" },
        { "ncdevmem", "-c", ["-f", "lo"], "256.0.0.1" },
        { "ncdevmem", "-p", ["-f", "lo", "-s", "127.0.0.1"], "65536" },
        { "ncdevmem", "-v", ["-f", "lo"], "257" },
        { "ncdevmem", "-t", ["-f", "lo"], "65536" },
        { "ncdevmem", "-q", ["-f", "lo"], "65536" },
        { "ncdevmem", "-z", ["-f", "lo"], "2147483648" },
        { "ncdevmem", "-b", ["-f", "lo"], "2147483648" },
        { "ncdevmem", "-l", ["-f", "lo"], "1" },
        { "ncdevmem", "-L", ["-f", "lo"], "1" },
        { "ncdevmem", "-n", ["-f", "lo"], "1" },
        { "ncdevmem", "--provider", ["-f", "lo"], "cuda:2147483648" },
        { "ncdevmem", "--fallback", ["-f", "lo"], "copy2" },
        { "ncdevmem", "--tx", ["-f", "lo", "-s", "127.0.0.1", "-p", "9"], "plain2" },
        { "ncdevmem", "--demo-bytes", ["-f", "lo"], "1099511627777" },
        { "ncdevmem", "--json", ["-f", "lo"], "2" },
        { "ncdevmem", "--verbose", ["-f", "lo"], "2" },
        { "ncdevmem", "--async", ["-f", "lo", "-s", "127.0.0.1", "-p", "9"], "2" },
        { "ncdevmem", "--demo", ["-f", "lo"], "2" },
        { "ncdevmem", "--help", ["-f", "lo"], "2" },
        { "devmem-info", "--ifname", ["doctor"], "abcdefghijklmnop" },
        { "devmem-info", "--scope", ["qstats", "--ifname", "no-such-if0"], "queue2" },
        { "devmem-info", "--json", ["doctor", "--ifname", "no-such-if0"], "2" },
        { "devmem-info", "--help", ["doctor", "--ifname", "no-such-if0"], "2" },
    };

    [Theory]
    [MemberData(nameof(Flags))]
    public async Task Every_bad_value_exits_1_or_2_in_a_few_lines_without_a_stack_trace(string cli, string flag, string[] baseArgs, string maxPlusOne)
    {
        string[] values = ["", "-1", "0", maxPlusOne, TwoTo64, FullWidth, LongUtf8];
        // --help VALUE is help (it wins over the rest of the line, exit 0): only --help=VALUE is bad.
        bool help = flag == "--help";
        var cases = new List<string[]>();
        if (!help)
        {
            cases.Add([.. baseArgs, flag]); // the value missing (for a switch: the switch alone)
        }

        foreach (string v in values)
        {
            if (!help)
            {
                cases.Add([.. baseArgs, flag, v]);             // -p VALUE, --tx VALUE; -l VALUE, --json VALUE: an operand
            }

            if (flag.StartsWith("--", StringComparison.Ordinal))
            {
                cases.Add([.. baseArgs, $"{flag}={v}"]);      // --tx=VALUE, --json=VALUE
            }
        }

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(2, Environment.ProcessorCount), CancellationToken = TestContext.Current.CancellationToken }, async (args, ct) =>
        {
            string shown = $"{cli} {string.Join(' ', args.Select(a => a.Length == 0 ? "''" : a))}";
            var clock = Stopwatch.StartNew();
            (int code, string stdout, string stderr, bool exited, double cpu) = await Run(cli, args, ct);
            double seconds = clock.Elapsed.TotalSeconds;
            string output = stdout + stderr;
            string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (!exited)
            {
                failures.Add($"{shown}: still running after {HangSeconds} s");
                return;
            }

            if (code is not (1 or 2))
            {
                failures.Add($"{shown}: exit {code}: {First(output)}");
            }

            if (output.Contains("Unhandled", StringComparison.Ordinal) || lines.Any(l => StackFrame().IsMatch(l)))
            {
                failures.Add($"{shown}: a stack trace: {First(output)}");
            }

            if (lines.Length > 5)
            {
                failures.Add($"{shown}: {lines.Length} lines: {First(output)}");
            }

            if (cpu >= 5)
            {
                failures.Add($"{shown}: took {cpu:F1} s of CPU time ({seconds:F1} s wall clock)");
            }
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Order(StringComparer.Ordinal)));
    }

    [Theory]
    [InlineData("doctor", "--help")]
    [InlineData("qstats", "-h")]
    [InlineData("--help", "doctor")]
    public void Devmem_info_help_works_after_a_command_too(string a, string b)
    {
        // "devmem-info doctor --help" was "unknown argument '--help'", exit 2.
        var (code, stdout, stderr) = Cli.Run("devmem-info", null, a, b);
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Usage: devmem-info COMMAND", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Devmem_info_takes_opt_equals_value_and_json_0_is_off()
    {
        var (code, stdout, stderr) = Cli.Run("devmem-info", null, "dev", "--ifname=lo", "--json=0");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("IFNAME", stdout, StringComparison.Ordinal);
        Assert.Contains("\nlo ", stdout, StringComparison.Ordinal);
        (code, stdout, stderr) = Cli.Run("devmem-info", null, "dev", "--ifname=lo", "--json=1");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("[", stdout, StringComparison.Ordinal);
        // lo has no queue statistics: the kernel's refusal (exit 1) shows the options were taken.
        (code, _, stderr) = Cli.Run("devmem-info", null, "qstats", "--scope=queue", "--ifname=lo");
        Assert.True(code == 1 && stderr.Contains("qstats-get", StringComparison.Ordinal), stderr);
    }

    private static string First(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "(no output)";

    private const int HangSeconds = 60;

    // bash's `time` keyword reports the child's user and system CPU seconds on stderr in this format.
    private const string CpuMarker = "devmem-argv-cpu ";

    private static async Task<(int Code, string Stdout, string Stderr, bool Exited, double CpuSeconds)> Run(string cli, string[] args, CancellationToken ct)
    {
        string exe = Path.Combine(Cli.RepoRoot, "samples", cli, "bin", "Release", "net10.0", cli);
        ProcessResult r;
        try
        {
            r = await ProcessRunner.RunAsync("bash", ["-c", $"LC_NUMERIC=C; TIMEFORMAT='{CpuMarker}%U %S'; time \"$@\"", "bash", exe, .. args],
                timeout: TimeSpan.FromSeconds(HangSeconds), cancellationToken: ct);
        }
        catch (TimeoutException)
        {
            return (-1, "", "", false, 0);   // killed with its descendants
        }

        // The program's own stderr, and the CPU time bash appended as its last line.
        string err = r.Stderr;
        int at = err.LastIndexOf(CpuMarker, StringComparison.Ordinal);
        Assert.True(at >= 0, $"bash did not report the CPU time of {cli}: {err}");
        string[] cpu = err[(at + CpuMarker.Length)..].Trim().Split(' ');
        double seconds = double.Parse(cpu[0], System.Globalization.CultureInfo.InvariantCulture) + double.Parse(cpu[1], System.Globalization.CultureInfo.InvariantCulture);
        return (r.ExitCode, r.Stdout, err[..at], true, seconds);
    }

    // "   at Namespace.Type.Method(...)": a .NET stack frame.
    [GeneratedRegex(@"^\s+at \S+\(")]
    private static partial Regex StackFrame();
}
