namespace Devmem.Guest.Tests;

/// <summary>The guest sees the host read-only, and may write only artifacts/ and its tmpfs scratch areas.</summary>
[Tier(Tier.Guest)]
[Nic(Nic.Any)]
public sealed class FileSystemTests
{
    private const int EROFS = 30; // asm-generic/errno-base.h

    /// <summary>The mount that holds <paramref name="path"/>: (file system type, options) from /proc/self/mounts.</summary>
    private static (string Type, string[] Options) MountOf(string path)
    {
        (string Point, string Type, string[] Options) best = ("", "", []);
        foreach (var line in File.ReadAllLines("/proc/self/mounts"))
        {
            var f = line.Split(' ');
            // Mount points escape spaces as \040 (fs/proc_namespace.c, mangle()); ours have none.
            var point = f[1];
            var under = point == "/" || path == point || path.StartsWith(point + "/", StringComparison.Ordinal);
            if (under && point.Length >= best.Point.Length)
            {
                best = (point, f[2], f[3].Split(','));
            }
        }
        return (best.Type, best.Options);
    }

    [Fact]
    public void Host_root_is_read_only()
    {
        Guest.Require();
        var (type, options) = MountOf(Guest.Root);
        Assert.Equal("9p", type);
        Assert.Contains("ro", options);

        var probe = Path.Combine(Guest.Root, $"vm-write-probe-{Environment.ProcessId}");
        var e = Assert.ThrowsAny<IOException>(() => File.WriteAllText(probe, "must not land on the host"));
        Assert.Equal(EROFS, e.HResult);
        Assert.False(File.Exists(probe));
    }

    [Fact]
    public void Artifacts_are_writable_at_the_same_path()
    {
        Guest.Require();
        var artifacts = Path.Combine(Guest.Root, "artifacts");
        var (type, options) = MountOf(artifacts);
        Assert.Equal("9p", type);
        Assert.Contains("rw", options);

        var dir = Path.Combine(artifacts, "vm");
        Directory.CreateDirectory(dir);
        var probe = Path.Combine(dir, $"guest-write-probe-{Guid.NewGuid():N}");
        var text = $"written by the {Guest.Series} guest";
        File.WriteAllText(probe, text);
        try
        {
            Assert.Equal(text, File.ReadAllText(probe));
        }
        finally
        {
            File.Delete(probe);
        }
    }

    [Fact]
    public void Scratch_areas_are_tmpfs()
    {
        Guest.Require();
        foreach (var path in new[] { "/tmp", "/run", Environment.GetEnvironmentVariable("HOME")! })
        {
            Assert.Equal("tmpfs", MountOf(path).Type);
            var probe = Path.Combine(path, $"probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "x");
            File.Delete(probe);
        }
    }
}
