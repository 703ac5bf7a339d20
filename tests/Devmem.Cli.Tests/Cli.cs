using System.Reflection;

namespace Devmem.Cli.Tests;

/// <summary>Runs a built CLI apphost (tests/Shared/ProcessRunner.cs; at most 60 s).</summary>
internal static class Cli
{
    private static readonly string Configuration =
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    public static string RepoRoot => SourceTree.Root;

    public static (int ExitCode, string Stdout, string Stderr) Run(string name, string? stdin, params string[] args)
    {
        string exe = Path.Combine(RepoRoot, "samples", name, "bin", Configuration, "net10.0", name);
        Assert.True(File.Exists(exe), $"{exe} is not built");
        ProcessResult r = ProcessRunner.Run(exe, args, stdin, TimeSpan.FromSeconds(60));
        return (r.ExitCode, r.Stdout, r.Stderr);
    }
}
