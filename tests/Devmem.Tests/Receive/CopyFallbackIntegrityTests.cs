using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.TestSupport;
using Devmem.Validation;

namespace Devmem.Tests.Receive;

// Several sockets over one memory, fragments handed to the wrong socket, overlapping calls: what a
// server with more than one connection (or more than one thread) does, on the host kernel over loopback.
[Tier(Tier.HostKernel)]
public sealed class CopyFallbackIntegrityTests
{
    // Receives until end of stream, validating each fragment before releasing it (the fragment's slot is
    // held while it is read, as an application holds it while the GPU reads).
    private static (long Bytes, long Errors) Drain(DevmemSocket ds, DeviceMemory memory, int period)
    {
        var check = new NcdevmemPattern(period);
        var frags = new DevmemFragment[64];
        var linear = new byte[1];
        while (ds.Receive(frags, linear) is { EndOfStream: false } r)
        {
            memory.BeginCpuAccess(CpuAccess.Read);
            foreach (DevmemFragment f in frags.AsSpan(0, r.Fragments))
            {
                check.Validate(memory.GetSpan((long)f.Offset, (int)f.Length));
            }

            memory.EndCpuAccess(CpuAccess.Read);
            ds.Release(frags.AsSpan(0, r.Fragments));
        }

        return (check.Bytes, check.Errors);
    }

    [Fact]
    public async Task Four_concurrent_connections_into_one_memory_all_arrive_validated()
    {
        // Before one ring per memory, each socket cut the whole memory into its own slots: two streams
        // wrote into slots the other still held (millions of validation errors with two 128 MiB senders).
        const int Connections = 4;
        const long PerConnection = 64L << 20;
        using var memory = HostMemory.Create(16 << 20);
        var pairs = Enumerable.Range(0, Connections).Select(_ => Loopback.Connect()).ToArray();
        var sockets = pairs.Select(p => DevmemSocket.CreateCopyFallback(p.Server, memory, "test: loopback")).ToArray();
        try
        {
            var senders = pairs.Select((p, i) => Task.Run(() =>
            {
                new NcdevmemPattern(5 + i).Send(p.Client, PerConnection);
                p.Client.Shutdown(SocketShutdown.Send);
            }, TestContext.Current.CancellationToken)).ToArray();
            var receivers = sockets.Select((ds, i) => Task.Factory.StartNew(() => Drain(ds, memory, 5 + i), TaskCreationOptions.LongRunning)).ToArray();
            (long Bytes, long Errors)[] results = await Task.WhenAll(receivers);
            await Task.WhenAll(senders);
            for (int i = 0; i < Connections; i++)
            {
                Assert.Equal((PerConnection, 0L), results[i]);
                Assert.Equal(0, sockets[i].OutstandingTokens);
            }
        }
        finally
        {
            foreach (DevmemSocket ds in sockets)
            {
                ds.Dispose();
            }

            foreach (var (c, s) in pairs)
            {
                c.Dispose();
                s.Dispose();
            }
        }
    }

    [Fact]
    public void A_fragment_released_on_another_socket_is_refused_and_stays_held_by_its_own()
    {
        var (ca, sa) = Loopback.Connect();
        var (cb, sb) = Loopback.Connect();
        using (ca)
        using (sa)
        using (cb)
        using (sb)
        using (var memory = HostMemory.Create(1 << 20))
        using (var a = DevmemSocket.CreateCopyFallback(sa, memory, "test"))
        using (var b = DevmemSocket.CreateCopyFallback(sb, memory, "test"))
        {
            ca.Send(new byte[4096]);
            cb.Send(new byte[4096]);
            var fa = new DevmemFragment[4];
            var fb = new DevmemFragment[4];
            int na = a.Receive(fa, new byte[1]).Fragments;
            int nb = b.Receive(fb, new byte[1]).Fragments;
            Assert.Equal(1, na);
            Assert.Equal(1, nb);

            var e = Assert.Throws<InvalidOperationException>(() => a.Release(fb.AsSpan(0, nb)));
            Assert.Contains("another socket", e.Message, StringComparison.Ordinal);
            Assert.Equal(1, a.OutstandingTokens);
            Assert.Equal(1, b.OutstandingTokens);

            // Each is released where it came from.
            b.Release(fb.AsSpan(0, nb));
            a.Release(fa.AsSpan(0, na));
            Assert.Equal(0, a.OutstandingTokens);
            Assert.Equal(0, b.OutstandingTokens);
        }
    }

