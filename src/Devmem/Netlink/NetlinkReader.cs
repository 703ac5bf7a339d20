using System.Buffers.Binary;
using System.Text;
using static Devmem.Interop.Netlink;

namespace Devmem.Netlink;

/// <summary>
/// One netlink attribute inside a message being read: its type (flags masked off), whether it is
/// nested, and its payload. Valid only as long as the buffer it was read from.
/// </summary>
/// <remarks>
/// Every typed accessor checks the payload length first and throws
/// <see cref="NetlinkProtocolException"/> on a mismatch; none reads out of bounds.
/// </remarks>
internal readonly ref struct NetlinkAttr
{
    internal NetlinkAttr(ushort rawType, ReadOnlySpan<byte> payload, int offset)
    {
        RawType = rawType;
        Payload = payload;
        Offset = offset;
    }

    /// <summary>The attribute type with NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off.</summary>
    public ushort Type => (ushort)(RawType & NLA_TYPE_MASK);

    /// <summary>nla_type as received, flags included.</summary>
    public ushort RawType { get; }

    /// <summary>Whether the sender set NLA_F_NESTED.</summary>
    public bool IsNested => (RawType & NLA_F_NESTED) != 0;

    /// <summary>The payload (nla_len − 4 bytes, padding excluded).</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Offset of the attribute header from the start of the span the outermost reader was given.</summary>
    public int Offset { get; }

    /// <summary>Reads a u8 payload.</summary>
    /// <returns>The value.</returns>
    public byte GetU8() => Payload.Length == 1 ? Payload[0] : throw Bad("u8", 1);

    /// <summary>Reads a u16 payload.</summary>
    /// <returns>The value.</returns>
    public ushort GetU16() => Payload.Length == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(Payload) : throw Bad("u16", 2);

    /// <summary>Reads a u32 payload.</summary>
    /// <returns>The value.</returns>
    public uint GetU32() => Payload.Length == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Payload) : throw Bad("u32", 4);

    /// <summary>Reads an s32 payload.</summary>
    /// <returns>The value.</returns>
    public int GetS32() => Payload.Length == 4 ? BinaryPrimitives.ReadInt32LittleEndian(Payload) : throw Bad("s32", 4);

    /// <summary>Reads a u64 payload.</summary>
    /// <returns>The value.</returns>
    public ulong GetU64() => Payload.Length == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(Payload) : throw Bad("u64", 8);

    /// <summary>Reads a variable-width <c>uint</c> (NLA_UINT): 4 or 8 bytes.</summary>
    /// <returns>The value.</returns>
    public ulong GetUInt() => Payload.Length switch
    {
        4 => BinaryPrimitives.ReadUInt32LittleEndian(Payload),
        8 => BinaryPrimitives.ReadUInt64LittleEndian(Payload),
        _ => throw Bad("uint", 4),
    };

    /// <summary>Reads a variable-width <c>sint</c> (NLA_SINT): 4 or 8 bytes.</summary>
    /// <returns>The value.</returns>
    public long GetSInt() => Payload.Length switch
    {
        4 => BinaryPrimitives.ReadInt32LittleEndian(Payload),
        8 => BinaryPrimitives.ReadInt64LittleEndian(Payload),
        _ => throw Bad("sint", 4),
    };

    /// <summary>Reads a NUL-terminated string (the terminator is required, as NLA_NUL_STRING does).</summary>
    /// <returns>The string without its terminator.</returns>
    public string GetString() => Encoding.UTF8.GetString(GetStringBytes());

    /// <summary>The bytes of a NUL-terminated string, without the terminator and without allocating.</summary>
    /// <returns>The bytes before the first NUL.</returns>
    public ReadOnlySpan<byte> GetStringBytes()
    {
        int nul = Payload.IndexOf((byte)0);
        if (nul < 0)
        {
            throw NetlinkProtocolException.Malformed($"attribute {Type}: string without a NUL terminator ({Payload.Length} bytes).");
        }

        return Payload[..nul];
    }

    /// <summary>A reader over the attributes nested in this one.</summary>
    /// <returns>The nested reader; its offsets continue those of this attribute's reader.</returns>
    public NetlinkAttributeReader GetNested() => new(Payload, Offset + NLA_HDRLEN);

    private NetlinkProtocolException Bad(string kind, int expected) =>
        NetlinkProtocolException.Malformed($"attribute {Type}: {kind} payload of {Payload.Length} bytes (expected {expected}{(kind is "uint" or "sint" ? " or 8" : "")}).");
}

