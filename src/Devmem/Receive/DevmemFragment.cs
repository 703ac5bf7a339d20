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
/// region must not be read. Releasing a token twice is an error the kernel reports as a shortfall.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct DevmemFragment
{
    /// <summary>Creates a fragment.</summary>
    public DevmemFragment(uint dmabufId, ulong offset, uint length, uint token)
    {
        DmabufId = dmabufId;
        Offset = offset;
        Length = length;
        Token = token;
    }

    /// <summary>The id of the binding whose dma-buf holds the bytes (the bind-rx reply's id).</summary>
    public uint DmabufId { get; }

    /// <summary>Byte offset of the fragment in the dma-buf.</summary>
    public ulong Offset { get; }

    /// <summary>Length of the fragment in bytes.</summary>
    public uint Length { get; }

    /// <summary>The token to release once the bytes have been consumed.</summary>
    public uint Token { get; }
}
