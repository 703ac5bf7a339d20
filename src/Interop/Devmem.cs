namespace Devmem.Interop;

// Devmem TCP's user-space structures, include/uapi/linux/uio.h (since 6.12). The socket options and
// cmsg types that carry them (SO_DEVMEM_*, SCM_DEVMEM_*) are architecture-specific: Arch.cs.
// MSG_SOCK_DEVMEM: Socket.cs.

/// <summary>
/// <c>struct dmabuf_cmsg</c>: the payload of an RX <c>SCM_DEVMEM_DMABUF</c> or <c>SCM_DEVMEM_LINEAR</c>
/// cmsg (one per fragment; CMSG_LEN(24) = CMSG_SPACE(24) = 40). For LINEAR only <c>frag_size</c> is set.
/// (TX does not use it: its SCM_DEVMEM_DMABUF payload is one u32 binding id.)
/// </summary>
[UapiHeader("linux/uio.h")]
internal struct dmabuf_cmsg
{
    /// <summary>Offset of the fragment in the dma-buf.</summary>
    public ulong frag_offset;
    /// <summary>Size of the fragment.</summary>
    public uint frag_size;
    /// <summary>Token to give back with SO_DEVMEM_DONTNEED once the fragment has been consumed.</summary>
    public uint frag_token;
    /// <summary>The binding (bind-rx id) whose dma-buf holds the fragment.</summary>
    public uint dmabuf_id;
    /// <summary>Currently unused (0).</summary>
    public uint flags;
}

/// <summary><c>struct dmabuf_token</c>: a range of tokens to free, the SO_DEVMEM_DONTNEED option value (an array of them).</summary>
[UapiHeader("linux/uio.h")]
internal struct dmabuf_token
{
    public uint token_start;
    public uint token_count;
}
