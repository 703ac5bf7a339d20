using System.Buffers.Binary;
using System.Text;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink;

/// <summary>
/// Writes netlink messages and their attributes into a caller-provided buffer, without allocating.
/// Lengths and 4-byte alignment follow <c>include/uapi/linux/netlink.h</c> (NLMSG_ALIGN, NLA_ALIGN);
/// padding bytes are zeroed. Integers are in host byte order, as the kernel expects.
/// </summary>
/// <remarks>
/// Typical use: <see cref="BeginMessage"/>, <see cref="WriteGenlHeader"/>, attributes (nests with
/// <see cref="BeginNested"/>/<see cref="EndNested"/>), then <see cref="EndMessage"/>, which fills in
/// <c>nlmsg_len</c>. Every write checks the space left first and throws
/// <see cref="InvalidOperationException"/> if the buffer is too small; it never writes out of bounds.
/// </remarks>
internal ref struct NetlinkWriter
{
    private readonly Span<byte> _buffer;
    private int _position;
    private int _messageStart;

    /// <summary>Creates a writer that starts at the beginning of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Where the messages are written.</param>
    public NetlinkWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
        _messageStart = -1;
    }

    /// <summary>Number of bytes written so far.</summary>
    public readonly int Position => _position;

    /// <summary>The bytes written so far.</summary>
    public readonly ReadOnlySpan<byte> Written => _buffer[.._position];

    /// <summary>Starts a message: writes an <c>nlmsghdr</c> whose length <see cref="EndMessage"/> fills in.</summary>
    /// <param name="type">nlmsg_type: the generic netlink family id, or a control type.</param>
    /// <param name="flags">nlmsg_flags (NLM_F_*).</param>
    /// <param name="sequence">nlmsg_seq, echoed by the kernel in every reply.</param>
    /// <param name="portId">nlmsg_pid: 0 lets the kernel fill in the sender's port id.</param>
    public void BeginMessage(ushort type, ushort flags, uint sequence, uint portId = 0)
    {
        if (_messageStart >= 0)
        {
            throw new InvalidOperationException("netlink writer: the previous message was not ended.");
        }

        Span<byte> h = Reserve(NLMSG_HDRLEN);
        _messageStart = _position - NLMSG_HDRLEN;
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], portId);
    }

    /// <summary>Writes the 4-byte <c>genlmsghdr</c> (cmd, version, reserved 0).</summary>
    /// <param name="command">The family's command.</param>
    /// <param name="version">The family's version (1 for netdev and ethtool).</param>
    public void WriteGenlHeader(byte command, byte version)
    {
        Span<byte> h = Reserve(4);
        h[0] = command;
        h[1] = version;
        h[2] = 0;
        h[3] = 0;
    }

    /// <summary>
    /// Writes a family's fixed header after the nlmsghdr (e.g. rtnetlink's 16-byte <c>ifinfomsg</c>),
    /// padded to 4 bytes.
    /// </summary>
    /// <param name="header">The header's bytes, in the kernel's layout.</param>
    public void WriteFixedHeader(ReadOnlySpan<byte> header) => header.CopyTo(Reserve(header.Length));

    /// <summary>Ends the current message: sets <c>nlmsg_len</c> and returns it.</summary>
    /// <returns>The message length in bytes (a multiple of 4).</returns>
    public int EndMessage()
    {
        if (_messageStart < 0)
        {
            throw new InvalidOperationException("netlink writer: no message was begun.");
        }

        int length = _position - _messageStart;
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer[_messageStart..], (uint)length);
        _messageStart = -1;
        return length;
    }

    /// <summary>Writes a u8 attribute.</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Value.</param>
    public void WriteU8(ushort type, byte value) => Payload(type, 1)[0] = value;

    /// <summary>Writes a u16 attribute.</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Value.</param>
    public void WriteU16(ushort type, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Payload(type, 2), value);

    /// <summary>Writes a u32 attribute.</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Value.</param>
    public void WriteU32(ushort type, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Payload(type, 4), value);

    /// <summary>Writes an s32 attribute.</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Value.</param>
    public void WriteS32(ushort type, int value) => BinaryPrimitives.WriteInt32LittleEndian(Payload(type, 4), value);

    /// <summary>Writes a u64 attribute (8 bytes; the kernel does not require 8-byte alignment for genl).</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Value.</param>
    public void WriteU64(ushort type, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Payload(type, 8), value);

    /// <summary>
    /// Writes a variable-width <c>uint</c> attribute (NLA_UINT, <c>lib/nlattr.c</c>): 4 bytes when the
    /// value fits in 32 bits, else 8.
    /// </summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Value.</param>
    public void WriteUInt(ushort type, ulong value)
    {
        if (value <= uint.MaxValue)
        {
            WriteU32(type, (uint)value);
        }
        else
        {
            WriteU64(type, value);
        }
    }

    /// <summary>Writes a flag attribute (no payload).</summary>
    /// <param name="type">Attribute type.</param>
    public void WriteFlag(ushort type) => Payload(type, 0);

    /// <summary>Writes a binary attribute.</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">Payload bytes.</param>
    public void WriteBinary(ushort type, ReadOnlySpan<byte> value) => value.CopyTo(Payload(type, value.Length));

    /// <summary>Writes a NUL-terminated string attribute (UTF-8).</summary>
    /// <param name="type">Attribute type.</param>
    /// <param name="value">The string, without the terminator.</param>
    public void WriteString(ushort type, ReadOnlySpan<char> value)
    {
        int byteCount = Encoding.UTF8.GetByteCount(value);
        Span<byte> p = Payload(type, byteCount + 1);
        Encoding.UTF8.GetBytes(value, p);
        p[byteCount] = 0;
    }

    /// <summary>Starts a nested attribute (sets NLA_F_NESTED, which strict validation requires).</summary>
    /// <param name="type">Attribute type, without flags.</param>
    /// <returns>A token to pass to <see cref="EndNested"/>.</returns>
    public int BeginNested(ushort type)
    {
        int start = _position;
        Span<byte> h = Reserve(NLA_HDRLEN);
        BinaryPrimitives.WriteUInt16LittleEndian(h, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], (ushort)(type | NLA_F_NESTED));
        return start;
    }

    /// <summary>Ends a nested attribute begun with <see cref="BeginNested"/>: sets its length.</summary>
    /// <param name="token">The value <see cref="BeginNested"/> returned.</param>
    public void EndNested(int token)
    {
        if (token < 0 || token + NLA_HDRLEN > _position)
        {
            throw new InvalidOperationException("netlink writer: EndNested without a matching BeginNested.");
        }

        int length = _position - token;
        if (length > ushort.MaxValue)
        {
            throw new InvalidOperationException($"netlink writer: nested attribute of {length} bytes exceeds the 65535-byte nla_len limit.");
        }

        BinaryPrimitives.WriteUInt16LittleEndian(_buffer[token..], (ushort)length);
    }

    private Span<byte> Payload(ushort type, int length)
    {
        int total = NLA_HDRLEN + length;
        if (total > ushort.MaxValue)
        {
            throw new InvalidOperationException($"netlink writer: attribute of {length} bytes exceeds the 65535-byte nla_len limit.");
        }

        Span<byte> a = Reserve(total);
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)total);
        BinaryPrimitives.WriteUInt16LittleEndian(a[2..], type);
        return a[NLA_HDRLEN..];
    }

    // Reserves length bytes plus alignment padding (zeroed) and returns the unpadded span.
    private Span<byte> Reserve(int length)
    {
        int aligned = (length + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
        if (aligned > _buffer.Length - _position)
        {
            throw new InvalidOperationException(
                $"netlink writer: {aligned} more bytes do not fit in the {_buffer.Length}-byte buffer ({_position} used).");
        }

        Span<byte> s = _buffer.Slice(_position, aligned);
        s[length..].Clear();
        _position += aligned;
        return s[..length];
    }
}