    [Fact]
    public async Task A_call_that_overlaps_a_pending_receive_is_refused_with_the_threading_rule()
    {
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        using (var memory = HostMemory.Create(1 << 20))
        using (var ds = DevmemSocket.CreateCopyFallback(server, memory, "test"))
        {
            var frags = new DevmemFragment[4];
            var linear = new byte[1];
            ValueTask<DevmemReceiveResult> pending = ds.ReceiveAsync(frags, linear, TestContext.Current.CancellationToken);
            Assert.False(pending.IsCompleted);

            // Without a guard the second receive blocks (no data) or races the first on the token set:
            // give it 2 s, then call that a failure.
            Task<Exception?> second = Task.Run(() => Record.Exception(() => ds.Receive(new DevmemFragment[4], new byte[1])), TestContext.Current.CancellationToken);
            Assert.Same(second, await Task.WhenAny(second, Task.Delay(2000, TestContext.Current.CancellationToken)));
            var e = Assert.IsType<InvalidOperationException>(await second);
            Assert.Contains("one call at a time", e.Message, StringComparison.Ordinal);
            Assert.Throws<InvalidOperationException>(() => ds.Release(ReadOnlySpan<DevmemFragment>.Empty));
            Assert.Throws<InvalidOperationException>(() => ds.FlushReleases());

            client.Send(new byte[100]);
            DevmemReceiveResult r = await pending;
            Assert.Equal(1, r.Fragments);
            ds.Release(frags.AsSpan(0, 1));
            Assert.Equal(0, ds.OutstandingTokens);
        }
    }

    [Fact]
    public async Task Two_threads_receiving_on_one_socket_never_corrupt_its_counters()
    {
        // The report: two threads in Receive drove OutstandingTokens to -2. With the guard one of them
        // is refused each time they overlap; the counters stay exact.
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        using (var memory = HostMemory.Create(4 << 20))
        using (var ds = DevmemSocket.CreateCopyFallback(server, memory, "test", slotSize: 4096))
        {
            const long Total = 16L << 20;
            Task sender = Task.Run(() =>
            {
                new NcdevmemPattern(7).Send(client, Total);
                client.Shutdown(SocketShutdown.Send);
            }, TestContext.Current.CancellationToken);
            long bytes = 0, refused = 0;
            bool end = false;
            void Loop()
            {
                var frags = new DevmemFragment[8];
                while (!Volatile.Read(ref end))
                {
                    try
                    {
                        DevmemReceiveResult r = ds.Receive(frags, new byte[1]);
                        if (r.EndOfStream)
                        {
                            Volatile.Write(ref end, true);
                            break;
                        }

                        Interlocked.Add(ref bytes, r.DmabufBytes);
                        while (true)
                        {
                            try
                            {
                                ds.Release(frags.AsSpan(0, r.Fragments));
                                break;
                            }
                            catch (InvalidOperationException e) when (e.Message.Contains("one call at a time", StringComparison.Ordinal))
                            {
                                // Refused before anything was released: try again.
                                Interlocked.Increment(ref refused);
                                Thread.Yield();
                            }
                        }
                    }
                    catch (InvalidOperationException e) when (e.Message.Contains("one call at a time", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref refused);
                        Thread.Yield();
                    }
                }
            }

            Task t1 = Task.Factory.StartNew(Loop, TaskCreationOptions.LongRunning);
            Task t2 = Task.Factory.StartNew(Loop, TaskCreationOptions.LongRunning);
            await sender;
            await Task.WhenAll(t1, t2).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            Assert.Equal(Total, bytes);
            Assert.Equal(0, ds.OutstandingTokens);
            TestContext.Current.SendDiagnosticMessage($"{refused} overlapping calls refused");
        }
    }

    [Fact]
    public void A_foreign_fragment_never_reaches_SO_DEVMEM_DONTNEED_in_zero_copy()
    {
        // Tokens are numbered per socket from 1, so both sockets hold token 5 here; before fragments knew
        // their socket, a.Release(b's fragment) freed a's token 5 in the kernel.
        var (ca, sa) = Loopback.Connect();
        var (cb, sb) = Loopback.Connect();
        using (ca)
        using (sa)
        using (cb)
        using (sb)
        using (var a = new DevmemSocket(sa))
        using (var b = new DevmemSocket(sb))
        {
            DevmemFragment mine = a.HoldForTest(5);
            DevmemFragment theirs = b.HoldForTest(5);
            Assert.Equal(mine.Token, theirs.Token);
            var e = Assert.Throws<InvalidOperationException>(() => a.Release([theirs]));
            Assert.Contains("received on another socket", e.Message, StringComparison.Ordinal);
            a.FlushReleases();
            Assert.Equal(0, a.ReleaseCalls);
            Assert.Equal(1, a.OutstandingTokens);
            Assert.Equal(1, b.OutstandingTokens);

            // A fragment made by hand belongs to no socket.
            Assert.Throws<InvalidOperationException>(() => a.Release([new DevmemFragment(1, 0, 1, 5)]));
            Assert.Equal(1, a.OutstandingTokens);
        }
    }

