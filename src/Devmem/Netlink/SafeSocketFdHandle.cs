using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Sys;

namespace Devmem.Netlink;

/// <summary>
/// Owns a socket file descriptor: a netlink socket, or the AF_INET socket SIOCETHTOOL goes through.
/// For a netdev netlink socket, closing it is how the kernel learns the socket is gone, which unbinds
/// every dma-buf bound through it (net/core/netdev-genl.c <c>netdev_nl_sock_priv_destroy</c>).
/// </summary>
internal sealed class SafeSocketFdHandle : SafeHandle
{
    public SafeSocketFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == -1;

    /// <summary>Takes ownership of a freshly created fd (called right after socket(2) succeeds).</summary>
    internal void Own(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Syscalls.Close((int)handle);
}
