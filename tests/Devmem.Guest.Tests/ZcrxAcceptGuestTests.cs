using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Testing;
using Devmem.Validation;
using Devmem.Zcrx;

namespace Devmem.Guest.Tests;

/// <summary>
/// <see cref="ZcrxInstance.Accept"/>: the ring accepts (IORING_OP_ACCEPT) and arms the new socket's
/// RECV_ZC before the caller hears of it. Without a NIC (ZCRX_REG_NODEV, Debian's newest kernel), over
/// loopback, on both drivers: the kernel copies every byte into the area, and the accept, its
/// cancellation, its refusal and the descriptor's life are the kernel's own.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Any)]
public sealed class ZcrxAcceptGuestTests
{
    private static Socket Listen(out IPEndPoint endPoint)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        endPoint = (IPEndPoint)listener.LocalEndPoint!;
        return listener;
    }

    /// <summary>What /proc/self/fd says descriptor <paramref name="fd"/> is ("socket:[inode]"), or null when it is closed.</summary>
    private static string? FdTarget(long fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [Theory]
    [InlineData(ZcrxDriver.OwnThread)]
    [InlineData(ZcrxDriver.ReceivingThread)]
    public void The_ring_accepts_a_connection_whose_stream_arrives_validated_and_disposing_closes_it(ZcrxDriver driver)
    {
        ZcrxGuestTests.RequireZcrxWithoutNic();
        const long Total = 16L << 20;
        using var memory = HostMemory.CreateAnonymous(8 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice() with { Driver = driver });
        using Socket listener = Listen(out IPEndPoint at);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var sender = Task.Run(() =>
        {
            client.Connect(at);
            new NcdevmemPattern(13).Send(client, Total);
            client.Shutdown(SocketShutdown.Send);
        }, TestContext.Current.CancellationToken);

        long fd;
        string? socketInode;
        using (DevmemSocket ds = zcrx.Accept(listener, cancellationToken: TestContext.Current.CancellationToken))
        {
            // Its Socket is made on first use, from the descriptor the ring accepted: the client's peer.
            Assert.Equal(client.LocalEndPoint, ds.Socket.RemoteEndPoint);
            Assert.True(ds.IsZeroCopy == false && ds.Zcrx == zcrx, "a NODEV instance's socket says it is not zero copy (the kernel copies)");
            fd = ds.Socket.SafeHandle.DangerousGetHandle();
            socketInode = FdTarget(fd);
            Assert.StartsWith("socket:[", socketInode, StringComparison.Ordinal);

            DevmemStreamResult r = new DevmemStreamReceiver(ds, memory, new DevmemStreamOptions { Validation = new NcdevmemPattern(13), Segments = 64 }).Run();
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] {driver}: accepted fd {fd} ({socketInode}), {r.DmabufBytes} bytes in {r.Fragments} fragments");
            Assert.Equal(DevmemStreamEnd.EndOfStream, r.End);
            Assert.Equal(Total, r.DmabufBytes);
            Assert.Equal(0, r.ValidationErrors);
            Assert.Equal(0, ds.OutstandingTokens);
        }

#pragma warning disable xUnit1031 // the receiving-thread driver needs this thread to block in the ring
        sender.Wait(TestContext.Current.CancellationToken);
#pragma warning restore xUnit1031

        // Disposed, the socket is closed once the ring's request let go of it (at the latest when the
        // instance closes): the number is free, or another descriptor now.
        zcrx.Dispose();
        Assert.NotEqual(socketInode, FdTarget(fd));
    }

    [Fact]
    public void An_accept_is_cancelled_by_its_token_and_the_ring_accepts_the_next_one()
    {
        ZcrxGuestTests.RequireZcrxWithoutNic();
        using var memory = HostMemory.CreateAnonymous(4 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice());
        using Socket listener = Listen(out IPEndPoint at);

        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => zcrx.Accept(listener, cancellationToken: cts.Token));
        }

        // The cancelled request is gone from the ring (IORING_OP_ASYNC_CANCEL): the next connection goes
        // to the next accept, not to the cancelled one.
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(at);
        client.Send("zcrx"u8);
        client.Shutdown(SocketShutdown.Send);
        using DevmemSocket ds = zcrx.Accept(listener, cancellationToken: TestContext.Current.CancellationToken);
        var segments = new DevmemSegment[4];
        DevmemReceiveResult r = ds.Receive(segments, Span<byte>.Empty);
        Assert.Equal(1, r.Segments);
        Assert.Equal("zcrx"u8.ToArray(), memory.GetSpan((long)segments[0].Fragment.Offset, (int)segments[0].Fragment.Length).ToArray());
        ds.Release(segments.AsSpan(0, 1));
        Assert.True(ds.Receive(segments, Span<byte>.Empty).EndOfStream);
    }

    [Fact]
    public async Task AcceptAsync_on_the_instances_own_thread_takes_connections_without_a_waiting_thread_and_is_cancelled_by_its_token()
    {
        ZcrxGuestTests.RequireZcrxWithoutNic();
        const long Total = 8L << 20;
        using var memory = HostMemory.CreateAnonymous(8 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice() with { Driver = ZcrxDriver.OwnThread });
        using Socket listener = Listen(out IPEndPoint at);

        // Cancelled while pending: the task ends with the cancellation, the request leaves the ring.
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            ValueTask<DevmemSocket> pending = zcrx.AcceptAsync(listener, cancellationToken: cts.Token);
            Assert.False(pending.IsCompleted, "nobody connected: the accept waits");
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);
        }

        // Two accepts pending at once, two clients: each gets its own connection, validated.
        ValueTask<DevmemSocket> first = zcrx.AcceptAsync(listener, cancellationToken: TestContext.Current.CancellationToken);
        ValueTask<DevmemSocket> second = zcrx.AcceptAsync(listener, cancellationToken: TestContext.Current.CancellationToken);
        Task[] senders = [.. Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            c.Connect(at);
            new NcdevmemPattern(11).Send(c, Total);
            c.Shutdown(SocketShutdown.Send);
        }, TestContext.Current.CancellationToken))];
        using DevmemSocket a = await first;
        using DevmemSocket b = await second;
        Assert.NotEqual(a.Socket.RemoteEndPoint, b.Socket.RemoteEndPoint);
        // The ring reads the sockets (they never look readable): the wait for data watches the completions.
        await a.WaitForDataAsync(TestContext.Current.CancellationToken);
        await b.WaitForDataAsync(TestContext.Current.CancellationToken);
        DevmemStreamResult[] results = await Task.WhenAll(new[] { a, b }.Select(ds => Task.Run(
            () => new DevmemStreamReceiver(ds, memory, new DevmemStreamOptions { Validation = new NcdevmemPattern(11), Segments = 64 }).Run(),
            TestContext.Current.CancellationToken)));
        await Task.WhenAll(senders);
        foreach (DevmemStreamResult r in results)
        {
            Assert.Equal(DevmemStreamEnd.EndOfStream, r.End);
            Assert.Equal(Total, r.DmabufBytes);
            Assert.Equal(0, r.ValidationErrors);
        }
    }

    [Fact]
    public void A_socket_that_does_not_listen_is_EINVAL_another_threads_accept_is_refused_and_disposing_ends_a_waiting_accept()
    {
        ZcrxGuestTests.RequireZcrxWithoutNic();
        using var memory = HostMemory.CreateAnonymous(4 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice() with { Driver = ZcrxDriver.ReceivingThread });

        // Bound, not listening: the kernel's accept refuses it (net/socket.c, do_accept: EINVAL).
        using (var bound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            bound.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            DevmemException e = Assert.Throws<DevmemException>(() => zcrx.Accept(bound, cancellationToken: TestContext.Current.CancellationToken));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] accept on a socket that does not listen: {e.Message}");
            Assert.Equal(Errno.EINVAL, e.Errno);
            Assert.Contains("listening", e.Message, StringComparison.Ordinal);
        }

        // That accept made this thread the ring's driver: another thread's accept is refused before it
        // asks the kernel for anything (nobody would take the connection it accepted).
        using Socket listener = Listen(out _);
        var elsewhere = Assert.Throws<AggregateException>(() => Task.Run(() => zcrx.Accept(listener), TestContext.Current.CancellationToken).Wait(TestContext.Current.CancellationToken));
        Assert.Contains("driven by the thread that first received", Assert.IsType<InvalidOperationException>(elsewhere.InnerException).Message, StringComparison.Ordinal);

        // Disposed from another thread while this one waits in the ring for a connection (the iou-zcrx deadline).
        using var timer = new Timer(_ => zcrx.Dispose(), null, TimeSpan.FromMilliseconds(300), Timeout.InfiniteTimeSpan);
        Assert.Throws<ObjectDisposedException>(() => zcrx.Accept(listener, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Throws<ObjectDisposedException>(() => zcrx.Accept(listener, cancellationToken: TestContext.Current.CancellationToken));
    }
}
