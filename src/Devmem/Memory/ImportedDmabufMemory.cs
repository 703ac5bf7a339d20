using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Memory;

/// <summary>Who owns the fd an <see cref="ImportedDmabufMemory"/> is made from.</summary>
public enum DmabufOwnership
{
    /// <summary>
    /// The import dup()s the fd (F_DUPFD_CLOEXEC) and owns only its copy: the caller keeps its own fd and
    /// must still close it. The dma-buf lives until both are closed.
    /// </summary>
    Duplicate,
    /// <summary>
    /// The import takes the caller's fd: from the call on, the caller must not use or close it, whether the
    /// import succeeds or throws (on failure the import closes it).
    /// </summary>
    Take,
}

/// <summary>
/// A dma-buf made elsewhere (another library, another process via SCM_RIGHTS) and handed in as an fd.
/// The fd is checked to be a dma-buf (its fdinfo has <c>exp_name:</c>); its size and exporter come from
/// the kernel. The CPU mapping is attempted; exporters that refuse mmap (GPU memory usually does) leave
/// the import usable for binding but without <see cref="DeviceMemory.CopyFrom"/>/<see cref="DeviceMemory.CopyTo"/>.
/// </summary>
public sealed class ImportedDmabufMemory : DeviceMemory
{
    private readonly string? _noMappingReason;

    private ImportedDmabufMemory(long size, SafeDmabufHandle dmabuf, SafeMappingHandle? mapping, string exporter, ulong inode, string? noMappingReason)
        : base(MemoryProviderKind.Imported, size, dmabuf, mapping, null, exporter, inode)
    {
        _noMappingReason = noMappingReason;
    }

    /// <summary>Why the dma-buf could not be mapped into this process; null when it is mapped.</summary>
    public string? MappingError => _noMappingReason;

    private protected override string? NoMappingReason => _noMappingReason;

    /// <summary>Imports the dma-buf behind <paramref name="fd"/>.</summary>
    /// <param name="fd">An open dma-buf fd.</param>
    /// <param name="ownership">
    /// <see cref="DmabufOwnership.Duplicate"/>: the import works on a dup and <paramref name="fd"/> stays the
    /// caller's. <see cref="DmabufOwnership.Take"/>: <paramref name="fd"/> is disposed by the import (right
    /// away, after taking a dup of it), success or failure.
    /// </param>
    /// <exception cref="DmabufException">The fd is not a dma-buf, or dup failed.</exception>
    public static ImportedDmabufMemory Import(SafeHandle fd, DmabufOwnership ownership)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ObjectDisposedException.ThrowIf(fd.IsClosed, fd);
        SafeDmabufHandle own;
        try
        {
            own = Native.Duplicate(fd);
        }
        finally
        {
            if (ownership == DmabufOwnership.Take)
            {
                fd.Dispose();
            }
        }
        return FromOwned(own);
    }

    /// <summary>Imports the dma-buf behind a raw fd number.</summary>
    /// <param name="fd">An open dma-buf fd.</param>
    /// <param name="ownership">
    /// <see cref="DmabufOwnership.Duplicate"/>: <paramref name="fd"/> stays the caller's.
    /// <see cref="DmabufOwnership.Take"/>: the import owns <paramref name="fd"/> from this call on and closes it,
    /// on failure too.
    /// </param>
    /// <exception cref="DmabufException">The fd is not a dma-buf, or dup failed.</exception>
    public static ImportedDmabufMemory DangerousImport(int fd, DmabufOwnership ownership)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        if (ownership == DmabufOwnership.Take)
        {
            return FromOwned(new SafeDmabufHandle(fd, ownsHandle: true));
        }
        using var borrowed = new SafeDmabufHandle(fd, ownsHandle: false);
        return FromOwned(Native.Duplicate(borrowed));
    }

    private static ImportedDmabufMemory FromOwned(SafeDmabufHandle dmabuf)
    {
        SafeMappingHandle? mapping = null;
        try
        {
            FdInfo info = FdInfo.Read(dmabuf);
            if (!info.IsDmabuf || info.Size is not long size)
            {
                string target = DescribeTarget(info.Fd);
                throw DmabufException.Refused($"import fd {info.Fd}",
                    $"not a dma-buf: /proc/self/fdinfo/{info.Fd} has no exp_name line (the fd is {target})",
                    "pass the fd a dma-buf exporter returned (UDMABUF_CREATE, DMA_HEAP_IOCTL_ALLOC, cuMemGetHandleForAddressRange...)");
            }
            string? mapError = null;
            try
            {
                mapping = Native.Map(dmabuf, size, "imported dma-buf (" + info.ExporterName + ")");
            }
            catch (DmabufException e)
            {
                mapError = e.Message;
            }
            return new ImportedDmabufMemory(size, dmabuf, mapping, info.ExporterName!, Native.Inode(dmabuf), mapError);
        }
        catch
        {
            mapping?.Dispose();
            dmabuf.Dispose();
            throw;
        }
    }

    private static string DescribeTarget(int fd)
    {
        try
        {
            return new FileInfo("/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture)).LinkTarget ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
