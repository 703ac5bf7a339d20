using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Receive;

/// <summary>What one <c>recvmsg(MSG_SOCK_DEVMEM)</c> control buffer held, as counts.</summary>
internal struct ControlSummary
{
    /// <summary>SCM_DEVMEM_DMABUF cmsgs, handed to the sink.</summary>
    public int Fragments;

    /// <summary>Sum of their sizes.</summary>
    public long DmabufBytes;

    /// <summary>SCM_DEVMEM_LINEAR cmsgs.</summary>
    public int LinearMessages;

    /// <summary>Sum of the LINEAR sizes: those bytes were copied into the iov, in stream order.</summary>
    public long LinearBytes;

    /// <summary>Control messages of any other level or type, skipped.</summary>
    public int Unknown;
}

/// <summary>Where a receive puts what it found, in stream order: fragments only, or ordered segments.</summary>
internal interface IReceiveSink
{
    /// <summary>Entries filled so far.</summary>
    int Count { get; }

    /// <summary>A dma-buf piece; throws <see cref="DevmemProtocolException"/> when there is no room (or, for a sink that registers as it adds, its token is already held).</summary>
    void AddFragment(in DevmemFragment fragment);

    /// <summary>An <c>SCM_DEVMEM_LINEAR</c> piece of <paramref name="length"/> bytes, next in the linear buffer.</summary>
    void AddLinear(uint length);

    /// <summary>Registers as held the tokens of the fragments added and not registered yet (a sink may register as it adds).</summary>
    void RegisterHeld();
}

/// <summary>Fills a span of fragments (linear pieces are only counted); <see cref="RegisterHeld"/> registers their tokens in <c>held</c> when given.</summary>
internal ref struct FragmentSink : IReceiveSink
{
    private readonly Span<DevmemFragment> _fragments;
    private readonly TokenSet? _held;

    public FragmentSink(Span<DevmemFragment> fragments, TokenSet? held)
    {
        _fragments = fragments;
        _held = held;
        Count = 0;
    }

    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddFragment(in DevmemFragment fragment)
    {
        Span<DevmemFragment> fragments = _fragments;
        int n = Count;
        if ((uint)n >= (uint)fragments.Length)
        {
            DevmemControlMessages.ThrowTooManyFragments(fragments.Length);
        }

        fragments[n] = fragment;
        Count = n + 1;
    }

    public readonly void AddLinear(uint length)
    {
    }

    // After the walk, in a loop of its own and a method of its own: the walk stays tight, and this loop
    // gets the registers to itself (inlined into a caller that also inlines the walk and the release, it
    // spilled its locals to the stack once per fragment: docs/performance.md).
    [MethodImpl(MethodImplOptions.NoInlining)]
    public readonly void RegisterHeld()
    {
        if (_held is null)
        {
            return;
        }

        foreach (ref readonly DevmemFragment f in _fragments[..Count])
        {
            if (!_held.Add(f.Token))
            {
                DevmemControlMessages.ThrowTokenHeld(f.Token);
            }
        }
    }
}

/// <summary>Fills a span of segments in stream order: fragments and linear pieces alike.</summary>
internal ref struct SegmentSink : IReceiveSink
{
    private readonly Span<DevmemSegment> _segments;
    private readonly TokenSet? _held;
    private long _linearOffset;

    public SegmentSink(Span<DevmemSegment> segments, TokenSet? held)
    {
        _segments = segments;
        _held = held;
        _linearOffset = 0;
        Count = 0;
    }

    public int Count { get; private set; }

    public void AddFragment(in DevmemFragment fragment)
    {
        if ((uint)Count >= (uint)_segments.Length)
        {
            DevmemControlMessages.ThrowTooManyFragments(_segments.Length);
        }

        if (_held is not null && !_held.Add(fragment.Token))
        {
            DevmemControlMessages.ThrowTokenHeld(fragment.Token);
        }

        _segments[Count++] = DevmemSegment.OfFragment(fragment);
    }

    public void AddLinear(uint length)
    {
        if ((uint)Count >= (uint)_segments.Length)
        {
            DevmemControlMessages.ThrowTooManyFragments(_segments.Length);
        }

        _segments[Count++] = DevmemSegment.OfLinear((int)_linearOffset, length);
        _linearOffset += length;
    }

    public readonly void RegisterHeld()
    {
        // Registered as each fragment was added.
    }
}

/// <summary>
/// Walks the control messages of a <c>recvmsg(MSG_SOCK_DEVMEM)</c> as C does with CMSG_FIRSTHDR and
/// CMSG_NXTHDR, turning <c>SCM_DEVMEM_DMABUF</c> into <see cref="DevmemFragment"/>s.
/// </summary>
/// <remarks>
/// Layout: net/ipv4/tcp.c <c>tcp_recvmsg_dmabuf</c> puts one <c>struct dmabuf_cmsg</c> per piece, in
/// stream order, with <c>put_cmsg_notrunc</c>: SOL_SOCKET/SCM_DEVMEM_DMABUF (offset, size, token, id)
/// or SOL_SOCKET/SCM_DEVMEM_LINEAR (only frag_size). Every length is checked against what remains
/// before it is used; a malformed buffer raises <see cref="DevmemProtocolException"/>.
/// </remarks>
internal static class DevmemControlMessages
{
    private static readonly int HeaderSize = Unsafe.SizeOf<cmsghdr>();
    private static readonly int DataOffset = (int)sys_socket_cmsg.CMSG_ALIGN((nuint)HeaderSize);
    private static readonly int PayloadSize = Unsafe.SizeOf<dmabuf_cmsg>();

