using System.Buffers.Binary;
using Devmem.Interop;
using Devmem.Receive;
using Devmem.Transmit;

namespace Devmem.Tests.Transmit;

// The bytes of devmem TX, to the kernel's layout: the cmsg the kernel tool's do_client builds
// (tools/testing/selftests/drivers/net/hw/ncdevmem.c) and the sock_extended_err its wait_compl reads.
[Tier(Tier.Pure)]
public class DevmemTxControlTests
{
    [Fact]
    public void The_tx_cmsg_is_CMSG_LEN_4_at_SOL_SOCKET_SCM_DEVMEM_DMABUF_with_the_id_and_zeroed_padding()
    {
        Span<byte> buf = stackalloc byte[32];
        buf.Fill(0xAA);
        int n = DevmemTxControl.WriteBindingId(buf, 0x01020304);

        // struct cmsghdr on 64-bit: size_t cmsg_len @0, int cmsg_level @8, int cmsg_type @12, data @16;
        // __sock_cmsg_send (net/core/sock.c) wants cmsg_len == CMSG_LEN(sizeof(u32)) == 20 exactly.
        byte[] expected =
        [
            20, 0, 0, 0, 0, 0, 0, 0,
            1, 0, 0, 0,
            79, 0, 0, 0,
            0x04, 0x03, 0x02, 0x01,
            0, 0, 0, 0,
        ];
        Assert.Equal(24, n);
        Assert.Equal(20, DevmemTxControl.MessageLength);
        Assert.Equal(24, DevmemTxControl.Space);
        Assert.Equal(expected, buf[..n].ToArray());
        Assert.Equal(0xAA, buf[n]);
    }

    [Fact]
    public void A_control_buffer_smaller_than_CMSG_SPACE_4_is_refused()
    {
        Assert.Throws<ArgumentException>(() => DevmemTxControl.WriteBindingId(new byte[23], 1));
    }

    // One error-queue cmsg as ip(v6)_recv_error builds it: cmsghdr, then struct sock_exterr_skb's
    // sock_extended_err (16 bytes) followed by the offender address (sockaddr_in6, 28 bytes).
    private static byte[] RecvErr(int level, int type, uint errno, byte origin, byte code, uint info, uint data, byte[]? before = null)
    {
        const int payload = 16 + 28;
        int len = 16 + payload;
        int space = (len + 7) & ~7;
        byte[] prefix = before ?? [];
        byte[] b = new byte[prefix.Length + space];
        prefix.CopyTo(b, 0);
        Span<byte> c = b.AsSpan(prefix.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(c, (ulong)len);
        BinaryPrimitives.WriteInt32LittleEndian(c[8..], level);
        BinaryPrimitives.WriteInt32LittleEndian(c[12..], type);
        BinaryPrimitives.WriteUInt32LittleEndian(c[16..], errno);
        c[20] = origin;
        c[22] = code;
        BinaryPrimitives.WriteUInt32LittleEndian(c[24..], info);
        BinaryPrimitives.WriteUInt32LittleEndian(c[28..], data);
        return b;
    }

    private static byte[] Timestamp()
    {
        // An unrelated SOL_SOCKET cmsg (SCM_TIMESTAMPING, 3 timespecs) that must be skipped.
        byte[] b = new byte[16 + 48];
        BinaryPrimitives.WriteUInt64LittleEndian(b, 16 + 48);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), asm_socket.SOL_SOCKET);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), 37);
        return b;
    }

    [Theory]
    [InlineData(0, 11)]
    [InlineData(41, 25)]
    public void A_zerocopy_completion_gives_the_inclusive_range(int level, int type)
    {
        byte[] control = RecvErr(level, type, 0, 5, 0, 3, 7, Timestamp());
        Assert.True(DevmemTxControl.TryParseCompletion(control, out var c));
        Assert.Equal(new DevmemTxCompletion(3, 7, false), c);
        Assert.Equal(5, c.Count);
        Assert.Equal("tx complete [3,7]", c.ToString());
    }

    [Fact]
    public void A_completion_the_kernel_copied_says_so()
    {
        Assert.True(DevmemTxControl.TryParseCompletion(RecvErr(41, 25, 0, 5, linux_errqueue.SO_EE_CODE_ZEROCOPY_COPIED, 9, 9), out var c));
        Assert.True(c.Copied);
        Assert.Equal(1, c.Count);
    }

    [Fact]
    public void A_range_across_the_wrap_counts_right()
    {
        Assert.Equal(3, new DevmemTxCompletion(uint.MaxValue - 1, 0, false).Count);
    }

    [Fact]
    public void Another_origin_fails_as_the_kernel_tool_does()
    {
        DevmemException e = Assert.Throws<DevmemException>(() => DevmemTxControl.TryParseCompletion(RecvErr(0, 11, 111, 2, 0, 0, 0), out _));
        Assert.Contains("wrong origin 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_completion_with_an_errno_fails_with_its_name()
    {
        DevmemException e = Assert.Throws<DevmemException>(() => DevmemTxControl.TryParseCompletion(RecvErr(41, 25, 12, 5, 0, 0, 0), out _));
        Assert.Equal("ENOMEM", e.ErrnoName);
    }

    [Fact]
    public void No_error_queue_cmsg_is_no_completion()
    {
        Assert.False(DevmemTxControl.TryParseCompletion(Timestamp(), out _));
        Assert.False(DevmemTxControl.TryParseCompletion([], out _));
    }

    [Fact]
    public void A_recverr_cmsg_too_short_for_sock_extended_err_is_refused()
    {
        byte[] control = RecvErr(0, 11, 0, 5, 0, 0, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(control, 16 + 8);
        Assert.Throws<DevmemException>(() => DevmemTxControl.TryParseCompletion(control, out _));
    }
}
