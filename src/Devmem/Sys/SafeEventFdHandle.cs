using System.Runtime.InteropServices;

namespace Devmem.Sys;

/// <summary>Owns an eventfd(2): the wake-up of <see cref="FdWaiter"/> and of the zcrx loop.</summary>
internal sealed class SafeEventFdHandle : SafeHandle
{
    public SafeEventFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    internal void Own(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Syscalls.Close((int)handle);
}
