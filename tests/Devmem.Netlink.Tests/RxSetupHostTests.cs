using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Testing;
using Devmem.Validation;

namespace Devmem.Netlink.Tests;

// DevmemRxSetup against the host kernel. The host has no NIC that can take a dma-buf, so what runs
// here is every refusal before bind-rx (the kernel's answers to the ioctls and netlink requests the
// checks make) and the copy fallback; the setup that succeeds runs in the testnic guests.
[Tier(Tier.HostKernel)]
public sealed class RxSetupHostTests
{
    [Fact]
    public void Loopback_is_refused_at_the_check_step_for_having_no_parent_device_and_nothing_changes()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-lo");
        DevmemNicState before = DevmemNicState.Capture("lo");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() =>
            DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("lo") { Steering = new DevmemFlowSteering(IPAddress.Loopback, 5201) }));
        TestContext.Current.SendDiagnosticMessage(e.Message);
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Equal("lo", e.InterfaceName);
        Assert.StartsWith("check on lo: lo has no parent device", e.Message, StringComparison.Ordinal);
        Assert.Contains("devmem RX needs a NIC whose driver supports it", e.Hint, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture("lo").ToString());
    }

    [Fact]
    public void An_unknown_interface_is_ENODEV_at_the_check_step()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-none");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("nosuchif0")));
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Equal("ENODEV", e.ErrnoName);
        Assert.Contains("no such interface in this network namespace", e.Message, StringComparison.Ordinal);
        Assert.IsType<Devmem.Netlink.Ethtool.EthtoolIoctlException>(e.InnerException);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("sixteen-chars-xx")]
    public void A_bad_interface_name_is_refused_before_any_call(string name)
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-bad");
        if (name.Length == 0)
        {
            Assert.Throws<ArgumentException>(() => new DevmemRxSetupOptions(name));
            return;
        }

        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions(name)));
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Contains("not a valid interface name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_veth_in_a_namespace_is_found_by_the_namespaces_ifindex_and_refused_for_having_no_parent()
    {
        using var ns = new NetNamespace();
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-veth");
        // The thread joined the namespace with setns(2) but sysfs still shows the host's devices: the
        // setup must find "va" through the namespace's own ioctl socket.
        DevmemSetupException e = ns.Enter(() => Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("va"))));
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Contains("va has no parent device (a virtual interface, driver veth)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Copy_fallback_on_loopback_receives_the_ncdevmem_pattern_validated_through_the_same_fragments()
    {
        using HostMemory memory = HostMemory.Create(4 << 20, "setup-copy");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, CopyOnLo);
        Assert.False(setup.IsZeroCopy);
        Assert.Equal(DevmemFallbackKind.NoParentDevice, setup.FallbackKind);
        Assert.Equal(DevmemSetupStep.Check, setup.FallbackCause!.Step);
        Assert.Contains("lo has no parent device", setup.FallbackReason, StringComparison.Ordinal);
        Assert.Null(setup.Binding);
        Assert.Empty(setup.Changes);

        using Socket listener = LoopbackListener();
        const long Total = 32L << 20;
        var pattern = new NcdevmemPattern(7);
        Task sender = Task.Run(() =>
        {
            using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            c.Connect(listener.LocalEndPoint!);
            new NcdevmemPattern(7).Send(c, Total);
            c.Shutdown(SocketShutdown.Send);
        }, TestContext.Current.CancellationToken);
        using Socket conn = listener.Accept();
        using DevmemSocket rx = setup.Wrap(conn);
        Assert.False(rx.IsZeroCopy);
        var fragments = new DevmemFragment[64];
        var linear = new byte[256 << 10];
        long received = 0;
        while (true)
        {
            DevmemReceiveResult r = rx.Receive(fragments, linear);
            if (r.EndOfStream)
            {
                break;
            }

            foreach (DevmemFragment f in fragments.AsSpan(0, r.Fragments))
            {
                pattern.Validate(memory.GetSpan((long)f.Offset, (int)f.Length));
                received += f.Length;
            }

            rx.Release(fragments.AsSpan(0, r.Fragments));
        }

        await sender;
        Assert.Equal(Total, received);
        Assert.Equal(0, pattern.Errors);
        Assert.Equal(Total, pattern.Bytes);
    }

    [Fact]
    public async Task Accept_in_copy_mode_returns_a_socket_that_owns_the_connection_and_closes_it_when_disposed()
    {
        using HostMemory memory = HostMemory.Create(4 << 20, "setup-accept");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, CopyOnLo);
        using Socket listener = LoopbackListener();
        const long Total = 4L << 20;
        Task sender = Task.Run(() =>
        {
            using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            c.Connect(listener.LocalEndPoint!);
            new NcdevmemPattern(7).Send(c, Total);
            c.Shutdown(SocketShutdown.Send);
        }, TestContext.Current.CancellationToken);

        var pattern = new NcdevmemPattern(7);
        Socket conn;
        using (DevmemSocket rx = setup.Accept(listener, cancellationToken: TestContext.Current.CancellationToken))
        {
            Assert.False(rx.IsZeroCopy);
            conn = rx.Socket;
            Assert.Equal(listener.LocalEndPoint, conn.LocalEndPoint);
            DevmemStreamResult r = new DevmemStreamReceiver(rx, memory, new DevmemStreamOptions { Validation = pattern }).Run();
            Assert.Equal(DevmemStreamEnd.EndOfStream, r.End);
        }

        await sender;
        Assert.Equal(Total, pattern.Bytes);
        Assert.Equal(0, pattern.Errors);
        Assert.True(conn.SafeHandle.IsClosed, "the accepted connection is closed with the devmem socket");
    }

    [Fact]
    public void Accept_on_a_socket_that_does_not_listen_is_refused_with_what_to_do()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-accept-einval");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, CopyOnLo);
        using Socket notListening = BoundToLoopback();
        DevmemException e = Assert.Throws<DevmemException>(() => setup.Accept(notListening, cancellationToken: TestContext.Current.CancellationToken));
        Assert.StartsWith("accept on a socket that does not listen", e.Message, StringComparison.Ordinal);
        Assert.Contains("listening (Socket.Listen) before Accept", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_cancelled_while_waiting_throws_and_leaves_the_listener_usable()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-accept-cancel");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, CopyOnLo);
        using Socket listener = LoopbackListener();
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            cts.CancelAfter(TimeSpan.FromMilliseconds(200));
            Assert.ThrowsAny<OperationCanceledException>(() => setup.Accept(listener, cancellationToken: cts.Token));
        }

        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        c.Connect(listener.LocalEndPoint!);
        using DevmemSocket rx = setup.Accept(listener, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(c.LocalEndPoint, rx.Socket.RemoteEndPoint);
    }

    [Fact]
    public async Task AcceptAsync_in_copy_mode_owns_the_connection_waits_for_data_is_cancelled_by_its_token_and_refuses_a_socket_that_does_not_listen()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-accept-async");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, CopyOnLo);
        using Socket listener = BoundToLoopback();
        using (var notListening = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            DevmemException e = await Assert.ThrowsAsync<DevmemException>(async () => await setup.AcceptAsync(notListening, cancellationToken: TestContext.Current.CancellationToken));
            Assert.Contains("listening (Socket.Listen) before Accept", e.Hint, StringComparison.Ordinal);
        }

        listener.Listen(1);
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            ValueTask<DevmemSocket> pending = setup.AcceptAsync(listener, cancellationToken: cts.Token);
            Assert.False(pending.IsCompleted);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);
        }

        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(listener.LocalEndPoint!, TestContext.Current.CancellationToken);
        Socket accepted;
        using (DevmemSocket rx = await setup.AcceptAsync(listener, cancellationToken: TestContext.Current.CancellationToken))
        {
            accepted = rx.Socket;
            Assert.Equal(c.LocalEndPoint, accepted.RemoteEndPoint);

            // Nothing sent yet: the wait for data waits; the bytes end it, and the receive then has them.
            ValueTask waiting = rx.WaitForDataAsync(TestContext.Current.CancellationToken);
            await Task.Delay(100, TestContext.Current.CancellationToken);
            Assert.False(waiting.IsCompleted, "no data yet");
            await c.SendAsync("copy"u8.ToArray(), TestContext.Current.CancellationToken);
            await waiting;
            var fragments = new DevmemFragment[4];
            DevmemReceiveResult r = rx.Receive(fragments, new byte[4096]);
            Assert.Equal(1, r.Fragments);
            Assert.Equal("copy"u8.ToArray(), memory.GetSpan((long)fragments[0].Offset, (int)fragments[0].Length).ToArray());
            rx.Release(fragments.AsSpan(0, 1));
        }

        Assert.True(accepted.SafeHandle.IsClosed, "the accepted connection is closed with the devmem socket");
    }

    // The copy fallback on lo: a setup that changes nothing, for the accept and receive paths.
    private static DevmemRxSetupOptions CopyOnLo => new("lo") { Fallback = DevmemFallback.Copy };

    // A TCP socket bound to a free port on 127.0.0.1, not listening.
    private static Socket BoundToLoopback()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // The same, listening.
    private static Socket LoopbackListener(int backlog = 1)
    {
        Socket socket = BoundToLoopback();
        socket.Listen(backlog);
        return socket;
    }

    // An interface with a parent device (a real or virtio NIC) that the checks let through on this
    // kernel, or null. Nothing is changed on it by the tests below: they stop before the first change.
    private static string? NicWithParent()
    {
        foreach (string dir in Directory.GetDirectories("/sys/class/net"))
        {
            string name = Path.GetFileName(dir);
            if (!Directory.Exists(Path.Combine(dir, "device")))
            {
                continue;
            }

            try
            {
                DevmemRxSetup.CheckInterface(name);
                return name;
            }
            catch (DevmemSetupException)
            {
            }
        }

        return null;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_wrong_interface_is_an_error_even_with_copy_fallback(bool setupMakesMemory)
    {
        // Before the fallback policy, this returned a copy-mode setup for an interface that does not exist.
        var options = new DevmemRxSetupOptions("nope0") { Fallback = DevmemFallback.Copy };
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-nope");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() =>
        {
            using DevmemRxSetup s = setupMakesMemory ? DevmemRxSetup.Apply(1 << 20, options) : DevmemRxSetup.Apply(memory, options);
        });
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Null(e.FallbackKind);
        Assert.StartsWith("check on nope0: no such interface", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_interface_name_is_an_error_even_with_copy_fallback()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-bad-copy");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() =>
            DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("a/b") { Fallback = DevmemFallback.Copy }));
        Assert.Null(e.FallbackKind);
        Assert.Contains("not a valid interface name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Queues_out_of_range_are_an_error_even_with_copy_fallback_and_host_memory()
    {
        string nic = NicWithParent() ?? throw SkipNoNic();
        DevmemNicState before = DevmemNicState.Capture(nic);
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-queues");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() =>
            DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions(nic) { StartQueue = 1000, Fallback = DevmemFallback.Copy }));
        Assert.Null(e.FallbackKind);
        Assert.Contains("out of range", e.Message, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture(nic).ToString());
    }

    [Fact]
    public void A_nic_that_passes_the_checks_falls_back_for_host_memory_and_nothing_changes_on_it()
    {
        string nic = NicWithParent() ?? throw SkipNoNic();
        DevmemNicState before = DevmemNicState.Capture(nic);
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-host-nic");
        var options = new DevmemRxSetupOptions(nic) { SkipConfiguration = true, StartQueue = 0, Fallback = DevmemFallback.Copy };
        using (DevmemRxSetup setup = DevmemRxSetup.Apply(memory, options))
        {
            Assert.False(setup.IsZeroCopy);
            Assert.Equal(DevmemFallbackKind.NotDmabuf, setup.FallbackKind);
            Assert.Empty(setup.Changes);
        }

        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions(nic) { SkipConfiguration = true, StartQueue = 0 }));
        Assert.Equal(DevmemFallbackKind.NotDmabuf, e.FallbackKind);
        Assert.Equal(before.ToString(), DevmemNicState.Capture(nic).ToString());
    }

    [Fact]
    public void Apply_with_a_size_takes_host_memory_when_no_provider_works_and_frees_it_with_the_setup()
    {
        if (File.Exists(UdmabufMemory.DevicePath) || Directory.Exists(DmaHeapMemory.HeapDirectory))
        {
            Assert.Skip("this machine has udmabuf or a dma-heap, so a dma-buf provider works here (the guest tests cover that)");
        }

        DeviceMemory memory;
        using (DevmemRxSetup setup = DevmemRxSetup.Apply(1 << 20, CopyOnLo))
        {
            memory = setup.Memory;
            Assert.Equal(MemoryProviderKind.HostMemory, memory.Kind);
            Assert.False(memory.IsDisposed);
        }

        Assert.True(memory.IsDisposed);
        string? nic = NicWithParent();
        if (nic is not null)
        {
            // On a NIC the checks let through, the missing provider is the reason, and without the
            // fallback it is the error, with each provider's reason.
            using (DevmemRxSetup setup = DevmemRxSetup.Apply(1 << 20, new DevmemRxSetupOptions(nic) { SkipConfiguration = true, StartQueue = 0, Fallback = DevmemFallback.Copy }))
            {
                Assert.Equal(DevmemFallbackKind.NoDmabufProvider, setup.FallbackKind);
                Assert.Contains("no dma-buf provider could make", setup.FallbackReason, StringComparison.Ordinal);
            }

            DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(1 << 20, new DevmemRxSetupOptions(nic) { SkipConfiguration = true, StartQueue = 0 }));
            Assert.Equal(DevmemFallbackKind.NoDmabufProvider, e.FallbackKind);
            Assert.Contains("Udmabuf:", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Several_connections_through_one_copy_setup_all_arrive_validated()
    {
        const int Connections = 3;
        const long PerConnection = 32L << 20;
        using HostMemory memory = HostMemory.Create(8 << 20, "setup-multi");
        var log = new ListLogger();
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, CopyOnLo, log);
        using Socket listener = LoopbackListener(Connections);
        var senders = Enumerable.Range(0, Connections).Select(i => Task.Run(() =>
        {
            using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            c.Connect(listener.LocalEndPoint!);
            new NcdevmemPattern(3 + i).Send(c, PerConnection);
            c.Shutdown(SocketShutdown.Send);
        }, TestContext.Current.CancellationToken)).ToArray();
        var receivers = new List<Task<(long, long, long)>>();
        var conns = new List<Socket>();
        for (int i = 0; i < Connections; i++)
        {
            Socket conn = listener.Accept();
            conns.Add(conn);
            receivers.Add(Task.Factory.StartNew(() =>
            {
                using DevmemSocket rx = setup.Wrap(conn, log);
                var fragments = new DevmemFragment[64];
                var linear = new byte[1];
                NcdevmemPattern? check = null;
                while (rx.Receive(fragments, linear) is { EndOfStream: false } r)
                {
                    foreach (DevmemFragment f in fragments.AsSpan(0, r.Fragments))
                    {
                        Span<byte> bytes = memory.GetSpan((long)f.Offset, (int)f.Length);

                        // Which sender this is: its period is where the first '\n' ends the first period.
                        check ??= new NcdevmemPattern(bytes.IndexOf((byte)'\n') + 1 is >= 2 and var p ? p : throw new InvalidOperationException("the first fragment is too short to tell the sender"));
                        check.Validate(bytes);
                    }

                    rx.Release(fragments.AsSpan(0, r.Fragments));
                }

                return (check?.Bytes ?? 0, check?.Errors ?? -1, rx.OutstandingTokens);
            }, TaskCreationOptions.LongRunning));
        }

        (long Bytes, long Errors, long Outstanding)[] results = await Task.WhenAll(receivers);
        await Task.WhenAll(senders);
        foreach (Socket c in conns)
        {
            c.Dispose();
        }

        Assert.All(results, r => Assert.Equal((PerConnection, 0L, 0L), r));
        Assert.Single(log.Entries, e => e.Message.Contains("receiving by copy", StringComparison.Ordinal));
    }

    private static Xunit.Sdk.SkipException SkipNoNic() => Xunit.Sdk.SkipException.ForSkip(
        "no interface here has a parent device and a driver the setup's checks let through (a real or virtio NIC); lo and veth have none");
}

internal sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
{
    public List<(Microsoft.Extensions.Logging.LogLevel Level, string Message)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries)
        {
            Entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
