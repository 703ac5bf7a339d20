using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Sys;
using Devmem.Transmit;

namespace Devmem.Netlink.Tests;

// Devmem TX against the host kernel (6.18: bind-tx exists, but no device here supports netmem TX):
// the refusals, and the kernel's own parse of the cmsg we build. Sending from a dma-buf runs in the
// testnic guest (scripts/checks/lib/ncdevmem-guest.sh, G).
[Tier(Tier.HostKernel)]
public sealed class TxHostTests
{
    private static bool KernelHasBindTx()
    {
        using NetdevClient netdev = NetdevClient.Open();
        return netdev.Supports("bind-tx");
    }

    [Fact]
    public void Loopback_is_refused_by_the_kernel_with_its_message()
    {
        Assert.SkipUnless(KernelHasBindTx(), $"the running kernel ({KernelFiles.KernelRelease}) has no bind-tx (6.16+)");
        NetlinkException e = Assert.Throws<NetlinkException>(() => DevmemTxSocket.CheckInterface("lo"));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("bind-tx", e.Operation);
        Assert.Equal("Driver does not support netmem TX", e.KernelMessage);
    }

    [Fact]
    public void A_veth_in_a_namespace_is_found_there_and_refused_by_the_kernel()
    {
        Assert.SkipUnless(KernelHasBindTx(), $"the running kernel ({KernelFiles.KernelRelease}) has no bind-tx (6.16+)");
        using var ns = new NetNamespace();
        // "va" exists only in the namespace: finding it there (not ENODEV) and the driver's refusal prove the
        // ifindex lookup and the netlink socket both live in the caller's namespace.
        NetlinkException e = ns.Enter(() => Assert.Throws<NetlinkException>(() => DevmemTxSocket.CheckInterface("va")));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("Driver does not support netmem TX", e.KernelMessage);
    }

    [Fact]
    public void An_unknown_interface_is_ENODEV()
    {
        DevmemException e = Assert.Throws<DevmemException>(() => DevmemTxSocket.CheckInterface("nosuchif0"));
        Assert.Equal("ENODEV", e.ErrnoName);
        Assert.Contains("ip link", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Host_memory_is_refused_before_any_socket_is_made()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "tx-host");
        ArgumentException e = Assert.Throws<ArgumentException>(() => DevmemTxSocket.Connect(memory, "lo", new IPEndPoint(IPAddress.Loopback, 9)));
        Assert.Contains("not a dma-buf", e.Message, StringComparison.Ordinal);
    }

    // The kernel parses our cmsg (net/core/sock.c __sock_cmsg_send, net/ipv4/tcp.c tcp_sendmsg_locked):
    // with binding id 0 it is accepted and means "no devmem", so the iov offset 0 is taken as a user
    // pointer and the zerocopy send faults (EFAULT); an unknown id is EINVAL (net_devmem_get_binding);
    // the same bytes with cmsg_len 24 instead of CMSG_LEN(4) = 20 are EINVAL.
    [Fact]
    public unsafe void The_kernel_accepts_the_cmsg_layout_and_refuses_a_wrong_length_and_an_unknown_id()
    {
        Assert.SkipUnless(KernelHasBindTx(), $"the running kernel ({KernelFiles.KernelRelease}) has no bind-tx (6.16+): 6.12 refuses any SCM_DEVMEM_DMABUF on send");
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using Socket accepted = listener.Accept();
        int fd = (int)client.SafeHandle.DangerousGetHandle();
        int one = 1;
        Assert.False(Libc.setsockopt(fd, asm_socket.SOL_SOCKET, asm_socket.SO_ZEROCOPY, &one, sizeof(int)).IsError);

        Errno Send(uint id, ulong cmsgLen)
        {
            byte[] control = new byte[DevmemTxControl.Space];
            DevmemTxControl.WriteBindingId(control, id);
            BitConverter.TryWriteBytes(control, cmsgLen);
            fixed (byte* c = control)
            {
                var iov = new iovec { iov_base = null, iov_len = 64 };
                msghdr m = default;
                m.msg_iov = &iov;
                m.msg_iovlen = 1;
                m.msg_control = c;
                m.msg_controllen = (nuint)control.Length;
                SysResult r = Libc.sendmsg(fd, &m, sys_socket.MSG_ZEROCOPY | sys_socket.MSG_DONTWAIT);
                return r.IsError ? r.Errno : Errno.None;
            }
        }

        Assert.Equal(Errno.EFAULT, Send(0, (ulong)DevmemTxControl.MessageLength));
        Assert.Equal(Errno.EINVAL, Send(0x7fff_fff0, (ulong)DevmemTxControl.MessageLength));
        Assert.Equal(Errno.EINVAL, Send(0, 24));
    }

    [Fact]
    public void Probe_answers_what_CheckInterface_throws()
    {
        DevmemTxProbe lo = DevmemTxSocket.Probe("lo");
        Assert.False(lo.IsAvailable);
        Assert.Equal(DevmemFallbackKind.BindTxUnsupported, lo.FallbackKind);
        if (KernelHasBindTx())
        {
            Assert.Equal(Errno.EOPNOTSUPP, lo.Error!.Errno);
            Assert.Equal("Driver does not support netmem TX", lo.Error.KernelMessage);
        }
        else
        {
            Assert.IsType<NetlinkNotSupportedException>(lo.Error);
        }

        DevmemTxProbe missing = DevmemTxSocket.Probe("nosuchif0");
        Assert.False(missing.IsAvailable);
        Assert.Null(missing.FallbackKind);   // an error under any policy, not a reason to fall back
        Assert.Equal(Errno.ENODEV, missing.Error!.Errno);
        Assert.Contains("ip link", missing.Reason, StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => DevmemTxSocket.Probe("has space"));
    }