    [Fact]
    public void A_fragment_is_still_24_bytes_with_its_owner()
    {
        // 20 bytes of fields padded to 24 before; the owner id fills the padding.
        Assert.Equal(24, Unsafe.SizeOf<DevmemFragment>());
    }

    [Fact]
    public void A_receive_on_a_closed_socket_gives_every_slot_back()
    {
        var (ca, sa) = Loopback.Connect();
        var (cb, sb) = Loopback.Connect();
        using (ca)
        using (cb)
        using (sb)
        using (var memory = HostMemory.Create(1 << 20))
        using (var a = DevmemSocket.CreateCopyFallback(sa, memory, "test"))
        using (var b = DevmemSocket.CreateCopyFallback(sb, memory, "test"))
        {
            int free = b.CopySlotsFree;
            Assert.Equal(16, free);
            sa.Dispose();
            Assert.Throws<ObjectDisposedException>(() => a.Receive(new DevmemFragment[8], new byte[1]));
            Assert.Equal(free, b.CopySlotsFree);

            // The ring still lends every slot: b can fill the memory.
            cb.Send(new byte[1 << 20]);
            long held = 0;
            var frags = new DevmemFragment[16];
            while (held < 16)
            {
                held += b.Receive(frags, new byte[1]).Fragments;
            }

            Assert.Equal(0, b.CopySlotsFree);
        }
    }

    [Fact]
    public void A_receive_into_disposed_memory_gives_every_slot_back()
    {
        var (ca, sa) = Loopback.Connect();
        var (cb, sb) = Loopback.Connect();
        using (ca)
        using (sa)
        using (cb)
        using (sb)
        {
            var memory = HostMemory.Create(1 << 20);
            using var a = DevmemSocket.CreateCopyFallback(sa, memory, "test");
            using var b = DevmemSocket.CreateCopyFallback(sb, memory, "test");
            ca.Send(new byte[100]);
            int free = b.CopySlotsFree;
            memory.Dispose();
            Assert.Throws<ObjectDisposedException>(() => a.Receive(new DevmemFragment[8], new byte[1]));
            Assert.Equal(free, b.CopySlotsFree);
        }
    }

    [Fact]
    public void Disposing_a_copy_socket_that_holds_fragments_gives_their_slots_back_to_the_memory()
    {
        var (ca, sa) = Loopback.Connect();
        using (ca)
        using (sa)
        using (var memory = HostMemory.Create(1 << 20))
        {
            var log = new Memory.ListLogger();
            var a = DevmemSocket.CreateCopyFallback(sa, memory, "test", logger: log);
            ca.Send(new byte[3 * 65536]);
            int held = 0, bytes = 0;
            var frags = new DevmemFragment[16];
            while (bytes < 3 * 65536)
            {
                DevmemReceiveResult r = a.Receive(frags.AsSpan(held), new byte[1]);
                held += r.Fragments;
                bytes += (int)r.DmabufBytes;
            }

            Assert.Equal(16 - held, a.CopySlotsFree);
            a.Dispose();
            Assert.Contains(log.Entries, e => e.Message.Contains($"{held} fragment token(s)", StringComparison.Ordinal));
            using var again = DevmemSocket.CreateCopyFallback(sa, memory, "test");
            Assert.Equal(16, again.CopySlotsFree);

            // One fallback warning for the memory, however many sockets wrap it.
            Assert.Single(log.Entries, e => e.Message.Contains("zero copy is not possible", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Another_slot_size_over_the_same_memory_is_refused()
    {
        var (ca, sa) = Loopback.Connect();
        using (ca)
        using (sa)
        using (var memory = HostMemory.Create(1 << 20))
        using (var a = DevmemSocket.CreateCopyFallback(sa, memory, "test"))
        {
            var e = Assert.Throws<ArgumentException>(() => DevmemSocket.CreateCopyFallback(sa, memory, "test", slotSize: 4096));
            Assert.Contains("65536-byte slots", e.Message, StringComparison.Ordinal);
        }
    }
}
