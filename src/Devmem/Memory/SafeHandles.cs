using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Sys;

namespace Devmem.Memory;

// One sealed SafeHandle per resource a provider owns, as dotnet/runtime does for its own fds. Each is allocated before the call
// that produces the resource and takes the value right after it succeeds, so a failure in between leaks
// nothing. Release order across handles is the provider's job (DeviceMemory.Dispose): mapping, then
// dma-buf fd, then memfd. If only finalizers run, the order does not matter to the kernel: a mapping
// holds its own reference to the file it maps (mm/mmap.c get_file), and a udmabuf holds the memfd's
// pages (drivers/dma-buf/udmabuf.c pins them), so closing in any order frees everything exactly once.

/// <summary>
/// Owns a dma-buf file descriptor. Pass it to <c>NetdevClient.BindRx</c>/<c>BindTx</c>; a binding takes
/// its own reference to the dma-buf (net/core/devmem.c <c>dma_buf_get</c>), so closing this afterwards
/// does not unbind.
/// </summary>
public sealed class SafeDmabufHandle : SafeHandle
{
    /// <summary>An invalid handle, to be filled in by the call that creates the dma-buf.</summary>
    public SafeDmabufHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    /// <summary>Wraps an existing fd.</summary>
    /// <param name="fd">The dma-buf file descriptor.</param>
    /// <param name="ownsHandle">True: this handle closes <paramref name="fd"/> when disposed. False: the caller keeps closing it.</param>
    public SafeDmabufHandle(int fd, bool ownsHandle)
        : base(invalidHandleValue: -1, ownsHandle)
    {
        SetHandle(fd);
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle < 0;

    /// <summary>The fd number (valid while the handle is open; do not close it yourself).</summary>
    public int DangerousGetFd() => (int)DangerousGetHandle();

    internal void Own(int fd) => SetHandle(fd);

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Syscalls.Close((int)handle);
}

/// <summary>Owns a memfd (the pages behind a udmabuf, or the host-memory fallback).</summary>
internal sealed class SafeMemfdHandle : SafeHandle
{
    public SafeMemfdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    internal void Own(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Syscalls.Close((int)handle);
}

/// <summary>Owns a short-lived fd of a device node (/dev/udmabuf, /dev/dma_heap/NAME).</summary>
internal sealed class SafeDeviceFileHandle : SafeHandle
{
    public SafeDeviceFileHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    internal void Own(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Syscalls.Close((int)handle);
}

/// <summary>Owns an mmap(2) mapping; releasing it is munmap(2) of the whole length.</summary>
internal sealed unsafe class SafeMappingHandle : SafeHandle
{
    public SafeMappingHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public nuint Length { get; private set; }

    public override bool IsInvalid => handle == -1 || handle == 0;

    internal void Own(nint address, nuint length)
    {
        Length = length;
        SetHandle(address);
    }

    protected override bool ReleaseHandle() => Syscalls.Unmap((void*)handle, Length);
}
