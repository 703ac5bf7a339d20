using System.Runtime.InteropServices;

namespace Devmem.Sys;

/// <summary>Owns a file descriptor that close(2) releases: an eventfd (the wake-up of <see cref="FdWaiter"/> and of the zcrx loop), an io_uring.</summary>
internal sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    internal void Own(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Syscalls.Close((int)handle);
}