/// <summary>
/// Iterates the attributes in a span, validating each header against what remains
/// (<c>nla_ok()</c> in <c>include/net/netlink.h</c>, but strict: trailing garbage is an error).
/// </summary>
/// <remarks>Use with <c>foreach</c>, or <see cref="TryRead"/>. Allocation-free.</remarks>
internal ref struct NetlinkAttributeReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _baseOffset;
    private int _position;
    private NetlinkAttr _current;

    /// <summary>Creates a reader over a run of attributes.</summary>
    /// <param name="data">The attributes (e.g. a genl message's payload after its 4-byte header).</param>
    /// <param name="baseOffset">Offset of <paramref name="data"/> within the message, for <see cref="NetlinkAttr.Offset"/>.</param>
    public NetlinkAttributeReader(ReadOnlySpan<byte> data, int baseOffset = 0)
    {
        _data = data;
        _baseOffset = baseOffset;
        _position = 0;
        _current = default;
    }

    /// <summary>The attribute <see cref="MoveNext"/> moved to.</summary>
    public readonly NetlinkAttr Current => _current;

    /// <summary>Returns this reader, for <c>foreach</c>.</summary>
    /// <returns>This reader.</returns>
    public readonly NetlinkAttributeReader GetEnumerator() => this;

    /// <summary>Moves to the next attribute.</summary>
    /// <returns>false at the end of the data.</returns>
    public bool MoveNext() => TryRead(out _current);

    /// <summary>Reads the next attribute.</summary>
    /// <param name="attribute">The attribute read.</param>
    /// <returns>false at the end of the data.</returns>
    /// <exception cref="NetlinkProtocolException">A header is truncated or its length is impossible.</exception>
    public bool TryRead(out NetlinkAttr attribute)
    {
        int remaining = _data.Length - _position;
        if (remaining == 0)
        {
            attribute = default;
            return false;
        }

        if (remaining < NLA_HDRLEN)
        {
            throw NetlinkProtocolException.Malformed($"{remaining} bytes left at offset {_baseOffset + _position}: too short for an attribute header.");
        }

        ReadOnlySpan<byte> h = _data[_position..];
        int length = BinaryPrimitives.ReadUInt16LittleEndian(h);
        ushort rawType = BinaryPrimitives.ReadUInt16LittleEndian(h[2..]);
        if (length < NLA_HDRLEN || length > remaining)
        {
            throw NetlinkProtocolException.Malformed(
                $"attribute {rawType & NLA_TYPE_MASK} at offset {_baseOffset + _position}: nla_len {length} with {remaining} bytes left.");
        }

        attribute = new NetlinkAttr(rawType, h[NLA_HDRLEN..length], _baseOffset + _position);
        // The padding after the last attribute may be cut off; never step past the end.
        _position += Math.Min((length + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1), remaining);
        return true;
    }
}

