using System.Buffers.Binary;
using System.Text;

namespace Devmem.Netlink.Tests;

// Builds netlink bytes by hand, field by field, following include/uapi/linux/netlink.h — independent of
// NetlinkWriter, so tests compare our encoder against the kernel's layout rather than against itself.
internal sealed class Bytes
{
    private readonly List<byte> _b = [];

    public int Length => _b.Count;

    public Bytes U8(byte v)
    {
        _b.Add(v);
        return this;
    }

    public Bytes U16(ushort v)
    {
        Span<byte> s = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(s, v);
        _b.AddRange(s.ToArray());
        return this;
    }

    public Bytes U32(uint v)
    {
        Span<byte> s = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(s, v);
        _b.AddRange(s.ToArray());
        return this;
    }

    public Bytes S32(int v) => U32(unchecked((uint)v));

    public Bytes U64(ulong v)
    {
        Span<byte> s = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(s, v);
        _b.AddRange(s.ToArray());
        return this;
    }

    public Bytes Raw(params byte[] v)
    {
        _b.AddRange(v);
        return this;
    }

    public Bytes Pad()
    {
        while (_b.Count % 4 != 0)
        {
            _b.Add(0);
        }

        return this;
    }

    // struct nlattr { u16 nla_len; u16 nla_type; } + payload + NLA_ALIGN padding.
    public Bytes Attr(ushort type, Bytes payload) => U16((ushort)(4 + payload.Length)).U16(type).Raw(payload.ToArray()).Pad();

    public Bytes AttrU32(ushort type, uint v) => Attr(type, new Bytes().U32(v));

    public Bytes AttrU64(ushort type, ulong v) => Attr(type, new Bytes().U64(v));

    public Bytes AttrString(ushort type, string s) => Attr(type, new Bytes().Raw([.. Encoding.UTF8.GetBytes(s), 0]));

    public Bytes Nest(ushort type, Bytes inner) => Attr((ushort)(type | 0x8000), inner);

    // struct nlmsghdr + body; nlmsg_len covers the header and the body.
    public static Bytes Message(ushort type, ushort flags, uint seq, uint pid, Bytes body) =>
        new Bytes().U32((uint)(16 + body.Length)).U16(type).U16(flags).U32(seq).U32(pid).Raw(body.ToArray());

    // genlmsghdr { u8 cmd; u8 version; u16 reserved; } + attributes.
    public static Bytes Genl(byte cmd, byte version, Bytes attrs) => new Bytes().U8(cmd).U8(version).U16(0).Raw(attrs.ToArray());

    public byte[] ToArray() => [.. _b];
}
