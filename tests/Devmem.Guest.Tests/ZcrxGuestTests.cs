using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Testing;
using Devmem.Validation;
using Devmem.Zcrx;

namespace Devmem.Guest.Tests;

/// <summary>
/// io_uring zero-copy receive (io_uring/zcrx.c) through the library on the software devmem NIC
/// (tests/testnic) in Debian's newest kernel, and the clear refusal in 6.12, which has no zcrx. The
/// testnic emulates only the NIC's DMA (docs/testnic.md): this proves the kernel path, not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Testnic)]
public sealed class ZcrxGuestTests
{
    private const string Ifname = "eth0";
    private static readonly IPAddress Server = IPAddress.Parse("10.99.0.1");

    private static void RequireTestnic()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"these need the software devmem NIC (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
    }

    private static void RequireZcrx()
    {
        RequireTestnic();
        Assert.SkipWhen(Guest.Series == "6.12", "6.12 has no io_uring zcrx (6.15); Six_twelve_says_zcrx_needs_6_15 checks the answer there");
    }

    /// <summary>For the NODEV cases (loopback, any NIC): a kernel with zcrx.</summary>
    internal static void RequireZcrxWithoutNic()
    {
        Guest.Require();
        Assert.SkipWhen(Guest.Series == "6.12", "6.12 has no io_uring zcrx");
    }

    private static void SetMtu(int mtu)
    {
        foreach (string[] args in (string[][])[["link", "set", "eth0", "mtu", $"{mtu}"], ["-n", "peer", "link", "set", "eth1", "mtu", $"{mtu}"]])
        {
            ProcessResult ip = ProcessRunner.Run("ip", args);
            Assert.True(ip.ExitCode == 0, $"ip {string.Join(' ', args)}: {ip.Stderr}");
        }
    }

    /// <summary>Accepts <paramref name="connections"/> connections from the peer namespace, each sending <paramref name="total"/> bytes of a 6-byte pattern, and receives them all through the setup at once.</summary>
    private static async Task<(DevmemStreamResult Result, long Outstanding, bool ZeroCopy)[]> ReceiveFromPeer(DevmemRxSetup setup, ushort port, long total, int connections)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(Server, port));
        listener.Listen(connections);
        string send = $"yes \"$(printf '\\001\\002\\003\\004\\005\\006')\" | head -c {total.ToString(CultureInfo.InvariantCulture)} | ip netns exec peer nc -N {Server} {port.ToString(CultureInfo.InvariantCulture)}";
        var senders = Enumerable.Range(0, connections).Select(_ => Guest.Start("sh", "-c", send)).ToArray();
        var runs = new List<Task<(DevmemStreamResult, long, bool)>>();
        var accepted = new List<Socket>();
        try
        {
            for (int i = 0; i < connections; i++)
            {
                Socket conn = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(120));
                accepted.Add(conn);
                DevmemSocket rx = setup.Wrap(conn);
                runs.Add(Task.Factory.StartNew(() =>
                {
                    using (rx)
                    {
                        DevmemStreamResult r = new DevmemStreamReceiver(rx, setup.Memory, new DevmemStreamOptions
                        {
                            Validation = new NcdevmemPattern(7),
                            StopOnLinear = true,
                            Segments = 128,
                        }).Run();
                        return (r, rx.OutstandingTokens, rx.IsZeroCopy);
                    }
                }, TaskCreationOptions.LongRunning));
            }

            var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromMinutes(10));

            // netcat -N shuts its side down at the end of its input and waits for ours.
            foreach (Socket s in accepted)
            {
                s.Dispose();
            }

            foreach (Process p in senders)
            {
                Assert.True(p.WaitForExit(60_000), "the peer's netcat did not exit");
            }

            return results;
        }
        finally
        {
            foreach (Socket s in accepted)
            {
                s.Dispose();
            }

            foreach (Process p in senders)
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                }

                p.Dispose();
            }
        }
    }

    private static async Task FullRun(DeviceMemory memory, ushort port, long total, int connections)
    {
        SetMtu(9000);
        try
        {
            DevmemNicState before = DevmemNicState.Capture(Ifname);
            using NetdevClient netdev = NetdevClient.Open();
            var options = new DevmemRxSetupOptions(Ifname) { Engine = DevmemRxEngine.Zcrx, Steering = new DevmemFlowSteering(Server, port) };
            uint queue;
            long returned, flushes;
            ZcrxCopyStats? copyStats;
            (DevmemStreamResult Result, long Outstanding, bool ZeroCopy)[] results;
            using (DevmemRxSetup setup = DevmemRxSetup.Apply(memory, options))
            {
                queue = Assert.Single(setup.Queues);
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] zcrx setup ({memory.Kind}): {string.Join("; ", setup.Changes)}");
                Assert.True(setup.IsZeroCopy);
                ZcrxInstance zcrx = Assert.IsType<ZcrxInstance>(setup.Zcrx);
                Assert.False(zcrx.IsNoDevice);
                Assert.Equal((uint)Environment.SystemPageSize, zcrx.RxBufferLength);
                NetdevQueueInfo q = netdev.GetQueue(zcrx.InterfaceIndex, NetdevQueueType.Rx, queue);
                Assert.True(q.HasIoUring, "queue-get does not show the io-uring provider on the queue");
                Assert.Null(q.DmabufId);

                var clock = Stopwatch.StartNew();
                results = await ReceiveFromPeer(setup, port, total, connections);
                returned = zcrx.BuffersReturned;
                flushes = zcrx.RefillFlushes;
                copyStats = zcrx.CopyStats;
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] zcrx {connections} x {total} bytes into {memory.Kind} in {clock.Elapsed.TotalSeconds:F1} s; " +
                    $"{returned} buffers returned through the refill ring, {flushes} flushes; kernel copies: {zcrx.CopyStats}");
            }

            long fragments = 0;
            foreach (var (r, outstanding, zeroCopy) in results)
            {
                Assert.True(r.End == DevmemStreamEnd.EndOfStream, $"the receive loop stopped: {r.End}: {r.Detail}");
                Assert.Equal(total, r.DmabufBytes);
                Assert.Equal(0, r.ValidationErrors);
                Assert.Equal(0, r.LinearBytes);
                Assert.Equal(0, outstanding);
                Assert.True(zeroCopy);
                fragments += r.Fragments;
            }

            // The payload arrived in the area's buffers, not copied by the kernel (io_zcrx_copy_frag copies
            // fragments that are not the instance's net_iovs, e.g. a flow on another queue: zcrx_stats counts them).
            Assert.Equal(0, Assert.IsType<ZcrxCopyStats>(copyStats).CopyBytes);

            // Every buffer handed out went back through the refill ring, and none by a system call.
            Assert.Equal(fragments, returned);
            Assert.Equal(0, flushes);
            Assert.False(netdev.GetQueue(int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture), NetdevQueueType.Rx, queue).HasIoUring,
                "the io-uring provider is still on the queue after the setup was disposed");
            Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
        }
        finally
        {
            SetMtu(1500);
        }
    }

    [Fact]
    public async Task Zcrx_into_host_memory_receives_256MiB_validated_returns_every_buffer_and_restores_the_NIC()
    {
        RequireZcrx();
        using var memory = HostMemory.Create(32 << 20);
        await FullRun(memory, 5401, 256L << 20, connections: 1);
    }

    [Fact]
    public async Task Zcrx_into_a_udmabuf_area_receives_256MiB_validated_returns_every_buffer_and_restores_the_NIC()
    {
        RequireZcrx();
        using var memory = UdmabufMemory.Create(32 << 20, "zcrx-area");
        await FullRun(memory, 5402, 256L << 20, connections: 1);
    }

    [Fact]
    public async Task Two_connections_share_one_zcrx_instance_and_both_arrive_validated()
    {
        RequireZcrx();
        using var memory = HostMemory.Create(32 << 20);
        await FullRun(memory, 5403, 64L << 20, connections: 2);
    }

    [Fact]
    public async Task Without_a_NIC_zcrx_copies_two_loopback_streams_into_its_area()
    {
        RequireZcrxWithoutNic();
        using var memory = HostMemory.Create(8 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice());
        long copyEvents = 0, returnedObserved = -1;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == DevmemMetrics.MeterName && i.Name is DevmemMetrics.ZcrxEventsName or DevmemMetrics.ZcrxBuffersReturnedName)
                {
                    l.EnableMeasurementEvents(i);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            bool ours = false, copy = false;
            foreach (var t in tags)
            {
                ours |= t.Key == DevmemMetrics.ZcrxIdTag && Equals(t.Value, zcrx.Id);
                copy |= t.Key == DevmemMetrics.ZcrxEventTag && Equals(t.Value, "copy");
            }

            if (ours && i.Name == DevmemMetrics.ZcrxEventsName && copy)
            {
                Interlocked.Add(ref copyEvents, value);
            }
            else if (ours && i.Name == DevmemMetrics.ZcrxBuffersReturnedName)
            {
                returnedObserved = value;
            }
        });
        listener.Start();
        await ZcrxScenarios.StreamAndValidate(zcrx, 64L << 20, connections: 2);
        Assert.True(zcrx.RefillFlushes > 0, "without a NIC the refill ring is flushed by ZCRX_CTRL_FLUSH_RQ");

        // Every byte was copied by the kernel: its stats say so, and the COPY event fired (once per arming).
        ZcrxCopyStats stats = Assert.IsType<ZcrxCopyStats>(zcrx.CopyStats);
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] NODEV: {stats}, {zcrx.BuffersReturned} buffers returned, {zcrx.RefillFlushes} flushes, {copyEvents} copy events");
        Assert.True(stats.CopyBytes > 0 && stats.CopyCount > 0, $"the kernel's zcrx_stats show no copies: {stats}");
        Assert.True(Interlocked.Read(ref copyEvents) > 0, "no ZCRX_EVENT_COPY was counted in devmem.zcrx.events");
        listener.RecordObservableInstruments();
        Assert.Equal(zcrx.BuffersReturned, returnedObserved);
    }

    [Fact]
    public void Driven_by_the_receiving_thread_a_stream_arrives_validated_and_other_threads_are_refused()
    {
        RequireZcrxWithoutNic();
        using var memory = HostMemory.CreateAnonymous(8 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice() with { Driver = ZcrxDriver.ReceivingThread });
        var (client, server) = Loopback.Connect();
        var (client2, server2) = Loopback.Connect();
        using (client)
        using (server)
        using (client2)
        using (server2)
        {
            const long Total = 16L << 20;
            var sender = Task.Run(() =>
            {
                new NcdevmemPattern(17).Send(client, Total);
                client.Shutdown(SocketShutdown.Send);
            }, TestContext.Current.CancellationToken);
            using (DevmemSocket ds = zcrx.Wrap(server))
            {
                DevmemStreamResult r = new DevmemStreamReceiver(ds, memory, new DevmemStreamOptions { Validation = new NcdevmemPattern(17), Segments = 64 }).Run();
                Assert.Equal(DevmemStreamEnd.EndOfStream, r.End);
                Assert.Equal(Total, r.DmabufBytes);
                Assert.Equal(0, r.ValidationErrors);
                Assert.Equal(0, ds.OutstandingTokens);
                Assert.Equal(r.Fragments, zcrx.BuffersReturned);
            }

#pragma warning disable xUnit1031 // this test's thread must block: it is the one that drives the ring
            sender.Wait(TestContext.Current.CancellationToken);

            // This thread drives the ring now: another thread's receive, or an asynchronous one, is refused.
            using DevmemSocket other = zcrx.Wrap(server2);
            var segments = new DevmemSegment[4];
            var elsewhere = Assert.Throws<AggregateException>(() => Task.Run(() => other.Receive(segments, Span<byte>.Empty), TestContext.Current.CancellationToken).Wait(TestContext.Current.CancellationToken));
            Assert.Contains("driven by the thread that first received", Assert.IsType<InvalidOperationException>(elsewhere.InnerException).Message, StringComparison.Ordinal);
            Assert.ThrowsAny<NotSupportedException>(() => other.ReceiveAsync(segments.AsMemory(), Memory<byte>.Empty, TestContext.Current.CancellationToken).AsTask().GetAwaiter().GetResult());

            // Disposed from another thread while this one waits in Receive (the iou-zcrx deadline): the receive ends.
            using var timer = new Timer(_ => zcrx.Dispose(), null, TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan);
            Assert.Throws<ObjectDisposedException>(() => other.Receive(segments, Span<byte>.Empty));
#pragma warning restore xUnit1031
        }
    }

    [Fact]
    public async Task When_the_loop_fails_its_sockets_end_with_that_error_and_a_later_wrap_is_refused()
    {
        // Found in review: the loop's error was overwritten by the ECANCELED of its closing, and a socket
        // wrapped after the loop ended was never armed, so its receive waited forever.
        RequireZcrxWithoutNic();
        using var memory = HostMemory.Create(8 << 20);
        using var zcrx = ZcrxInstance.Open(memory, ZcrxOptions.NoDevice());
        var (client, server) = Loopback.Connect();
        var (client2, server2) = Loopback.Connect();
        using (client)
        using (server)
        using (client2)
        using (server2)
        {
            using DevmemSocket ds = zcrx.Wrap(server);
            var segments = new DevmemSegment[8];
            client.Send("x"u8);
            DevmemReceiveResult first = ds.Receive(segments, Span<byte>.Empty);
            Assert.Equal(1, first.Segments);
            ds.Release(segments.AsSpan(0, 1));

            DevmemIOException fault = DevmemException.Syscall("io_uring_enter (injected)", Interop.Errno.EFAULT);
            zcrx.FailLoopForTest(fault);

            Task<DevmemReceiveResult> receive = Task.Run(() => ds.Receive(segments, Span<byte>.Empty), TestContext.Current.CancellationToken);
            var ended = await Assert.ThrowsAsync<ZcrxException>(() => receive.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
            Assert.Equal(Interop.Errno.EFAULT, ended.Errno);
            Assert.Same(fault, ended.InnerException);
            Assert.Contains("open a new one", ended.Message, StringComparison.Ordinal);

            var refused = Assert.Throws<ZcrxException>(() => zcrx.Wrap(server2));
            Assert.Same(fault, refused.InnerException);
        }
    }

    /// <summary>The kernel's own iou-zcrx (scripts/vm/build-iou-zcrx.sh), which scripts/test.sh passes to the guest as DEVMEM_IOU_ZCRX.</summary>
    private static string KernelIouZcrx()
    {
        string? path = Environment.GetEnvironmentVariable("DEVMEM_IOU_ZCRX");
        Assert.SkipWhen(string.IsNullOrEmpty(path) || !File.Exists(path),
            "the kernel's iou-zcrx was not given (DEVMEM_IOU_ZCRX, built by scripts/vm/build-iou-zcrx.sh; scripts/test.sh passes it)");
        return path!;
    }

    private static string OurIouZcrx => Path.Combine(Guest.Root, "samples", "iou-zcrx", "bin", "Release", "net10.0", "iou-zcrx");

    /// <summary>The NIC set up as the kernel's iou-zcrx.py sets it (header split, hds-thresh 0, RSS away from the last queue, a flow rule to it), undone on dispose.</summary>
    private sealed class IouZcrxNic : IDisposable
    {
        private readonly Netlink.Ethtool.EthtoolClient _ethtool = Netlink.Ethtool.EthtoolClient.Open();
        private readonly Netlink.Ethtool.EthtoolRings _rings;
        private readonly Netlink.Ethtool.EthtoolRss _rss;
        private readonly uint _rule;

        public IouZcrxNic(ushort port)
        {
            using NetdevClient netdev = NetdevClient.Open();
            int ifindex = int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture);
            Queue = netdev.GetQueues(ifindex).Where(q => q.Type == NetdevQueueType.Rx).Max(q => q.Id);
            _rings = _ethtool.GetRings(Ifname);
            _rss = _ethtool.GetRss(Ifname);
            _ethtool.SetRings(Ifname, new Netlink.Ethtool.EthtoolRingsSettings(TcpDataSplit: Netlink.Ethtool.EthtoolTcpDataSplit.Enabled, HdsThresh: _rings.HdsThresh is null ? null : 0));
            _ethtool.SetRssIndirection(Ifname, Netlink.Ethtool.EthtoolRss.Equal(_rss.Indirection.Count, Queue));
            _rule = _ethtool.AddFlowRule(Ifname, new Netlink.Ethtool.EthtoolFlowRule(Netlink.Ethtool.EthtoolFlowType.Tcp4, null, Server, null, port, Queue));
        }

        public uint Queue { get; }

        public void Dispose()
        {
            _ethtool.DeleteFlowRule(Ifname, _rule);
            _ethtool.RestoreRssIndirection(Ifname, _rss);
            _ethtool.RestoreRings(Ifname, _rings);
            _ethtool.Dispose();
        }
    }

    /// <summary>Waits until something listens on TCP <paramref name="port"/> (/proc/net/tcp6 or tcp, state 0A), without connecting: the kernel's server accepts once.</summary>
    private static void WaitListening(ushort port, Process server)
    {
        string hex = port.ToString("X4", CultureInfo.InvariantCulture);
        var clock = Stopwatch.StartNew();
        while (!File.ReadLines("/proc/net/tcp6").Concat(File.ReadLines("/proc/net/tcp")).Any(l => l.Contains($":{hex} ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3] == "0A"))
        {
            Assert.False(server.HasExited, $"the server exited {(server.HasExited ? server.ExitCode : 0)} before listening: {(server.HasExited ? server.StandardError.ReadToEnd() : "")}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"nothing listened on port {port} within 60 s");
            Thread.Sleep(20);
        }
    }

    /// <summary>Runs SERVER on eth0 and CLIENT in the peer namespace, as iou-zcrx.py's test_zcrx does; returns both exit codes and outputs.</summary>
    private static (int Server, int Client, string Output) ServerAndClient(string serverExe, string clientExe, ushort port, string serverArgs, string clientArgs)
    {
        using var nic = new IouZcrxNic(port);
        using Process server = Guest.Start(serverExe, [.. $"-s -p {port} -i {Ifname} -q {nic.Queue} {serverArgs}".Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        WaitListening(port, server);
        ProcessResult client = ProcessRunner.Run("ip", ["netns", "exec", "peer", clientExe, .. $"-c -h {Server} -p {port} {clientArgs}".Split(' ', StringSplitOptions.RemoveEmptyEntries)], timeout: TimeSpan.FromSeconds(60));
        Assert.True(server.WaitForExit(60_000), "the server did not exit");
        string output = $"server {serverExe} {serverArgs}: exit {server.ExitCode}: {server.StandardOutput.ReadToEnd()}{server.StandardError.ReadToEnd()}\nclient {clientExe} {clientArgs}: exit {client.ExitCode}: {client.Stdout}{client.Stderr}";
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] {output}");
        return (server.ExitCode, client.ExitCode, output);
    }

    [Fact]
    public void Our_iou_zcrx_server_takes_the_kernels_client_and_the_kernels_server_takes_ours()
    {
        RequireZcrx();
        string kernel = KernelIouZcrx();
        DevmemNicState before = DevmemNicState.Capture(Ifname);
        var a = ServerAndClient(OurIouZcrx, kernel, 5411, "", "-l 12840");
        Assert.True(a.Server == 0 && a.Client == 0, a.Output);
        var b = ServerAndClient(kernel, OurIouZcrx, 5412, "", "-l 12840");
        Assert.True(b.Server == 0 && b.Client == 0, b.Output);
        var c = ServerAndClient(OurIouZcrx, kernel, 5413, "-o 4", "-l 4096 -z 16384");
        Assert.True(c.Server == 0 && c.Client == 0, c.Output);
        Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
    }

    [Fact]
    public void Ncdevmem_with_engine_zcrx_receives_into_host_memory_and_reports_the_refill_ring()
    {
        RequireZcrx();
        DevmemNicState before = DevmemNicState.Capture(Ifname);
        string ncdevmem = Path.Combine(Guest.Root, "samples", "ncdevmem", "bin", "Release", "net10.0", "ncdevmem");
        using Process server = Guest.Start(ncdevmem, "-l", "-f", Ifname, "-s", "10.99.0.1", "-p", "5415", "-v", "7", "--engine", "zcrx", "--provider", "memfd", "--json");
        WaitListening(5415, server);
        ProcessResult send = ProcessRunner.Run("sh", ["-c", $"yes \"$(printf '\\001\\002\\003\\004\\005\\006')\" | head -c {32 << 20} | ip netns exec peer nc -N {Server} 5415"], timeout: TimeSpan.FromSeconds(300));
        Assert.True(server.WaitForExit(300_000), "ncdevmem did not exit");
        string json = server.StandardOutput.ReadToEnd(), err = server.StandardError.ReadToEnd();
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] ncdevmem --engine zcrx: exit {server.ExitCode}\n{err}{json}");
        Assert.True(server.ExitCode == 0, $"ncdevmem --engine zcrx exited {server.ExitCode}: {err}");
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("zcrx", root.GetProperty("engine").GetString());
        Assert.Equal("zero-copy", root.GetProperty("mode").GetString());
        Assert.Equal(32L << 20, root.GetProperty("dmabuf_bytes").GetInt64());
        Assert.Equal(0, root.GetProperty("validation_errors").GetInt64());
        Assert.Equal(0, root.GetProperty("release_calls").GetInt64());
        Assert.Equal(0, root.GetProperty("zcrx_refill_flushes").GetInt64());
        Assert.Equal(root.GetProperty("fragments").GetInt64(), root.GetProperty("zcrx_buffers_returned").GetInt64());
        Assert.Contains("got zcrx id=", err, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
        _ = send;
    }

    [Fact]
    public void Ncdevmem_with_engine_zcrx_interrupted_while_the_ring_waits_for_a_client_undoes_the_setup_and_exits_143()
    {
        RequireZcrx();
        DevmemNicState before = DevmemNicState.Capture(Ifname);
        string ncdevmem = Path.Combine(Guest.Root, "samples", "ncdevmem", "bin", "Release", "net10.0", "ncdevmem");
        using Process server = Guest.Start(ncdevmem, "-l", "-f", Ifname, "-s", "10.99.0.1", "-p", "5416", "--engine", "zcrx", "--provider", "memfd");
        WaitListening(5416, server);
        // Listening means the accept is on its way to the ring (or there): the signal cancels the ring's request.
        ProcessResult kill = ProcessRunner.Run("kill", ["-TERM", server.Id.ToString(CultureInfo.InvariantCulture)], timeout: TimeSpan.FromSeconds(10));
        Assert.Equal(0, kill.ExitCode);
        Assert.True(server.WaitForExit(60_000), "ncdevmem did not exit after SIGTERM");
        string err = server.StandardError.ReadToEnd();
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] ncdevmem --engine zcrx, SIGTERM while waiting: exit {server.ExitCode}\n{err}");
        Assert.True(server.ExitCode == 143, $"exit {server.ExitCode}: {err}");
        Assert.Contains("ncdevmem: interrupted by SIGTERM; NIC configuration undone", err, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", err, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
    }

    [Fact]
    public void Our_iou_zcrx_server_fails_on_a_wrong_byte_as_the_kernels_does()
    {
        RequireZcrx();
        using var nic = new IouZcrxNic(5414);
        using Process server = Guest.Start(OurIouZcrx, "-s", "-p", "5414", "-i", Ifname, "-q", nic.Queue.ToString(CultureInfo.InvariantCulture));
        WaitListening(5414, server);
        // Not the selftest's payload: 'a' + i % 26 is broken at the first byte.
        ProcessResult send = ProcessRunner.Run("sh", ["-c", $"head -c 65536 /dev/zero | ip netns exec peer nc -N {Server} 5414"], timeout: TimeSpan.FromSeconds(60));
        Assert.True(server.WaitForExit(60_000), "the server did not exit");
        string err = server.StandardError.ReadToEnd();
        Assert.Equal(1, server.ExitCode);
        Assert.Contains("iou-zcrx: payload mismatch at 0", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        _ = send;
    }

    [Fact]
    public void A_taken_queue_is_EEXIST_naming_who_holds_it_and_header_split_off_is_EINVAL_saying_so()
    {
        RequireZcrx();
        using NetdevClient netdev = NetdevClient.Open();
        int ifindex = int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture);
        uint queue = netdev.GetQueues(ifindex).Where(q => q.Type == NetdevQueueType.Rx).Max(q => q.Id);
        using var ethtool = Netlink.Ethtool.EthtoolClient.Open();
        Netlink.Ethtool.EthtoolRings rings = ethtool.GetRings(Ifname);
        using var memory = HostMemory.Create(4 << 20);
        try
        {
            // Header split off: netif_mp_open_rxq refuses ("tcp-data-split is disabled"; io_uring has no extack to carry it).
            ethtool.SetRings(Ifname, new Netlink.Ethtool.EthtoolRingsSettings(TcpDataSplit: Netlink.Ethtool.EthtoolTcpDataSplit.Disabled));
            var off = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(ifindex, queue)));
            Assert.Equal(Interop.Errno.EINVAL, off.Errno);
            Assert.Contains("tcp-data-split on", off.Message, StringComparison.Ordinal);

            ethtool.SetRings(Ifname, new Netlink.Ethtool.EthtoolRingsSettings(TcpDataSplit: Netlink.Ethtool.EthtoolTcpDataSplit.Enabled));

            // A queue beyond the interface's: ERANGE (netif_mp_open_rxq: "rx queue index out of range").
            var range = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(ifindex, queue + 100)));
            Assert.Equal(Interop.Errno.ERANGE, range.Errno);

            // Held by a devmem binding: EEXIST, and queue-get says which binding.
            using (var udmabuf = UdmabufMemory.Create(4 << 20, "zcrx-eexist"))
            using (DmabufBinding binding = netdev.BindRx(ifindex, udmabuf.DmabufHandle, [queue]))
            {
                var taken = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(ifindex, queue)));
                Assert.Equal(Interop.Errno.EEXIST, taken.Errno);
                Assert.Contains($"devmem dma-buf binding {binding.Id}", taken.Message, StringComparison.Ordinal);
            }

            // Held by another zcrx instance: EEXIST naming io_uring.
            using (ZcrxInstance first = ZcrxInstance.Open(memory, new ZcrxOptions(ifindex, queue)))
            {
                using var other = HostMemory.Create(4 << 20);
                var taken = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(other, new ZcrxOptions(ifindex, queue)));
                Assert.Equal(Interop.Errno.EEXIST, taken.Errno);
                Assert.Contains("another io_uring zcrx instance", taken.Message, StringComparison.Ordinal);
            }

            Assert.False(netdev.GetQueue(ifindex, NetdevQueueType.Rx, queue).HasIoUring);
        }
        finally
        {
            ethtool.RestoreRings(Ifname, rings);
        }
    }

    [Fact]
    public async Task Eight_KiB_buffers_from_huge_page_memory_receive_validated_with_the_receiving_thread_driving()
    {
        RequireZcrx();
        using var hugePages = new HugePageReservation();
        hugePages.Set(32);
        using var memory = HostMemory.CreateHugePages(32 << 20, "zcrx-8k");
        SetMtu(9000);
        try
        {
            // The one receiving thread drives the ring (DevmemRxSetupOptions.ZcrxDriver reaches the instance).
            var options = new DevmemRxSetupOptions(Ifname) { Engine = DevmemRxEngine.Zcrx, ZcrxDriver = ZcrxDriver.ReceivingThread, RxPageSize = 8192, Steering = new DevmemFlowSteering(Server, 5416) };
            using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, options);
            ZcrxInstance zcrx = Assert.IsType<ZcrxInstance>(setup.Zcrx);
            Assert.True(zcrx.IsDrivenByReceiver, "the setup's ZcrxDriver did not reach the instance");
            Assert.Equal(8192u, zcrx.RxBufferLength);
            var results = await ReceiveFromPeer(setup, 5416, 64L << 20, 1);
            var (r, outstanding, _) = Assert.Single(results);
            Assert.True(r.End == DevmemStreamEnd.EndOfStream, $"{r.End}: {r.Detail}");
            Assert.Equal(64L << 20, r.DmabufBytes);
            Assert.Equal(0, r.ValidationErrors);
            Assert.Equal(0, outstanding);
        }
        finally
        {
            SetMtu(1500);
        }
    }

    [Fact]
    public void Six_twelve_says_zcrx_needs_6_15_and_the_setup_falls_back_to_copy_when_asked()
    {
        RequireTestnic();
        Assert.SkipUnless(Guest.Series == "6.12", "this checks 6.12's answer; newer kernels have zcrx");
        DevmemNicState before = DevmemNicState.Capture(Ifname);
        using var memory = HostMemory.Create(4 << 20);
        var ex = Assert.Throws<ZcrxException>(() => ZcrxInstance.Open(memory, new ZcrxOptions(2, 0)));
        Assert.Equal(ZcrxUnsupportedReason.KernelTooOld, ex.Unsupported);
        Assert.Contains("6.15", ex.Message, StringComparison.Ordinal);

        var options = new DevmemRxSetupOptions(Ifname) { Engine = DevmemRxEngine.Zcrx };
        var setupEx = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, options));
        Assert.Equal(DevmemFallbackKind.ZcrxUnsupported, setupEx.FallbackKind);
        Assert.Contains("6.15", setupEx.Message, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());

        using (DevmemRxSetup setup = DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions(Ifname) { Engine = DevmemRxEngine.Zcrx, Fallback = DevmemFallback.Copy }))
        {
            Assert.False(setup.IsZeroCopy);
            Assert.Equal(DevmemFallbackKind.ZcrxUnsupported, setup.FallbackKind);
            Assert.Null(setup.Zcrx);
        }

        Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
    }
}
