using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Devmem.Abi.Tests;

/// <summary>The repository root (the directory holding Devmem.slnx).</summary>
internal static class Repo
{
    public static string Root => SourceTree.Root;

    public static string WorkDir(string name)
    {
        string dir = Path.Combine(Root, "artifacts", "abi", name);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

internal static class Run
{
    /// <summary>Runs a program in the repository root (tests/Shared/ProcessRunner.cs).</summary>
    public static ProcessResult Process(string file, IEnumerable<string> args, TimeSpan timeout) =>
        ProcessRunner.Run(file, args, timeout: timeout, workingDirectory: Repo.Root);

    /// <summary>The full path of a program on PATH, or null.</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

/// <summary>
/// One set of kernel uapi headers: Debian's linux-libc-dev, fetched and unpacked by
/// scripts/abi-headers.sh, with the asm/ directory of one architecture.
/// </summary>
internal sealed record HeaderSet(string Series, string Root, string PackageVersion, Version Kernel, string Triplet)
{
    private static readonly Dictionary<string, Lazy<(string Root, string Version)>> Fetched = new()
    {
        ["6.12"] = new(() => Fetch("6.12")),
        ["newest"] = new(() => Fetch("newest")),
    };

    public static HeaderSet Get(string series, string triplet = "x86_64-linux-gnu")
    {
        (string root, string version) = Fetched[series].Value;
        Match m = Regex.Match(version, @"^(\d+)\.(\d+)\.(\d+)");
        Assert.True(m.Success, $"linux-libc-dev version '{version}' does not start with a kernel version");
        var kernel = new Version(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
        string archDir = Path.Combine(root, "usr", "include", triplet);
        Assert.True(Directory.Exists(Path.Combine(archDir, "asm")), $"linux-libc-dev {version} has no {triplet}/asm under {root}/usr/include");
        return new HeaderSet(series, root, version, kernel, triplet);
    }

    private static (string, string) Fetch(string series)
    {
        string script = Path.Combine(Repo.Root, "scripts", "abi-headers.sh");
        ProcessResult r = Run.Process("bash", [script, series], TimeSpan.FromMinutes(10));
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(r.ExitCode == 0 && lines.Length >= 2,
            $"scripts/abi-headers.sh {series} failed (exit {r.ExitCode}), so the kernel headers to check against cannot be had:\n{r.Stderr}{r.Stdout}");
        return (lines[0], lines[1]);
    }

    /// <summary>The fetched headers go first: arch asm/ then usr/include; glibc's own headers still come from the system.</summary>
    public IReadOnlyList<string> IncludeArgs =>
        ["-I", Path.Combine(Root, "usr", "include", Triplet), "-I", Path.Combine(Root, "usr", "include")];

    /// <summary>Major.minor, the granularity of [KernelSince].</summary>
    public Version Series2 => new(Kernel.Major, Kernel.Minor);

    public override string ToString() => $"linux-libc-dev {PackageVersion} ({Triplet}, kernel {Kernel})";
}

/// <summary>gcc, run on generated C.</summary>
internal static class Gcc
{
    public static string Path { get; } = Run.Which("gcc") ?? "";

    public static void RequirePresent() =>
        Assert.True(Path.Length > 0, "gcc is not on PATH, so the ABI cannot be checked: install gcc and libc6-dev (scripts/test.sh does, through ensure_apt)");

    /// <summary>Compiles <paramref name="source"/> with <c>-fsyntax-only</c>; returns the exit code and diagnostics.</summary>
    public static ProcessResult SyntaxCheck(string source, HeaderSet headers, string workDir, string name, params string[] extra)
    {
        RequirePresent();
        string file = System.IO.Path.Combine(workDir, name + ".c");
        File.WriteAllText(file, source);
        return Run.Process(Path, ["-std=gnu11", "-fsyntax-only", .. headers.IncludeArgs, .. extra, file], TimeSpan.FromMinutes(2));
    }

    /// <summary>The headers gcc reads for <paramref name="source"/> (<c>-M</c>).</summary>
    public static IReadOnlyList<string> Dependencies(string source, HeaderSet headers, string workDir, string name)
    {
        RequirePresent();
        string file = System.IO.Path.Combine(workDir, name + ".c");
        File.WriteAllText(file, source);
        ProcessResult r = Run.Process(Path, ["-std=gnu11", "-M", .. headers.IncludeArgs, file], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, $"gcc -M failed:\n{r.Stderr}");
        return r.Stdout.Replace("\\\n", " ", StringComparison.Ordinal).Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
            .Where(d => d.EndsWith(".h", StringComparison.Ordinal)).ToArray();
    }

    public static string Quote(string s)
    {
        var b = new StringBuilder("\"");
        foreach (char c in s)
        {
            b.Append(c switch { '"' => "\\\"", '\\' => "\\\\", _ => c.ToString() });
        }
        return b.Append('"').ToString();
    }

    /// <summary>A translation unit: the prelude, the headers, then one line per assertion (line numbers returned).</summary>
    public static (string Source, Dictionary<int, Check> Lines) Render(string title, IEnumerable<string> headers, IEnumerable<Check> checks)
    {
        var b = new StringBuilder();
        b.Append("/* generated by tests/Devmem.Abi.Tests: ").Append(title).Append(" */\n");
        b.Append("#define _GNU_SOURCE\n#include <stddef.h>\n#include <stdint.h>\n");
        foreach (string h in headers)
        {
            b.Append("#include <").Append(h).Append(">\n");
        }
        int line = b.ToString().Count(c => c == '\n') + 1;
        var lines = new Dictionary<int, Check>();
        foreach (Check c in checks)
        {
            b.Append("_Static_assert(").Append(c.Expr).Append(", ").Append(Quote(c.Id)).Append(");\n");
            lines[line++] = c;
        }
        return (b.ToString(), lines);
    }
}
