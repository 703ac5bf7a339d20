using System.Diagnostics;

namespace Devmem.Netlink.Tests;

// Locating and running the repository's programs and scripts from a test.
internal static class Tools
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("DEVMEM_ROOT");
        if (env is not null && File.Exists(Path.Combine(env, "Devmem.slnx")))
        {
            return env;
        }

        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Devmem.slnx")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("Devmem.slnx not found above " + AppContext.BaseDirectory);
    }

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

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 5 minutes");
        }

        return new Result(p.ExitCode, stdout, stderr.Result);
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
