using System.Runtime.InteropServices;

namespace Devmem.Receive;

/// <summary>
/// One piece of received TCP payload that the NIC wrote into a dma-buf: where it lies and the token
/// that pins it.
/// </summary>
/// <remarks>
/// Lifetime, as with <c>PipeReader.AdvanceTo</c>: the bytes at <see cref="Offset"/> in the dma-buf are
/// valid only until the fragment's <see cref="Token"/> is released (given back to the kernel with
/// <c>SO_DEVMEM_DONTNEED</c>). After that the kernel may hand the same memory to the NIC again, and the
/// region must not be read. A fragment is released on the <see cref="DevmemSocket"/> that received it:
/// it carries that socket's id (in the struct's padding: 24 bytes either way, nothing allocated), and
/// any other socket refuses it, because tokens are numbered per socket and the same number on another
/// socket pins other memory.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct DevmemFragment
{
    /// <summary>Creates a fragment.</summary>
    /// <remarks>A fragment made here belongs to no socket: every <see cref="DevmemSocket.Release(ReadOnlySpan{DevmemFragment})"/> refuses it.</remarks>
    public DevmemFragment(uint dmabufId, ulong offset, uint length, uint token)
    {
        DmabufId = dmabufId;
        Offset = offset;
        Length = length;
        Token = token;
    }

    internal DevmemFragment(uint dmabufId, ulong offset, uint length, uint token, uint owner)
        : this(dmabufId, offset, length, token)
    {
        Owner = owner;
    }

    /// <summary>The id of the binding whose dma-buf holds the bytes (the bind-rx reply's id).</summary>
    public uint DmabufId { get; }

    /// <summary>Byte offset of the fragment in the dma-buf.</summary>
    public ulong Offset { get; }

    /// <summary>Length of the fragment in bytes.</summary>
    public uint Length { get; }

    /// <summary>The token to release once the bytes have been consumed.</summary>
    public uint Token { get; }

    /// <summary>The id of the <see cref="DevmemSocket"/> that received it (0: none).</summary>
    internal uint Owner { get; }
}