    /// <summary>Bytes of control space one devmem cmsg takes: CMSG_SPACE(sizeof(struct dmabuf_cmsg)) = 40.</summary>
    public static int SpacePerFragment { get; } = (int)sys_socket_cmsg.CMSG_SPACE((nuint)Unsafe.SizeOf<dmabuf_cmsg>());

    /// <summary>
    /// Decodes <paramref name="control"/> (the <c>msg_controllen</c> bytes the kernel filled) into
    /// <paramref name="fragments"/>; throws if there are more fragments than room.
    /// </summary>
    /// <param name="control">The control bytes.</param>
    /// <param name="fragments">Where the fragments go.</param>
    /// <param name="owner">The receiving socket's id, stamped on each fragment.</param>
    public static ControlSummary Parse(ReadOnlySpan<byte> control, Span<DevmemFragment> fragments, uint owner = 0)
    {
        var sink = new FragmentSink(fragments, held: null);
        return Parse(control, ref sink, owner);
    }

    /// <summary>Decodes <paramref name="control"/> into <paramref name="sink"/>, piece by piece in stream order.</summary>
    /// <param name="control">The control bytes.</param>
    /// <param name="sink">Where the pieces go.</param>
    /// <param name="owner">The receiving socket's id, stamped on each fragment.</param>
    public static ControlSummary Parse<TSink>(ReadOnlySpan<byte> control, ref TSink sink, uint owner)
        where TSink : IReceiveSink, allows ref struct
    {
        var summary = default(ControlSummary);

        // The sink is worked on in a local copy and written back at the end: through the ref, each
        // fragment would reload the sink's span and store its count (measured: docs/performance.md).
        TSink local = sink;

        // CMSG_FIRSTHDR/CMSG_NXTHDR (glibc bits/socket.h __cmsg_nxthdr) inlined over the span: a next
        // cmsg exists while a whole header fits after CMSG_ALIGN(cmsg_len). cmsg_len is checked against
        // what remains before it moves the offset, so the reads below stay inside the span; they use
        // unchecked reads because this loop runs once per fragment (docs/performance.md).
        ref byte start = ref MemoryMarshal.GetReference(control);
        int next;
        for (int offset = 0; control.Length - offset >= HeaderSize; offset = next)
        {
            var header = Unsafe.ReadUnaligned<cmsghdr>(ref Unsafe.Add(ref start, offset));
            nuint len = header.cmsg_len;
            if (len < (nuint)DataOffset || len > (nuint)(control.Length - offset))
            {
                ThrowBadLength(offset, len, control.Length - offset);
            }

            next = offset + (int)sys_socket_cmsg.CMSG_ALIGN(len);
            if (header.cmsg_level != asm_socket.SOL_SOCKET
                || (header.cmsg_type != asm_socket.SCM_DEVMEM_DMABUF && header.cmsg_type != asm_socket.SCM_DEVMEM_LINEAR))
            {
                summary.Unknown++;
                continue;
            }

            if (len < (nuint)(DataOffset + PayloadSize))
            {
                ThrowShortDevmem(offset, len);
            }

            var dc = Unsafe.ReadUnaligned<dmabuf_cmsg>(ref Unsafe.Add(ref start, offset + DataOffset));
            if (header.cmsg_type == asm_socket.SCM_DEVMEM_LINEAR)
            {
                summary.LinearMessages++;
                summary.LinearBytes += dc.frag_size;
                local.AddLinear(dc.frag_size);
                continue;
            }

            local.AddFragment(new DevmemFragment(dc.dmabuf_id, dc.frag_offset, dc.frag_size, dc.frag_token, owner));
            summary.Fragments++;
            summary.DmabufBytes += dc.frag_size;
        }

        sink = local;
        return summary;
    }

    // Throw helpers keep the message formatting out of the per-fragment loop.
    [DoesNotReturn]
    private static void ThrowBadLength(int offset, nuint len, int left) =>
        throw DevmemProtocolException.Malformed("recvmsg(MSG_SOCK_DEVMEM)", $"control message at offset {offset} has length {len}, outside the {left} bytes left");

    [DoesNotReturn]
    private static void ThrowShortDevmem(int offset, nuint len) =>
        throw DevmemProtocolException.Malformed("recvmsg(MSG_SOCK_DEVMEM)",
            $"devmem control message at offset {offset} is {len} bytes, shorter than CMSG_LEN(sizeof(struct dmabuf_cmsg)) = {DataOffset + PayloadSize}");

    [DoesNotReturn]
    internal static void ThrowTooManyFragments(int room) =>
        throw DevmemProtocolException.Malformed("recvmsg(MSG_SOCK_DEVMEM)",
            $"the kernel returned more than {room} fragments; the fragment span is too small for the control buffer");

    [DoesNotReturn]
    internal static void ThrowTokenHeld(uint token) =>
        throw DevmemProtocolException.Malformed("recvmsg(MSG_SOCK_DEVMEM)", $"the kernel handed out token {token} while this socket still holds it");
}
