using System.Runtime.InteropServices;

namespace Devmem.Receive;

/// <summary>What one receive returned.</summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct DevmemReceiveResult
{
    /// <summary>The dma-buf fragments received: how many entries of the caller's fragment span were filled.</summary>
    public int Fragments { get; internal init; }

    /// <summary>
    /// How many entries of the caller's segment span were filled, in stream order (fragments and linear
    /// pieces, unsteered bytes included as one linear piece). With the fragment overload, equal to
    /// <see cref="Fragments"/>.
    /// </summary>
    public int Segments { get; internal init; }

    /// <summary>Payload bytes the fragments cover (in the dma-buf, not copied anywhere).</summary>
    public long DmabufBytes { get; internal init; }

    /// <summary>
    /// Payload bytes that the kernel delivered through <c>SCM_DEVMEM_LINEAR</c>: they were copied into the
    /// caller's linear buffer, from its start, in stream order relative to each other.
    /// </summary>
    public int LinearBytes { get; internal init; }

    /// <summary>
    /// Bytes that arrived as ordinary (readable) data without any devmem control message, copied into the
    /// linear buffer. Non-zero means the flow did not land on a bound RX queue: a steering problem (flow
    /// rule or RSS), never silently mixed with devmem payload (the kernel never mixes both in one call).
    /// </summary>
    public int UnsteeredBytes { get; internal init; }

    /// <summary>Control messages other than devmem ones (e.g. timestamps), skipped.</summary>
    public int UnknownControlMessages { get; internal init; }

    /// <summary>True when the peer closed the connection (recvmsg returned 0).</summary>
    public bool EndOfStream { get; internal init; }

    internal static DevmemReceiveResult End => new() { EndOfStream = true };

    /// <summary>All payload bytes this receive accounted for.</summary>
    public long TotalBytes => DmabufBytes + LinearBytes + UnsteeredBytes;
}
