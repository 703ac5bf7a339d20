using System.Runtime.InteropServices;

namespace Devmem.Receive;

/// <summary>
/// One piece of received payload in stream order: either bytes the NIC wrote into the dma-buf (a
/// <see cref="DevmemFragment"/>, released as fragments are) or bytes the kernel delivered through
/// <c>SCM_DEVMEM_LINEAR</c> into the caller's linear buffer (at <see cref="LinearOffset"/>).
/// </summary>
/// <remarks>
/// The kernel reports both kinds in the order they occur in the TCP stream (net/ipv4/tcp.c
/// <c>tcp_recvmsg_dmabuf</c> emits one control message per piece as it walks the skb), so a protocol
/// parser that reads headers from the linear part and payload from the dma-buf sees them in order here.
/// Receive into a <see cref="Span{T}"/> of segments with <see cref="DevmemSocket.Receive(Span{DevmemSegment}, Span{byte})"/>;
/// nothing is allocated.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct DevmemSegment
{
    /// <summary>True for bytes in the linear buffer (<c>SCM_DEVMEM_LINEAR</c>); false for dma-buf bytes (<see cref="Fragment"/>).</summary>
    public bool IsLinear { get; private init; }

    /// <summary>The dma-buf fragment; default for a linear segment.</summary>
    public DevmemFragment Fragment { get; private init; }

    /// <summary>Where a linear segment's bytes start in the linear buffer passed to the receive; 0 for a fragment.</summary>
    public int LinearOffset { get; private init; }

    /// <summary>The segment's length in bytes.</summary>
    public uint Length { get; private init; }

    internal static DevmemSegment OfFragment(in DevmemFragment fragment) => new() { Fragment = fragment, Length = fragment.Length };

    internal static DevmemSegment OfLinear(int offset, uint length) => new() { IsLinear = true, LinearOffset = offset, Length = length };
}
