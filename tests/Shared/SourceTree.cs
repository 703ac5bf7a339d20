namespace Devmem.TestSupport;

/// <summary>The repository root (the directory holding Devmem.slnx): $DEVMEM_ROOT when it holds one, else the first directory above the test binary that does.</summary>
internal static class SourceTree
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("DEVMEM_ROOT") is { Length: > 0 } env && File.Exists(Path.Combine(env, "Devmem.slnx")))
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

        throw new InvalidOperationException($"cannot find the repository root (Devmem.slnx) above {AppContext.BaseDirectory}; set DEVMEM_ROOT");
    }
}
