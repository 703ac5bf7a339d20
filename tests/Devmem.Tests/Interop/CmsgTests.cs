using System.Buffers.Binary;
using Devmem.Interop;
using static Devmem.Interop.asm_socket;
using static Devmem.Interop.linux_in;
using static Devmem.Interop.netinet_in;
using static Devmem.Interop.sys_socket;
using static Devmem.Interop.sys_socket_cmsg;
using static Devmem.Interop.sys_socket_type;

namespace Devmem.Tests.Interop;

// CMSG_* over control buffers laid out as the kernel writes them (net/core/scm.c put_cmsg: a cmsghdr of
// size_t len, int level, int type; data at CMSG_ALIGN(sizeof(cmsghdr)); the next one at
// CMSG_ALIGN(cmsg_len)), built here byte by byte without this assembly's structs, and from a real recvmsg.
[Tier(Tier.HostKernel)]
public unsafe class CmsgTests
{
    private sealed record Msg(int Level, int Type, byte[] Data);

    private static byte[] KernelLayout(params Msg[] msgs)
    {
        var buf = new List<byte>();
        foreach (Msg m in msgs)
        {
            var header = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)(16 + m.Data.Length));
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), m.Level);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), m.Type);
            buf.AddRange(header);
            buf.AddRange(m.Data);
            while (buf.Count % 8 != 0)
            {
                buf.Add(0xEE); // padding the walker must skip
            }
        }
        return buf.ToArray();
    }

    private static byte[] DmabufCmsgBytes(ulong offset, uint size, uint token, uint id)
    {
        var d = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(d, offset);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), size);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(12), token);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(16), id);
        return d;
    }

    [Fact]
    public void Lengths_follow_the_kernel_for_a_devmem_cmsg()
    {
        // One dmabuf_cmsg (24 bytes, include/uapi/linux/uio.h) after a 16-byte cmsghdr takes 40 bytes,
        // unpadded (net/ipv4/tcp.c tcp_recvmsg_dmabuf puts one per fragment; Documentation/networking/devmem.rst).
        Assert.Equal(24, sizeof(dmabuf_cmsg));
        Assert.Equal((nuint)40, CMSG_LEN((nuint)sizeof(dmabuf_cmsg)));
        Assert.Equal((nuint)40, CMSG_SPACE((nuint)sizeof(dmabuf_cmsg)));
        // TX: the binding id is one u32, cmsg_len exactly CMSG_LEN(4) (net/core/sock.c __sock_cmsg_send).
        Assert.Equal((nuint)20, CMSG_LEN(4));
        Assert.Equal((nuint)24, CMSG_SPACE(4));
        Assert.Equal((nuint)17, CMSG_LEN(1));
        Assert.Equal((nuint)24, CMSG_SPACE(1));
    }

    [Fact]
    public void A_walk_visits_each_cmsg_and_skips_padding()
    {
        byte[] control = KernelLayout(
            new Msg(SOL_SOCKET, SCM_DEVMEM_LINEAR, DmabufCmsgBytes(0, 100, 0, 0)),
            new Msg(SOL_IP, IP_TOS, [0x10]),
            new Msg(SOL_SOCKET, SCM_DEVMEM_DMABUF, DmabufCmsgBytes(8192, 4096, 7, 3)));
        var seen = new List<(int Level, int Type, int Len, int Offset)>();
        fixed (byte* p = control)
        {
            msghdr m = default;
            m.msg_control = p;
            m.msg_controllen = (nuint)control.Length;
            for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != null; c = CMSG_NXTHDR(&m, c))
            {
                seen.Add((c->cmsg_level, c->cmsg_type, (int)c->cmsg_len, (int)((byte*)c - p)));
                if (c->cmsg_type == SCM_DEVMEM_DMABUF)
                {
                    var d = (dmabuf_cmsg*)CMSG_DATA(c);
                    Assert.Equal(8192ul, d->frag_offset);
                    Assert.Equal(4096u, d->frag_size);
                    Assert.Equal(7u, d->frag_token);
                    Assert.Equal(3u, d->dmabuf_id);
                }
            }
        }
        Assert.Equal(
            [(SOL_SOCKET, SCM_DEVMEM_LINEAR, 40, 0), (SOL_IP, IP_TOS, 17, 40), (SOL_SOCKET, SCM_DEVMEM_DMABUF, 40, 64)],
            seen);

        // The span form gives the same offsets.
        var offsets = new List<int>();
        for (int o = CMSG_FIRSTHDR(control); o >= 0; o = CMSG_NXTHDR(control, o))
        {
            offsets.Add(o);
        }
        Assert.Equal([0, 40, 64], offsets);
    }

    [Fact]
    public void The_walk_stops_where_glibc_stops()
    {
        byte[] control = KernelLayout(new Msg(SOL_SOCKET, SCM_DEVMEM_DMABUF, DmabufCmsgBytes(0, 1, 1, 1)), new Msg(SOL_IP, IP_TTL, [64, 0, 0, 0]));
        // Empty or shorter than a header: no first cmsg.
        Assert.Equal(-1, CMSG_FIRSTHDR(ReadOnlySpan<byte>.Empty));
        Assert.Equal(-1, CMSG_FIRSTHDR(control.AsSpan(0, 15)));
        // Room for the first cmsg but not another header: no next one.
        Assert.Equal(-1, CMSG_NXTHDR(control.AsSpan(0, 40 + 15), 0));
        // The next header fits but its data is cut: glibc returns it; the caller must check its cmsg_len.
        Assert.Equal(40, CMSG_NXTHDR(control.AsSpan(0, 40 + 16), 0));
        // A malformed cmsg_len (below the header size) ends the walk; the length is not trusted for arithmetic.
        byte[] bad = (byte[])control.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad, 8);
        Assert.Equal(-1, CMSG_NXTHDR(bad, 0));
        BinaryPrimitives.WriteUInt64LittleEndian(bad, ulong.MaxValue - 3);
        Assert.Equal(-1, CMSG_NXTHDR(bad, 0));
        // Offsets outside the buffer are rejected rather than read.
        Assert.Equal(-1, CMSG_NXTHDR(control, control.Length));
        Assert.Equal(-1, CMSG_NXTHDR(control, -8));
    }

    [Fact]
    public void The_host_kernel_writes_cmsgs_the_helpers_walk()
    {
        // A UDP datagram to ourselves with IP_RECVTTL and IP_RECVTOS: the kernel adds an IP_TTL (int) and
        // an IP_TOS (one byte) cmsg (net/ipv4/ip_sockglue.c ip_cmsg_recv_offset).
        int fd = Libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0).Int32;
        Assert.True(fd >= 0);
        try
        {
            int one = 1;
            Assert.False(Libc.setsockopt(fd, SOL_IP, IP_RECVTTL, &one, sizeof(int)).IsError);
            Assert.False(Libc.setsockopt(fd, SOL_IP, IP_RECVTOS, &one, sizeof(int)).IsError);
            var addr = new sockaddr_in { sin_family = AF_INET, sin_addr = BinaryPrimitives.ReverseEndianness(INADDR_LOOPBACK) };
            Assert.False(Libc.bind(fd, &addr, (uint)sizeof(sockaddr_in)).IsError);
            uint len = (uint)sizeof(sockaddr_in);
            Assert.False(Libc.getsockname(fd, &addr, &len).IsError);
            Assert.NotEqual(0, addr.sin_port);

            byte payload = 42;
            Assert.Equal(1, Libc.sendto(fd, &payload, 1, 0, &addr, (uint)sizeof(sockaddr_in)).Value);

            byte got = 0;
            var iov = new iovec { iov_base = &got, iov_len = 1 };
            byte* control = stackalloc byte[256];
            var m = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = 256 };
            SysResult r = Libc.recvmsg(fd, &m, 0);
            Assert.False(r.IsError, r.ToString());
            Assert.Equal(1, r.Value);
            Assert.Equal(42, got);
            Assert.Equal(0, m.msg_flags & MSG_CTRUNC);

            var seen = new Dictionary<int, (nuint Len, int Value)>();
            for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != null; c = CMSG_NXTHDR(&m, c))
            {
                Assert.Equal(SOL_IP, c->cmsg_level);
                seen[c->cmsg_type] = (c->cmsg_len, c->cmsg_type == IP_TTL ? *(int*)CMSG_DATA(c) : *CMSG_DATA(c));
            }
            Assert.Equal(CMSG_LEN(sizeof(int)), seen[IP_TTL].Len);
            Assert.InRange(seen[IP_TTL].Value, 1, 255);
            Assert.Equal(CMSG_LEN(1), seen[IP_TOS].Len);
            Assert.Equal(CMSG_SPACE(sizeof(int)) + CMSG_SPACE(1), m.msg_controllen);

            // Too little control space: the kernel keeps what fits and sets MSG_CTRUNC.
            Assert.Equal(1, Libc.sendto(fd, &payload, 1, 0, &addr, (uint)sizeof(sockaddr_in)).Value);
            m = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = (nuint)(CMSG_SPACE(sizeof(int)) + 8) };
            r = Libc.recvmsg(fd, &m, 0);
            Assert.Equal(1, r.Value);
            Assert.Equal(MSG_CTRUNC, m.msg_flags & MSG_CTRUNC);
        }
        finally
        {
            Assert.False(Libc.close(fd).IsError);
        }
    }
}
