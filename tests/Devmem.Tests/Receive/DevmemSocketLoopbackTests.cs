using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Receive;

namespace Devmem.Tests.Receive;

// The host kernel (6.18 here) answers these: an ordinary TCP connection over loopback, where no queue is
// bound, so recvmsg(MSG_SOCK_DEVMEM) must behave as a plain recv (net/ipv4/tcp.c: readable skbs are
// copied normally, without devmem cmsgs, even with the flag).
[Tier(Tier.HostKernel)]
[Collection(StaticMeterTests.Name)]
public sealed class DevmemSocketLoopbackTests : IDisposable
{
    private readonly Socket _client;
    private readonly Socket _server;

    public DevmemSocketLoopbackTests()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _client.Connect(listener.LocalEndPoint!);
        _server = listener.Accept();
    }

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
    }

    private static byte[] Pattern(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7)).ToArray();

    [Fact]
    public void Plain_data_is_reported_as_unsteered_and_delivered_in_the_linear_buffer()
    {
        var sent = Pattern(5000);
        _client.Send(sent);
        using var ds = new DevmemSocket(_server);
        var frags = new DevmemFragment[16];
        var linear = new byte[65536];
        int got = 0;
        while (got < sent.Length)
        {
            var r = ds.Receive(frags, linear.AsSpan(got));
            Assert.False(r.EndOfStream);
            Assert.Equal(0, r.Fragments);
            Assert.Equal(0, r.LinearBytes);
            Assert.Equal(0L, r.DmabufBytes);
            Assert.True(r.UnsteeredBytes > 0);
            got += r.UnsteeredBytes;
        }

        Assert.Equal(sent, linear.AsSpan(0, got).ToArray());
        Assert.Equal(0, ds.OutstandingTokens);
    }

    [Fact]
    public void Unsteered_bytes_on_a_zero_copy_socket_are_counted_and_logged_once()
    {
        // A socket wrapped without a setup, on a flow no queue is bound for: IsZeroCopy says true, yet
        // every byte arrives by plain copy. Before this was counted, nothing said so.
        var log = new Memory.ListLogger();
        long metric = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == DevmemMetrics.MeterName && i.Name == "devmem.rx.unsteered_bytes")
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref metric, v));
        listener.Start();
        using var ds = new DevmemSocket(_server, log);
        Assert.True(ds.IsZeroCopy);
        var linear = new byte[65536];
        long got = 0;
        for (int i = 0; i < 3; i++)
        {
            _client.Send(Pattern(1000));
            long want = got + 1000;
            while (got < want)
            {
                got += ds.Receive(new DevmemFragment[4], linear).UnsteeredBytes;
            }
        }

        Assert.Equal(3000, ds.UnsteeredBytes);
        Assert.True(Interlocked.Read(ref metric) >= 3000, $"metric saw {metric}");
        var warning = Assert.Single(log.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Contains("not steered to a bound RX queue", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void End_of_stream_is_reported()
    {
        _client.Shutdown(SocketShutdown.Send);
        using var ds = new DevmemSocket(_server);
        var r = ds.Receive(new DevmemFragment[4], new byte[4096]);
        Assert.True(r.EndOfStream);
        Assert.Equal(0, r.TotalBytes);
    }

    [Fact]
    public async Task ReceiveAsync_waits_for_data_and_can_be_cancelled()
    {
        using var ds = new DevmemSocket(_server);
        var frags = new DevmemFragment[4];
        var linear = new byte[4096];

        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await ds.ReceiveAsync(frags, linear, cts.Token));
        }

        var pending = ds.ReceiveAsync(frags, linear, TestContext.Current.CancellationToken);
        await Task.Delay(50, TestContext.Current.CancellationToken);
        _client.Send(Pattern(100));
        var r = await pending;
        Assert.Equal(100, r.UnsteeredBytes);
        Assert.Equal(Pattern(100), linear.AsSpan(0, 100).ToArray());
    }

    [Fact]
    public void Releasing_a_token_this_socket_never_received_is_refused()
    {
        using var ds = new DevmemSocket(_server);
        var ex = Assert.Throws<InvalidOperationException>(() => ds.Release([new DevmemFragment(1, 0, 10, 42)]));
        Assert.Contains("42", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, ds.ReleaseCalls);
    }

    [Fact]
    public void Receiving_allocates_nothing_in_steady_state()
    {
        using var ds = new DevmemSocket(_server);
        var frags = new DevmemFragment[64];
        var linear = new byte[65536];
        var chunk = Pattern(1000);

        // Warm up (first receive sizes and pins the control buffer).
        _client.Send(chunk);
        ds.Receive(frags, linear);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            _client.Send(chunk);
            int got = 0;
            while (got < chunk.Length)
            {
                got += ds.Receive(frags, linear).UnsteeredBytes;
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Socket.Send itself allocates nothing for a byte[] on Linux; the budget is for the receive path.
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Refuses_a_non_tcp_socket()
    {
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Assert.Throws<ArgumentException>(() => new DevmemSocket(udp));
    }
}

// What the host kernel answers to SO_DEVMEM_DONTNEED (net/core/sock.c sock_devmem_dontneed): these pin
// down the per-call limits that TokenRanges builds to, from the kernel itself.
[Tier(Tier.HostKernel)]
public sealed class KernelDontneedTests
{
    private static unsafe SysResult DontNeed(Socket s, dmabuf_token[] tokens, int byteLength)
    {
        fixed (dmabuf_token* p = tokens)
        {
            return Libc.setsockopt((int)s.SafeHandle.DangerousGetHandle(), asm_socket.SOL_SOCKET, asm_socket.SO_DEVMEM_DONTNEED, p, (uint)byteLength);
        }
    }

    private static (Socket Client, Socket Server, Socket Listener) Connect()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        return (client, listener.Accept(), listener);
    }

    [Fact]
    public unsafe void Tokens_a_socket_does_not_hold_are_skipped_and_the_call_returns_the_number_freed()
    {
        var (c, s, l) = Connect();
        using (c)
        using (s)
        using (l)
        {
            var tokens = Enumerable.Range(0, TokenRanges.MaxRangesPerCall)
                .Select(i => new dmabuf_token { token_start = (uint)(1 + (i * 8)), token_count = 8 }).ToArray();
            var r = DontNeed(s, tokens, tokens.Length * sizeof(dmabuf_token));
            Assert.False(r.IsError, r.ToString());
            Assert.Equal(0, r.Int32);
        }
    }

    [Fact]
    public unsafe void More_ranges_than_the_kernel_limit_are_EINVAL()
    {
        var (c, s, l) = Connect();
        using (c)
        using (s)
        using (l)
        {
            var tokens = new dmabuf_token[TokenRanges.MaxRangesPerCall + 1];
            var r = DontNeed(s, tokens, tokens.Length * sizeof(dmabuf_token));
            Assert.True(r.IsError);
            Assert.Equal(Errno.EINVAL, r.Errno);

            // A length that is not a whole number of dmabuf_token entries is refused too.
            r = DontNeed(s, tokens, sizeof(dmabuf_token) + 4);
            Assert.Equal(Errno.EINVAL, r.Errno);
        }
    }

    [Fact]
    public unsafe void A_udp_socket_is_EBADF()
    {
        using var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var r = DontNeed(u, new dmabuf_token[1], sizeof(dmabuf_token));
        Assert.Equal(Errno.EBADF, r.Errno);
    }
}
