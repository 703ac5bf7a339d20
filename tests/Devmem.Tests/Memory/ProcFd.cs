using System.Globalization;

namespace Devmem.Tests.Memory;

/// <summary>What the kernel says this process has open and mapped (proc(5)), to check for leaks by name.</summary>
internal static class ProcFd
{
    /// <summary>fds whose /proc/self/fd link contains <paramref name="text"/>.</summary>
    public static List<int> FdsLinkingTo(string text)
    {
        var found = new List<int>();
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                string? target = new FileInfo(entry).LinkTarget;
                if (target is not null && target.Contains(text, StringComparison.Ordinal))
                {
                    found.Add(int.Parse(Path.GetFileName(entry), CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // closed between listing and reading: not ours
            }
        }
        return found;
    }

    /// <summary>Lines of /proc/self/maps that contain <paramref name="text"/>.</summary>
    public static List<string> MappingsOf(string text) =>
        File.ReadAllLines("/proc/self/maps").Where(l => l.Contains(text, StringComparison.Ordinal)).ToList();

    /// <summary>A memfd name no other test uses.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";
}
