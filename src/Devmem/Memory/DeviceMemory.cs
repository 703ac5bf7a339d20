using System.Runtime.InteropServices;

namespace Devmem.Memory;

/// <summary>
/// A dma-buf and the way to reach its bytes: what ncdevmem calls a memory provider's buffer. Made by
/// <see cref="UdmabufMemory"/>, <see cref="DmaHeapMemory"/>, <see cref="CudaMemory"/>,
/// <see cref="ImportedDmabufMemory"/>, <see cref="HostMemory"/> (not a dma-buf: the copy fallback), or
/// chosen by <see cref="MemoryProviders.Auto"/>.
/// </summary>
/// <remarks>
/// <para>Ownership: this object owns every resource it made, each through its own SafeHandle.
/// <see cref="Dispose()"/> releases them in this order: the CPU mapping (munmap), then the dma-buf fd,
/// then the memfd behind it, then provider state (CUDA memory, context). A netlink binding made from
/// <see cref="DmabufHandle"/> holds its own reference to the dma-buf, so disposing this does not unbind,
/// but payload that lands afterwards can no longer be read through this object.</para>
/// <para>CPU access: <see cref="CopyFrom"/> and <see cref="CopyTo"/> bracket the copy with
/// DMA_BUF_IOCTL_SYNC START/END (Documentation/driver-api/dma-buf.rst, "CPU access to DMA buffer
/// objects"). The hot path takes <see cref="GetSpan"/> or <see cref="DangerousGetPointer"/> and brackets
/// its own reads with <see cref="BeginCpuAccess"/>/<see cref="EndCpuAccess"/>.</para>
/// <para>Not thread-safe against <see cref="Dispose()"/>: do not dispose while another thread copies.</para>
/// </remarks>
public abstract unsafe class DeviceMemory : IDisposable
{
    private readonly SafeMappingHandle? _mapping;
    private readonly SafeDmabufHandle? _dmabuf;
    private readonly SafeMemfdHandle? _memfd;
    private bool _disposed;

    private protected DeviceMemory(MemoryProviderKind kind, long size, SafeDmabufHandle? dmabuf, SafeMappingHandle? mapping, SafeMemfdHandle? memfd, string? exporterName, ulong inode)
    {
        Kind = kind;
        Size = size;
        _dmabuf = dmabuf;
        _mapping = mapping;
        _memfd = memfd;
        ExporterName = exporterName;
        Inode = inode;
    }

    /// <summary>Which provider made this memory.</summary>
    public MemoryProviderKind Kind { get; }

    /// <summary>True for a real dma-buf (can be bound to a NIC); false for <see cref="HostMemory"/>.</summary>
    public bool IsDmabuf => _dmabuf is not null;

    /// <summary>Size in bytes (for a dma-buf: the kernel's <c>size:</c> in fdinfo, a page multiple).</summary>
    public long Size { get; }

    /// <summary>
    /// The exporter as the kernel names it (<c>exp_name:</c> in <c>/proc/self/fdinfo/FD</c>): "udmabuf",
    /// "system", "nvidia"... Null for <see cref="HostMemory"/>, which is not a dma-buf.
    /// </summary>
    public string? ExporterName { get; }

    /// <summary>Inode number of the dma-buf file (of the memfd for <see cref="HostMemory"/>; 0 for <see cref="HostMemory.CreateAnonymous"/>, which has no file), from fstat.</summary>
    public ulong Inode { get; }

    /// <summary>True when the bytes are mapped into this process (false for CUDA device memory).</summary>
    public bool HasCpuMapping => _mapping is not null;

    /// <summary>
    /// The dma-buf fd, to pass to bind-rx/bind-tx. Owned by this object: do not dispose it; it is closed by
    /// <see cref="Dispose()"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">This is <see cref="HostMemory"/>, not a dma-buf.</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public SafeDmabufHandle DmabufHandle
    {
        get
        {
            ThrowIfDisposed();
            return _dmabuf ?? throw new InvalidOperationException($"{Kind} memory is not a dma-buf: it cannot be bound to a NIC; it only backs the copy fallback");
        }
    }

    /// <summary>True after <see cref="Dispose()"/>.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// A view of <paramref name="length"/> bytes at <paramref name="offset"/> of the CPU mapping, for the
    /// hot path. It is valid until <see cref="Dispose()"/>; bracket reads of device-written data with
    /// <see cref="BeginCpuAccess"/> and <see cref="EndCpuAccess"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the memory.</exception>
    /// <exception cref="InvalidOperationException">The memory has no CPU mapping (CUDA).</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public Span<byte> GetSpan(long offset, int length)
    {
        CheckRange(offset, length);
        return new Span<byte>(MappedAddress() + offset, length);
    }

    /// <summary>
    /// The start of the CPU mapping (<see cref="Size"/> bytes). Valid until <see cref="Dispose()"/>; the
    /// caller bounds-checks its own accesses.
    /// </summary>
    /// <exception cref="InvalidOperationException">The memory has no CPU mapping (CUDA).</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public byte* DangerousGetPointer() => MappedAddress();

