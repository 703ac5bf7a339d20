using System.Globalization;

namespace Devmem.Sys;

/// <summary>
/// The kernel's one-value files under /proc/sys and /sys (a sysctl, a device's ifindex, a huge-page
/// counter), read the one way: the trimmed text, or null when the file is absent or unreadable (a kernel
/// without the feature, or a process not allowed to look). The callers decide what absent means.
/// </summary>
internal static class KernelFiles
{
    /// <summary>The file's text without the kernel's trailing newline; null when it cannot be read.</summary>
    public static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The file's number; null when it cannot be read or does not parse.</summary>
    public static long? ReadNumber(string path) =>
        long.TryParse(ReadText(path), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null;

    /// <summary>The running kernel's release (/proc/sys/kernel/osrelease), read once.</summary>
    public static string KernelRelease => s_release.Value;

    private static readonly Lazy<string> s_release = new(() =>
        ReadText("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.Version.ToString());
}
