using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Netlink;

/// <summary>
/// Owns a netlink socket file descriptor; closing it is the only way the kernel learns the socket is
/// gone, which for netdev means unbinding every dma-buf binding made through it
/// (net/core/netdev-genl.c <c>netdev_nl_sock_priv_destroy</c>).
/// </summary>
internal sealed class SafeNetlinkHandle : SafeHandle
{
    public SafeNetlinkHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == -1;

    /// <summary>Takes ownership of a freshly created fd (called right after socket(2) succeeds).</summary>
    internal void Own(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => !Libc.close((int)handle).IsError;
}