    /// <summary>
    /// Starts CPU access (DMA_BUF_IOCTL_SYNC START with READ and/or WRITE): caches are made coherent for
    /// the CPU. Nothing to do for host memory. Pair with <see cref="EndCpuAccess"/> with the same access.
    /// </summary>
    /// <exception cref="DmabufException">The ioctl failed.</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public void BeginCpuAccess(CpuAccess access)
    {
        ThrowIfDisposed();
        if (_dmabuf is not null && _mapping is not null)
        {
            Native.Sync(_dmabuf, access, end: false);
        }
    }

    /// <summary>Ends CPU access (DMA_BUF_IOCTL_SYNC END with READ and/or WRITE).</summary>
    /// <exception cref="DmabufException">The ioctl failed.</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public void EndCpuAccess(CpuAccess access)
    {
        ThrowIfDisposed();
        if (_dmabuf is not null && _mapping is not null)
        {
            Native.Sync(_dmabuf, access, end: true);
        }
    }

    /// <summary>Copies <paramref name="source"/> into the memory at <paramref name="offset"/> (CPU → memory).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the memory.</exception>
    /// <exception cref="DmabufException">A sync ioctl or device copy failed.</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public void CopyFrom(long offset, ReadOnlySpan<byte> source)
    {
        CheckRange(offset, source.Length);
        if (source.IsEmpty)
        {
            return;
        }
        if (_mapping is null)
        {
            DeviceCopyFrom(offset, source);
            return;
        }
        BeginCpuAccess(CpuAccess.Write);
        try
        {
            source.CopyTo(new Span<byte>(MappedAddress() + offset, source.Length));
        }
        finally
        {
            EndCpuAccess(CpuAccess.Write);
        }
    }

    /// <summary>Copies bytes at <paramref name="offset"/> out into <paramref name="destination"/> (memory → CPU).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the memory.</exception>
    /// <exception cref="DmabufException">A sync ioctl or device copy failed.</exception>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose()"/>.</exception>
    public void CopyTo(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }
        if (_mapping is null)
        {
            DeviceCopyTo(offset, destination);
            return;
        }
        BeginCpuAccess(CpuAccess.Read);
        try
        {
            new ReadOnlySpan<byte>(MappedAddress() + offset, destination.Length).CopyTo(destination);
        }
        finally
        {
            EndCpuAccess(CpuAccess.Read);
        }
    }

    /// <summary>Releases the mapping, the dma-buf fd, the memfd and provider state, in that order.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Kind} memory: {Size} bytes, exporter {ExporterName ?? "(none: not a dma-buf)"}, inode {Inode}" + (_disposed ? " (disposed)" : "");

    /// <summary>Releases resources; <paramref name="disposing"/> is false only from a finalizer (where SafeHandles clean up themselves).</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (disposing)
        {
            // Order matters for clarity, not for the kernel (see SafeHandles.cs): mapping, dma-buf, memfd.
            _mapping?.Dispose();
            _dmabuf?.Dispose();
            _memfd?.Dispose();
        }
        ReleaseProviderState(disposing);
    }

    /// <summary>Provider-specific cleanup after the fds are closed (CUDA: free the allocation, release the context).</summary>
    private protected virtual void ReleaseProviderState(bool disposing)
    {
    }

    /// <summary>Copy into memory that has no CPU mapping (CUDA). Range already checked.</summary>
    private protected virtual void DeviceCopyFrom(long offset, ReadOnlySpan<byte> source) =>
        throw new InvalidOperationException($"{Kind} memory has no CPU mapping and no device copy");

    /// <summary>Copy out of memory that has no CPU mapping (CUDA). Range already checked.</summary>
    private protected virtual void DeviceCopyTo(long offset, Span<byte> destination) =>
        throw new InvalidOperationException($"{Kind} memory has no CPU mapping and no device copy");

    /// <summary>Throws <see cref="ObjectDisposedException"/> after dispose.</summary>
    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private byte* MappedAddress()
    {
        ThrowIfDisposed();
        if (_mapping is null)
        {
            throw new InvalidOperationException($"{Kind} memory is not mapped into this process ({NoMappingReason}); use CopyFrom/CopyTo");
        }
        return (byte*)_mapping.DangerousGetHandle();
    }

    /// <summary>Why there is no CPU mapping (shown in errors); null when there is one.</summary>
    private protected virtual string? NoMappingReason => _mapping is null ? "no CPU mapping" : null;

    private void CheckRange(long offset, long length)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > Size || length > Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"the range [{offset}, {offset + length}) is outside the {Size}-byte {Kind} memory");
        }
    }

    /// <summary>
    /// The copy fallback's slots over this memory, shared by every copy-fallback socket on it (one ring
    /// per memory: two rings would lend the same bytes twice). Set once, by <see cref="Receive.CopyRing.For"/>.
    /// </summary>
    internal Receive.CopyRing? CopyRing;

    /// <summary>The memfd behind a udmabuf or host memory (internal: for tests of write-through).</summary>
    internal SafeHandle? Memfd => _memfd;
}
