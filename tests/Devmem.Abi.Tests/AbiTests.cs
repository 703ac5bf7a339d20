using System.Text;
using System.Text.RegularExpressions;
using Devmem.Interop;

namespace Devmem.Abi.Tests;

/// <summary>
/// The layouts and values of Devmem.Interop, compiled by gcc as _Static_asserts against the kernel's own
/// uapi headers (Debian's linux-libc-dev: trixie's 6.12 and the newest of sid and trixie-backports).
/// Nothing here is a hand-copied number: expected values come from the headers, actual ones from the
/// C# declarations by reflection.
/// </summary>
[Tier(Tier.Abi)]
public sealed partial class AbiTests(ITestOutputHelper output)
{
    private static readonly AbiModel Model = AbiModel.Build();

    [Fact]
    public void Every_declaration_of_the_interop_assembly_is_mapped_onto_a_header()
    {
        Assert.True(Model.Problems.Count == 0, "declarations the ABI test cannot check:\n" + string.Join('\n', Model.Problems));
        Assert.NotEmpty(Model.Units);
        foreach (string m in Model.ManagedOnly)
        {
            output.WriteLine($"managed only (no C counterpart): {m}");
        }
        output.WriteLine($"{Model.Units.Count} units: {Model.StructCount} structs, {Model.FieldCount} fields, {Model.ConstantCount} constants, {Model.FunctionCount} P/Invoke signatures; {Model.NotInUapi.Count} [NotInUapi]");
    }

