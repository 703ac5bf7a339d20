using System.Diagnostics;
using System.Reflection;

namespace Devmem.Cli.Tests;

/// <summary>Runs a built CLI apphost.</summary>
internal static class Cli
{
    private static readonly string Configuration =
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Devmem.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"no Devmem.slnx above {AppContext.BaseDirectory}");
    }

    public static (int ExitCode, string Stdout, string Stderr) Run(string name, string? stdin, params string[] args)
    {
        string exe = Path.Combine(RepoRoot, "samples", name, "bin", Configuration, "net10.0", name);
        Assert.True(File.Exists(exe), $"{exe} is not built");
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
        }

        p.StandardInput.Close();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{name} {string.Join(' ', args)} did not exit within 60 s");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
