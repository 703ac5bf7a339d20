using System.Globalization;
using System.Runtime.InteropServices;
using Devmem.Sys;

namespace Devmem.Memory;

/// <summary>
/// The kernel's description of one open file, from <c>/proc/self/fdinfo/FD</c> (proc(5)). Every fd has
/// <c>pos</c>, <c>flags</c>, <c>mnt_id</c> and (since 5.14) <c>ino</c>; a dma-buf adds <c>size</c>,
/// <c>count</c>, <c>exp_name</c> and <c>name</c> (drivers/dma-buf/dma-buf.c <c>dma_buf_show_fdinfo</c>).
/// The exporter name is how the kernel says what a dma-buf is: <c>udmabuf</c>, <c>system</c> (the system
/// dma-heap), <c>nvidia</c>... A file without <c>exp_name</c> is not a dma-buf.
/// </summary>
public sealed class FdInfo
{
    private FdInfo(int fd, string text)
    {
        Fd = fd;
        Text = text;
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            string key = line[..colon];
            string value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "exp_name":
                    ExporterName = value;
                    break;
                case "name":
                    Name = value;
                    break;
                case "size" when long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long size):
                    Size = size;
                    break;
                case "ino" when ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong ino):
                    Inode = ino;
                    break;
                case "flags" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _):
                    // Octal in the file: parse it as such.
                    Flags = Convert.ToInt32(value, 8);
                    break;
            }
        }
    }

    /// <summary>The fd this describes.</summary>
    public int Fd { get; }

    /// <summary>The file's text, verbatim.</summary>
    public string Text { get; }

    /// <summary>The dma-buf exporter's name (<c>exp_name:</c>); null if the fd is not a dma-buf.</summary>
    public string? ExporterName { get; }

    /// <summary>The dma-buf's name as set with DMA_BUF_SET_NAME (<c>name:</c>); null if absent.</summary>
    public string? Name { get; }

    /// <summary>The dma-buf's size in bytes (<c>size:</c>); null if the fd is not a dma-buf.</summary>
    public long? Size { get; }

    /// <summary>The inode number (<c>ino:</c>, Linux 5.14+); null on older kernels.</summary>
    public ulong? Inode { get; }

    /// <summary>The open flags (<c>flags:</c>, octal in the file), e.g. O_RDWR | O_CLOEXEC.</summary>
    public int Flags { get; }

    /// <summary>True when the kernel reports an exporter, i.e. the fd is a dma-buf.</summary>
    public bool IsDmabuf => ExporterName is not null;

    /// <summary>Reads <c>/proc/self/fdinfo/FD</c> for an open handle.</summary>
    /// <exception cref="DmabufException">The file cannot be read (the fd is closed, or /proc is not mounted).</exception>
    public static FdInfo Read(SafeHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        using FdLease fd = Syscalls.Enter(handle);
        return Read(fd.Fd);
    }

    /// <summary>Reads <c>/proc/self/fdinfo/FD</c> for a raw fd.</summary>
    /// <exception cref="DmabufException">The file cannot be read.</exception>
    public static FdInfo Read(int fd)
    {
        string path = "/proc/self/fdinfo/" + fd.ToString(CultureInfo.InvariantCulture);
        try
        {
            return new FdInfo(fd, File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DmabufException.Refused("read " + path, $"cannot read the kernel's fd description: {e.Message}",
                "is /proc mounted, and is the fd open?");
        }
    }
}