/// <summary>One netlink message: its header fields and its payload. Valid only as long as its buffer.</summary>
internal readonly ref struct NetlinkMessage
{
    internal NetlinkMessage(ushort type, ushort flags, uint sequence, uint portId, ReadOnlySpan<byte> bytes)
    {
        Type = type;
        Flags = flags;
        Sequence = sequence;
        PortId = portId;
        Bytes = bytes;
    }

    /// <summary>nlmsg_type: a family id, or NLMSG_ERROR/NLMSG_DONE/...</summary>
    public ushort Type { get; }

    /// <summary>nlmsg_flags.</summary>
    public ushort Flags { get; }

    /// <summary>nlmsg_seq.</summary>
    public uint Sequence { get; }

    /// <summary>nlmsg_pid.</summary>
    public uint PortId { get; }

    /// <summary>The whole message, header included (nlmsg_len bytes).</summary>
    public ReadOnlySpan<byte> Bytes { get; }

    /// <summary>The payload after the 16-byte header.</summary>
    public ReadOnlySpan<byte> Payload => Bytes[NLMSG_HDRLEN..];

    /// <summary>The genl command (first payload byte).</summary>
    /// <exception cref="NetlinkProtocolException">The payload is shorter than a genlmsghdr.</exception>
    public byte GenlCommand => Payload.Length >= 4 ? Payload[0] : throw ShortGenl();

    /// <summary>The genl version (second payload byte).</summary>
    /// <exception cref="NetlinkProtocolException">The payload is shorter than a genlmsghdr.</exception>
    public byte GenlVersion => Payload.Length >= 4 ? Payload[1] : throw ShortGenl();

    /// <summary>A reader over the attributes after the genlmsghdr; offsets count from the message start.</summary>
    /// <returns>The reader.</returns>
    /// <exception cref="NetlinkProtocolException">The payload is shorter than a genlmsghdr.</exception>
    public NetlinkAttributeReader GetGenlAttributes() =>
        Payload.Length >= 4 ? new NetlinkAttributeReader(Payload[4..], NLMSG_HDRLEN + 4) : throw ShortGenl();

    private NetlinkProtocolException ShortGenl() =>
        NetlinkProtocolException.Malformed($"message type {Type}: {Payload.Length}-byte payload is too short for a genlmsghdr.");
}

/// <summary>Iterates the netlink messages in one received datagram, validating each header.</summary>
internal ref struct NetlinkMessageReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;
    private NetlinkMessage _current;

    /// <summary>Creates a reader over a datagram.</summary>
    /// <param name="data">The bytes recvmsg returned.</param>
    public NetlinkMessageReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
        _current = default;
    }

    /// <summary>The message <see cref="MoveNext"/> moved to.</summary>
    public readonly NetlinkMessage Current => _current;

    /// <summary>Returns this reader, for <c>foreach</c>.</summary>
    /// <returns>This reader.</returns>
    public readonly NetlinkMessageReader GetEnumerator() => this;

    /// <summary>Moves to the next message.</summary>
    /// <returns>false at the end of the datagram.</returns>
    public bool MoveNext() => TryRead(out _current);

    /// <summary>Reads the next message (<c>NLMSG_OK</c>/<c>NLMSG_NEXT</c>, strict about leftovers).</summary>
    /// <param name="message">The message read.</param>
    /// <returns>false at the end of the datagram.</returns>
    /// <exception cref="NetlinkProtocolException">A header is truncated or its length is impossible.</exception>
    public bool TryRead(out NetlinkMessage message)
    {
        int remaining = _data.Length - _position;
        if (remaining == 0)
        {
            message = default;
            return false;
        }

        if (remaining < NLMSG_HDRLEN)
        {
            throw NetlinkProtocolException.Malformed($"{remaining} bytes left at offset {_position}: too short for an nlmsghdr.");
        }

        ReadOnlySpan<byte> h = _data[_position..];
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(h);
        if (length < NLMSG_HDRLEN || length > (uint)remaining)
        {
            throw NetlinkProtocolException.Malformed($"message at offset {_position}: nlmsg_len {length} with {remaining} bytes left.");
        }

        message = new NetlinkMessage(
            BinaryPrimitives.ReadUInt16LittleEndian(h[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(h[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(h[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(h[12..]),
            h[..(int)length]);
        _position += Math.Min(((int)length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1), remaining);
        return true;
    }
}
