namespace Devmem.Netlink.Tests;

// Locating and running the repository's programs and scripts from a test.
internal static class Tools
{
    public static string RepoRoot => SourceTree.Root;

    /// <summary>samples/devmem-info's built executable (scripts/test.sh builds the solution first).</summary>
    public static string DevmemInfo
    {
        get
        {
            foreach (string config in (string[])["Release", "Debug"])
            {
                string p = Path.Combine(RepoRoot, "samples/devmem-info/bin", config, "net10.0/devmem-info");
                if (File.Exists(p))
                {
                    return p;
                }
            }

            throw new InvalidOperationException("devmem-info is not built: run 'dotnet build -c Release Devmem.slnx'.");
        }
    }

    /// <summary>
    /// A copy of devmem-info's build output that any user can run: the checkout may be where an
    /// unprivileged user cannot go (under /root, mode 700). The copy is in a fresh directory under
    /// /tmp (sticky, world-traversable) made readable to all; dispose it to delete it.
    /// </summary>
    public sealed class WorldReadableDevmemInfo : IDisposable
    {
        private readonly DirectoryInfo _dir;

        public WorldReadableDevmemInfo()
        {
            string source = Path.GetDirectoryName(DevmemInfo)!;
            _dir = Directory.CreateDirectory(Path.Combine("/tmp", $"devmem-info-{Environment.ProcessId}-{Guid.NewGuid():N}"));
            foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                string target = Path.Combine(_dir.FullName, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }

            Result chmod = Run("chmod", "-R", "a+rX", _dir.FullName);
            if (chmod.ExitCode != 0)
            {
                throw new InvalidOperationException($"chmod -R a+rX {_dir.FullName}: {chmod.Stderr}");
            }

            Executable = Path.Combine(_dir.FullName, Path.GetFileName(DevmemInfo));
        }

        /// <summary>The copied executable.</summary>
        public string Executable { get; }

        public void Dispose() => _dir.Delete(recursive: true);
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs a program to its end, at most 5 minutes (tests/Shared/ProcessRunner.cs).</summary>
    public static Result Run(string file, params string[] args)
    {
        ProcessResult r = ProcessRunner.Run(file, args, timeout: TimeSpan.FromMinutes(5));
        return new Result(r.ExitCode, r.Stdout, r.Stderr);
    }

    private static readonly Dictionary<string, (string[]? Command, string Why)> s_ynl = [];

    /// <summary>The kernel's YNL CLI command for a family's spec (scripts/ynl.sh), or why it is unavailable.</summary>
    public static (string[]? Command, string Why) YnlFor(string family)
    {
        lock (s_ynl)
        {
            if (!s_ynl.TryGetValue(family, out (string[]?, string) v))
            {
                Result r = Run(Path.Combine(RepoRoot, "scripts/ynl.sh"), family);
                string line = r.Stdout.Trim().Split('\n').LastOrDefault() ?? "";
                v = r.ExitCode == 0 && line.StartsWith("python3 ", StringComparison.Ordinal)
                    ? (line.Split(' ', StringSplitOptions.RemoveEmptyEntries), "")
                    : (null, $"scripts/ynl.sh could not provide the kernel's YNL CLI (exit {r.ExitCode}): {r.Stderr.Trim()}");
                s_ynl[family] = v;
            }

            return v;
        }
    }

    /// <summary>The kernel's YNL CLI command for the netdev spec, or why it is unavailable.</summary>
    public static (string[]? Command, string Why) Ynl => YnlFor("netdev");

    public static Result RunYnl(params string[] args) => RunYnlFor("netdev", args);

    public static Result RunYnlFor(string family, params string[] args)
    {
        (string[]? cmd, string why) = YnlFor(family);
        return cmd is null ? throw new InvalidOperationException(why) : Run(cmd[0], [.. cmd[1..], .. args]);
    }
}