    [Fact]
    public void Without_a_fallback_host_memory_is_still_refused_and_a_missing_interface_is_an_error_under_Copy_too()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "tx-policy");
        var server = new IPEndPoint(IPAddress.Loopback, 9);
        Assert.Throws<ArgumentException>(() => DevmemTxSocket.Connect(memory, "lo", server, new DevmemTxOptions()));
        DevmemException e = Assert.Throws<DevmemException>(() =>
            DevmemTxSocket.Connect(memory, "nosuchif0", server, new DevmemTxOptions { Fallback = DevmemFallback.Copy }));
        Assert.Equal("ENODEV", e.ErrnoName);
    }

    // The copy fallback behind the same calls: host memory is not a dma-buf (NotDmabuf), so with Copy the
    // socket sends the asked ranges over plain TCP; the receiver must get exactly those bytes, in order.
    [Fact]
    public async Task Copy_fallback_sends_the_ranges_asked_for_and_completes_each_send_at_once()
    {
        const int size = 8 << 20;
        using HostMemory memory = HostMemory.Create(size, "tx-copy");
        byte[] content = new byte[size];
        new Random(7).NextBytes(content);
        memory.CopyFrom(0, content);

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var ct = TestContext.Current.CancellationToken;
        Task<byte[]> received = Task.Run(async () =>
        {
            using Socket conn = await listener.AcceptAsync(ct);
            using var all = new MemoryStream();
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = await conn.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            {
                all.Write(buffer, 0, n);
            }

            return all.ToArray();
        }, ct);

        // The TX instruments, on the static meter (no MeterFactory given): copied bytes with mode=copy and
        // the interface named in Connect; nothing counted as dma-buf bytes.
        long copied = 0, dmabuf = 0, sends = 0;
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DevmemMetrics.MeterName && instrument.Name.StartsWith("devmem.tx.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var t = tags.ToArray().ToDictionary(kv => kv.Key, kv => kv.Value as string);
            if (t.GetValueOrDefault(DevmemMetrics.InterfaceTag) != "lo" || t.GetValueOrDefault(DevmemMetrics.ModeTag) != DevmemMetrics.CopyMode)
            {
                return;
            }

            switch (instrument.Name)
            {
                case DevmemMetrics.TxCopiedBytesName: Interlocked.Add(ref copied, value); break;
                case DevmemMetrics.TxBytesName: Interlocked.Add(ref dmabuf, value); break;
                case DevmemMetrics.TxSendsName: Interlocked.Add(ref sends, value); break;
            }
        });
        meters.Start();

        var ranges = new (long Offset, long Length)[] { (0, 1), (4096, 3 << 20), (size - 1000, 1000), (12345, 777_777) };
        var options = new DevmemTxOptions { Fallback = DevmemFallback.Copy, MaxBytesInFlight = 1 << 20 };
        await using (DevmemTxSocket tx = await DevmemTxSocket.ConnectAsync(memory, "lo", (IPEndPoint)listener.LocalEndPoint!, options, ct))
        {
            Assert.False(tx.IsZeroCopy);
            Assert.Null(tx.Binding);
            Assert.Equal(DevmemFallbackKind.NotDmabuf, tx.FallbackKind);
            Assert.Contains("not a dma-buf", tx.FallbackReason, StringComparison.Ordinal);
            Assert.Equal(1 << 20, tx.MaxBytesInFlight);
            for (int i = 0; i < ranges.Length; i++)
            {
                var (offset, length) = ranges[i];
                DevmemTxSend sent = i % 2 == 0 ? tx.Send(offset, length) : await tx.SendAsync(offset, length, cancellationToken: ct);
                Assert.Equal(length, sent.Bytes);
                Assert.True(tx.IsCompleted(sent.LastSequence));
                await tx.WaitForCompletionAsync(sent.LastSequence, cancellationToken: ct);
                Assert.Equal(0, tx.BytesInFlight);
            }

            await tx.WaitForAllAsync(ct);
            Assert.Equal(0, tx.OutstandingSends);
            Assert.Equal(ranges.Sum(r => r.Length), tx.BytesSent);
            Assert.Equal(tx.BytesSent, Interlocked.Read(ref copied));
            Assert.Equal(0, Interlocked.Read(ref dmabuf));
            Assert.Equal(tx.NextSequence, Interlocked.Read(ref sends));
        }

        byte[] got = await received.WaitAsync(TimeSpan.FromSeconds(60), ct);
        byte[] expected = ranges.SelectMany(r => content.AsSpan((int)r.Offset, (int)r.Length).ToArray()).ToArray();
        Assert.Equal(expected.Length, got.Length);
        Assert.True(expected.AsSpan().SequenceEqual(got), "the receiver got other bytes than the ranges sent");
    }
}