    [Theory]
    [InlineData("6.12")]
    [InlineData("newest")]
    public void The_fetched_headers_are_the_ones_gcc_reads(string series)
    {
        HeaderSet h = HeaderSet.Get(series);
        string dir = Repo.WorkDir($"{series}-{h.Triplet}");
        // LINUX_VERSION_CODE of the fetched set must be the package's kernel version: the machine's own
        // linux-libc-dev (another version) would fail this.
        string src = "#include <linux/version.h>\n" +
            $"_Static_assert(LINUX_VERSION_CODE == KERNEL_VERSION({h.Kernel.Major}, {h.Kernel.Minor}, {h.Kernel.Build}), " +
            $"\"linux/version.h is not linux-libc-dev {h.PackageVersion}'s\");\n";
        ProcessResult r = Gcc.SyntaxCheck(src, h, dir, "version");
        Assert.True(r.ExitCode == 0, $"{h}: {r.Stderr}");

        // And every kernel header that any unit includes is read from the fetched set, not /usr/include.
        // Units are compiled one at a time because some glibc and uapi headers clash, so ask gcc -M
        // for each unit's headers and collect the union.
        var kernelDeps = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Unit u in Model.Units)
        {
            var (usrc, _) = Gcc.Render(u.TypeName, u.Headers, []);
            foreach (string d in Gcc.Dependencies(usrc, h, dir, "deps"))
            {
                if (Regex.IsMatch(d, @"/(linux|asm|asm-generic)/[^/]+\.h$"))
                {
                    kernelDeps.Add(d);
                }
            }
        }
        string[] foreign = kernelDeps.Where(d => !Path.GetFullPath(d).StartsWith(h.Root + "/", StringComparison.Ordinal)).ToArray();
        Assert.True(foreign.Length == 0, $"{h}: these kernel headers came from outside the fetched set:\n{string.Join('\n', foreign)}");
        Assert.NotEmpty(kernelDeps);
        output.WriteLine($"{h}: LINUX_VERSION_CODE is KERNEL_VERSION({h.Kernel.Major},{h.Kernel.Minor},{h.Kernel.Build}); {kernelDeps.Count} kernel headers read, all under {h.Root}");
    }

    [Theory]
    [InlineData("6.12", "x86_64-linux-gnu")]
    [InlineData("newest", "x86_64-linux-gnu")]
    [InlineData("newest", "aarch64-linux-gnu")]
    public void Every_struct_field_and_constant_matches_the_kernel_headers(string series, string triplet)
    {
        HeaderSet h = HeaderSet.Get(series, triplet);
        string dir = Repo.WorkDir($"{series}-{triplet}");
        bool arm = triplet != "x86_64-linux-gnu";
        var failures = new List<string>();
        int structs = 0, fields = 0, constants = 0, functions = 0, macros = 0, notYet = 0, glibcSkipped = 0;
        foreach (Unit u in Model.Units)
        {
            if (arm && !u.UapiOnly)
            {
                // glibc's headers on this machine are x86_64's: only pure-uapi units say anything about arm64.
                glibcSkipped++;
                continue;
            }
            var checks = u.Checks.Where(c => c.Since is null || c.Since <= h.Series2).ToList();
            notYet += u.Checks.Count - checks.Count;
            failures.AddRange(Compile(u.TypeName, u.Headers, checks, h, dir));
            structs += checks.Count(c => c.Kind == "struct");
            fields += checks.Count(c => c.Kind == "field");
            constants += checks.Count(c => c.Kind is "constant" or "string");
            functions += checks.Count(c => c.Kind == "function");
        }
        if (!arm)
        {
            List<Check> cmsg = CmsgMacroChecks();
            failures.AddRange(Compile("CMSG_* macros", ["sys/socket.h"], cmsg, h, dir));
            macros = cmsg.Count;
        }
        output.WriteLine($"checked against {h}: {structs} structs, {fields} fields, {constants} constants, {functions} P/Invoke signatures, {macros} CMSG_* macro values; " +
            $"{notYet} checks of [KernelSince] declarations newer than {h.Series2} left out" +
            (arm ? $"; {glibcSkipped} types declared by glibc headers left out (this machine's glibc headers are x86_64's)" : ""));
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches against {h}:\n{string.Join('\n', failures)}");
        Assert.True(structs + constants > 0, "nothing was checked");
    }

    [Fact]
    public void KernelSince_declarations_are_really_absent_from_the_6_12_headers()
    {
        HeaderSet h = HeaderSet.Get("6.12");
        string dir = Repo.WorkDir("6.12-probes");
        var lies = new List<string>();
        int probes = 0;
        foreach (Unit u in Model.Units)
        {
            // One probe per distinct subject (a member checked three ways is probed once).
            foreach (Check c in u.Checks.Where(c => c.Since is not null && c.Since > h.Series2).DistinctBy(c => (c.Subject, c.Kind == "struct")))
            {
                probes++;
                ProcessResult r = Gcc.SyntaxCheck(Gcc.Render(u.TypeName, u.Headers, [c]).Source, h, dir, "probe");
                bool absent = r.ExitCode != 0 && !r.Stderr.Contains("static assertion failed", StringComparison.Ordinal) &&
                    r.Stderr.Contains(c.Subject, StringComparison.Ordinal);
                if (!absent)
                {
                    lies.Add(r.ExitCode == 0
                        ? $"{c.Id}: [KernelSince({c.Since})] but {h} already declares {c.Subject} with this value"
                        : $"{c.Id}: [KernelSince({c.Since})] but {h} fails differently than by lacking {c.Subject}:\n{r.Stderr}");
                }
            }
        }
        output.WriteLine($"{probes} [KernelSince] declarations probed: absent from {h} as claimed");
        Assert.True(lies.Count == 0, string.Join('\n', lies));
    }

    [Theory]
    [InlineData("6.12")]
    [InlineData("newest")]
    public void NotInUapi_values_match_their_kernel_source(string series)
    {
        HeaderSet h = HeaderSet.Get(series);
        string dir = Repo.WorkDir($"{series}-notinuapi");
        var failures = new List<string>();
        var report = new StringBuilder();
        foreach (NotInUapiValue v in Model.NotInUapi)
        {
            string path = v.Source.Split(' ', 2)[0];
            if (v.Literal.Length == 0 || !KernelPath().IsMatch(path))
            {
                report.Append($"not checkable: {v.Id} ({v.Source})\n");
                continue;
            }
            string file = KernelSource.File(series, path);
            Match m = Regex.Match(File.ReadAllText(file), $@"^[ \t]*#[ \t]*define[ \t]+{Regex.Escape(v.CName)}[ \t]+([^\n]*?)[ \t]*(/\*[^\n]*)?$", RegexOptions.Multiline);
            if (!m.Success)
            {
                failures.Add($"{v.Id}: no '#define {v.CName}' in {path} of the {series} kernel source ({file})");
                continue;
            }
            var check = new Check($"{v.Id}: {v.CName} == {v.Literal} as defined in {path}", $"(({v.CType})({m.Groups[1].Value})) == ({v.CType}){v.Literal}", v.CName, null, "constant");
            failures.AddRange(Compile(v.Id, [], [check], h, dir));
            report.Append($"checked against {series} {path}: {v.Id} = {m.Groups[1].Value}\n");
        }
        output.WriteLine(report.ToString());
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void A_wrong_value_fails_the_check()
    {
        // The check must be able to fail: take real declarations, make each one wrong by one, and gcc
        // must reject exactly those assertions.
        HeaderSet h = HeaderSet.Get("newest");
        string dir = Repo.WorkDir("self-test");
        Unit unit = Model.Units.First(u => u.TypeName == typeof(dmabuf_cmsg).FullName);
        Unit consts = Model.Units.First(u => u.TypeName == typeof(asm_socket).FullName);
        Check size = unit.Checks.First(c => c.Kind == "struct");
        Check offset = unit.Checks.First(c => c.Kind == "field" && c.Subject == "frag_token");
        Check constant = consts.Checks.First(c => c.Subject == "SO_DEVMEM_DONTNEED");
        foreach ((Unit u, Check c) in new[] { (unit, size), (unit, offset), (consts, constant) })
        {
            Check wrong = c with { Id = "deliberately wrong: " + c.Id, Expr = Regex.Replace(c.Expr, @"(\d+)(ULL|LL)?$", m => (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1) + m.Groups[2].Value) };
            Assert.NotEqual(c.Expr, wrong.Expr);
            List<string> failures = Compile(u.TypeName, u.Headers, [c, wrong], h, dir);
            Assert.Single(failures);
            Assert.Contains("deliberately wrong", failures[0], StringComparison.Ordinal);
            output.WriteLine($"rejected as it should be: {wrong.Expr}");
        }

        // A P/Invoke whose return type is too narrow (recvmsg returns ssize_t, not int) is rejected too.
        Unit recv = Model.Units.First(u => u.Checks.Any(c => c.Kind == "function" && c.Subject == "recvmsg"));
        Check good = recv.Checks.Single();
        Check narrow = good with { Id = "deliberately wrong: " + good.Id, Expr = good.Expr.Replace("), long (*)(", "), int (*)(", StringComparison.Ordinal) };
        Assert.NotEqual(good.Expr, narrow.Expr);
        List<string> rejected = Compile(recv.TypeName, recv.Headers, [good, narrow], h, dir);
        Assert.Single(rejected);
        Assert.Contains("deliberately wrong", rejected[0], StringComparison.Ordinal);
        output.WriteLine("rejected as it should be: recvmsg declared as returning int");
    }

    [GeneratedRegex(@"^(include|net|drivers|arch|tools|lib|mm|fs)/[\w./-]+\.[ch]$")]
    private static partial Regex KernelPath();

    /// <summary>CMSG_ALIGN/LEN/SPACE of this assembly against glibc's macros for every length up to 256.</summary>
    private static List<Check> CmsgMacroChecks()
    {
        var checks = new List<Check>();
        for (nuint n = 0; n <= 256; n++)
        {
            checks.Add(new Check($"CMSG_ALIGN({n}) == {sys_socket_cmsg.CMSG_ALIGN(n)}", $"CMSG_ALIGN({n}) == {sys_socket_cmsg.CMSG_ALIGN(n)}", "CMSG_ALIGN", null, "macro"));
            checks.Add(new Check($"CMSG_LEN({n}) == {sys_socket_cmsg.CMSG_LEN(n)}", $"CMSG_LEN({n}) == {sys_socket_cmsg.CMSG_LEN(n)}", "CMSG_LEN", null, "macro"));
            checks.Add(new Check($"CMSG_SPACE({n}) == {sys_socket_cmsg.CMSG_SPACE(n)}", $"CMSG_SPACE({n}) == {sys_socket_cmsg.CMSG_SPACE(n)}", "CMSG_SPACE", null, "macro"));
        }
        return checks;
    }

    /// <summary>Compiles one unit; returns one line per failed assertion or other error.</summary>
    private static List<string> Compile(string title, IReadOnlyList<string> headers, List<Check> checks, HeaderSet h, string dir)
    {
        if (checks.Count == 0)
        {
            return [];
        }
        string name = Regex.Replace(title, @"[^\w.-]", "_");
        var failures = new List<string>();
        List<Check> strings = checks.Where(c => c.Kind == "string").ToList();
        if (strings.Count > 0)
        {
            failures.AddRange(CompareStrings(title, headers, strings, h, dir, name));
            checks = checks.Where(c => c.Kind != "string").ToList();
            if (checks.Count == 0)
            {
                return failures;
            }
        }
        var (source, lines) = Gcc.Render(title, headers, checks);
        ProcessResult r = Gcc.SyntaxCheck(source, h, dir, name);
        if (r.ExitCode == 0)
        {
            return failures;
        }
        foreach (Match m in Regex.Matches(r.Stderr, @"^[^\n:]+\.c:(\d+):\d+: error: ([^\n]*)$", RegexOptions.Multiline))
        {
            int line = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            failures.Add(lines.TryGetValue(line, out Check? c) ? $"{c.Id}: {m.Groups[2].Value}" : $"{title} (line {line}): {m.Groups[2].Value}");
        }
        if (failures.Count == 0)
        {
            failures.Add($"{title}: gcc exit {r.ExitCode}:\n{r.Stderr}");
        }
        return failures;
    }

    /// <summary>String macros: expanded by the preprocessor and compared here (C cannot compare strings at compile time).</summary>
    private static List<string> CompareStrings(string title, IReadOnlyList<string> headers, List<Check> strings, HeaderSet h, string dir, string name)
    {
        var (prelude, _) = Gcc.Render(title, headers, []);
        var b = new StringBuilder(prelude);
        for (int i = 0; i < strings.Count; i++)
        {
            b.Append($"__abi_string_{i}__ = {strings[i].Expr} ;\n");
        }
        ProcessResult r = Gcc.SyntaxCheck(b.ToString(), h, dir, name + ".strings", "-E", "-P");
        if (r.ExitCode != 0)
        {
            return [$"{title}: gcc -E failed:\n{r.Stderr}"];
        }
        var failures = new List<string>();
        for (int i = 0; i < strings.Count; i++)
        {
            Match m = Regex.Match(r.Stdout, $@"__abi_string_{i}__ = (.*) ;");
            string expanded = m.Success ? m.Groups[1].Value.Trim() : "";
            MatchCollection parts = Regex.Matches(expanded, @"""((?:[^""\\]|\\.)*)""");
            string actual = string.Concat(parts.Select(p => Regex.Unescape(p.Groups[1].Value)));
            if (parts.Count == 0 || actual != strings[i].Text)
            {
                failures.Add($"{strings[i].Id}: the headers expand {strings[i].Expr} to {(expanded.Length > 0 ? expanded : "nothing")}");
            }
        }
        return failures;
    }
}

/// <summary>Files of the kernel's source (Debian's linux-source), through scripts/lib/kernel-source.sh.</summary>
internal static class KernelSource
{
    public static string File(string series, string path)
    {
        ProcessResult r = Run.Process("bash",
            ["-c", "set -e; source scripts/lib/debian.sh; source scripts/lib/kernel-source.sh; kernel_source \"$1\" \"$2\"", "kernel-source", series, path],
            TimeSpan.FromMinutes(10));
        string tree = r.Stdout.Trim().Split('\n').LastOrDefault() ?? "";
        string file = Path.Combine(tree, path);
        Assert.True(r.ExitCode == 0 && System.IO.File.Exists(file),
            $"kernel_source {series} {path} failed (exit {r.ExitCode}), so [NotInUapi] values cannot be checked against it:\n{r.Stderr}");
        return file;
    }
}
