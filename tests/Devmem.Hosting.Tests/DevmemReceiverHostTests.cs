using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Devmem.Hosting;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Validation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Devmem.Hosting.Tests;

/// <summary>Checks every connection's stream against the ncdevmem pattern, as the kernel's ncdevmem -v 7 does.</summary>
internal sealed class PatternHandler : IDevmemConnectionHandler
{
    public const int Period = 7;

    public ConcurrentDictionary<long, Result> Results { get; } = new();

    public int MaxConcurrentBatches;
    private int _batchesNow;

    public ValueTask OnConnectedAsync(DevmemConnection connection, CancellationToken cancellationToken)
    {
        connection.State = new NcdevmemPattern(Period);
        Results[connection.Id] = new Result();
        return ValueTask.CompletedTask;
    }

    public async ValueTask OnBatchAsync(DevmemConnection connection, DevmemBatch batch, CancellationToken cancellationToken)
    {
        int now = Interlocked.Increment(ref _batchesNow);
        InterlockedMax(ref MaxConcurrentBatches, now);
        try
        {
            Validate(connection, batch);
            await Task.Yield(); // the fragments must stay valid across an await
        }
        finally
        {
            Interlocked.Decrement(ref _batchesNow);
        }
    }

    private static void Validate(DevmemConnection connection, DevmemBatch batch)
    {
        var pattern = (NcdevmemPattern)connection.State!;
        Assert.True(batch.IsReadable);
        for (int i = 0; i < batch.Count; i++)
        {
            pattern.Validate(batch.GetData(i));
        }
    }

    public ValueTask OnDisconnectedAsync(DevmemConnection connection, Exception? failure, CancellationToken cancellationToken)
    {
        var pattern = (NcdevmemPattern)connection.State!;
        Results[connection.Id] = new Result { Closed = true, Bytes = pattern.Bytes, Errors = pattern.Errors, ZeroCopy = connection.IsZeroCopy, Failure = failure };
        return ValueTask.CompletedTask;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    internal sealed record Result
    {
        public bool Closed { get; init; }
        public long Bytes { get; init; }
        public long Errors { get; init; }
        public bool ZeroCopy { get; init; }
        public Exception? Failure { get; init; }
    }
}

// A real Generic Host on lo: lo has no parent device, so the setup falls back to copying (Fallback=Copy)
// or fails (Never). The kernel answers everything: the setup's checks, loopback TCP, the copy receives.
[Tier(Tier.HostKernel)]
public sealed class DevmemReceiverHostTests
{
    private const long PerSender = 8L << 20;

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static IHost Build(Dictionary<string, string?> settings)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMetrics();
        builder.AddDevmemReceiver<PatternHandler>();
        builder.Services.AddHealthChecks().AddDevmem();
        return builder.Build();
    }

    private static Dictionary<string, string?> LoSettings(int port, string fallback = "Copy") => new()
    {
        ["Devmem:Interface"] = "lo",
        ["Devmem:Address"] = "127.0.0.1",
        ["Devmem:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Devmem:Fallback"] = fallback,
        ["Devmem:MemorySize"] = (16 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Devmem:SegmentsPerReceive"] = "64",
        ["Devmem:MaxOutstandingTokens"] = "128", // two batches at once over four connections: backpressure
    };

    private static async Task<HealthReportEntry> HealthAsync(IHost host)
    {
        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(TestContext.Current.CancellationToken);
        return report.Entries["devmem"];
    }

    private static long SumOf(ConcurrentQueue<(string Name, long Value, Dictionary<string, object?> Tags)> m, string name) =>
        m.Where(x => x.Name == name).Sum(x => x.Value);

    [Fact]
    public async Task Four_concurrent_senders_are_received_validated_and_released_and_the_host_stop_restores_everything()
    {
        int port = FreePort();
        using IHost host = Build(LoSettings(port));
        var factory = host.Services.GetRequiredService<IMeterFactory>();
        var measurements = new ConcurrentQueue<(string Name, long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (ReferenceEquals(i.Meter.Scope, factory) && i.Meter.Name == DevmemMetrics.MeterName)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Enqueue((i.Name, v, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        listener.Start();

        CancellationToken ct = TestContext.Current.CancellationToken;
        await host.StartAsync(ct);
        var status = host.Services.GetRequiredService<DevmemReceiverStatus>();
        Assert.Equal(DevmemReceiverState.Running, status.State);

        HealthReportEntry health = await HealthAsync(host);
        Assert.Equal(HealthStatus.Degraded, health.Status);
        Assert.True(Enum.TryParse<DevmemFallbackKind>((string)health.Data["fallback_kind"], out _), $"fallback_kind: {health.Data["fallback_kind"]}");
        Assert.False(string.IsNullOrEmpty((string)health.Data["fallback_reason"]));
        Assert.Contains("lo", health.Description, StringComparison.Ordinal);

        Task[] senders = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(new IPEndPoint(IPAddress.Loopback, port));
            new NcdevmemPattern(PatternHandler.Period).Send(s, PerSender);
            s.Receive(new byte[1]); // wait for the receiver to close its end
        }, ct)).ToArray();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60), ct);

        var handler = (PatternHandler)host.Services.GetRequiredService<IDevmemConnectionHandler>();
        await WaitUntil(() => handler.Results.Count(r => r.Value.Closed) == 4, ct);
        await host.StopAsync(ct);

        Assert.Equal(4, handler.Results.Count);
        Assert.All(handler.Results.Values, r =>
        {
            Assert.True(r.Closed);
            Assert.Null(r.Failure);
            Assert.False(r.ZeroCopy);
            Assert.Equal(PerSender, r.Bytes);
            Assert.Equal(0, r.Errors);
        });
        Assert.InRange(handler.MaxConcurrentBatches, 1, 2); // MaxOutstandingTokens / SegmentsPerReceive

        Assert.Equal(0, SumOf(measurements, DevmemMetrics.RxTokensOutstandingName));
        Assert.Contains(measurements, m => m.Name == DevmemMetrics.RxTokensOutstandingName && m.Value > 0);
        Assert.Equal(4 * PerSender, SumOf(measurements, DevmemMetrics.RxCopiedBytesName));
        Assert.Equal(0, SumOf(measurements, DevmemMetrics.RxDmabufBytesName));
        Assert.All(measurements, m =>
        {
            Assert.Equal(DevmemMetrics.CopyMode, m.Tags[DevmemMetrics.ModeTag]);
            Assert.Equal("lo", m.Tags[DevmemMetrics.InterfaceTag]);
        });

        Assert.Equal(DevmemReceiverState.Stopped, status.State);
        Assert.Equal(0, status.ActiveConnections);
        Assert.Equal(4, status.TotalConnections);
        Assert.Equal(HealthStatus.Unhealthy, (await HealthAsync(host)).Status);

        // The listener is closed: nothing accepts on the port any more.
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.Throws<SocketException>(() => late.Connect(new IPEndPoint(IPAddress.Loopback, port)));
    }

    [Fact]
    public async Task Stopping_the_host_mid_stream_cancels_the_connections_and_releases_every_slot()
    {
        int port = FreePort();
        var settings = LoSettings(port);
        settings["Devmem:DrainTimeout"] = "00:00:00";
        using IHost host = Build(settings);
        using var outstanding = new TokensOutstanding(host.Services.GetRequiredService<IMeterFactory>());
        CancellationToken ct = TestContext.Current.CancellationToken;
        await host.StartAsync(ct);

        // Senders that would send far more than the test waits for.
        Task[] senders = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(new IPEndPoint(IPAddress.Loopback, port));
            try
            {
                new NcdevmemPattern(PatternHandler.Period).Send(s, 64L << 30);
            }
            catch (SocketException)
            {
                // The receiver closed the connection on stop.
            }
        }, ct)).ToArray();

        var handler = (PatternHandler)host.Services.GetRequiredService<IDevmemConnectionHandler>();
        await WaitUntil(() => handler.Results.Count == 2, ct);
        await Task.Delay(200, ct);
        await host.StopAsync(ct).WaitAsync(TimeSpan.FromSeconds(20), ct);

        Assert.All(handler.Results.Values, r =>
        {
            Assert.True(r.Closed);
            Assert.IsAssignableFrom<OperationCanceledException>(r.Failure);
            Assert.Equal(0, r.Errors);
            Assert.True(r.Bytes > 0);
        });
        Assert.Equal(0, outstanding.Value);
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(20), ct);
    }

    [Fact]
    public async Task Invalid_configuration_fails_the_start_saying_what_is_wrong()
    {
        using IHost host = Build(new()
        {
            ["Devmem:Address"] = "not-an-address",
            ["Devmem:Port"] = "70000",
            ["Devmem:MaxOutstandingTokens"] = "4",
        });
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("Devmem:Interface is missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("Devmem:Address \"not-an-address\" is not an IP address", e.Message, StringComparison.Ordinal);
        Assert.Contains("Devmem:Port 70000 is out of range", e.Message, StringComparison.Ordinal);
        Assert.Contains("MaxOutstandingTokens 4 must be at least SegmentsPerReceive (128)", e.Message, StringComparison.Ordinal);
        Assert.Equal(DevmemReceiverState.NotStarted, host.Services.GetRequiredService<DevmemReceiverStatus>().State);
    }

    [Fact]
    public async Task Fallback_never_on_lo_fails_the_start_with_the_setup_error_and_the_health_check_is_unhealthy()
    {
        using IHost host = Build(LoSettings(FreePort(), fallback: "Never"));
        var e = await Assert.ThrowsAsync<DevmemSetupException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("lo", e.Message, StringComparison.Ordinal);

        var status = host.Services.GetRequiredService<DevmemReceiverStatus>();
        Assert.Equal(DevmemReceiverState.Failed, status.State);
        HealthReportEntry health = await HealthAsync(host);
        Assert.Equal(HealthStatus.Unhealthy, health.Status);
        Assert.Same(e, health.Exception);
        Assert.Equal(e.Message, health.Data["error"]);
        Assert.Equal(DevmemSetupException.StepName(e.Step), health.Data["step"]);
        Assert.False(string.IsNullOrEmpty((string)health.Data["doctor"]));
    }

    [Fact]
    public async Task With_FailStartOnSetupError_false_the_host_runs_on_unhealthy()
    {
        var settings = LoSettings(FreePort(), fallback: "Never");
        settings["Devmem:FailStartOnSetupError"] = "false";
        using IHost host = Build(settings);
        CancellationToken ct = TestContext.Current.CancellationToken;
        await host.StartAsync(ct);
        HealthReportEntry health = await HealthAsync(host);
        Assert.Equal(HealthStatus.Unhealthy, health.Status);
        Assert.IsType<DevmemSetupException>(health.Exception);
        Assert.Contains("The devmem NIC setup on lo failed", health.Description, StringComparison.Ordinal);
        await host.StopAsync(ct);
    }

    [Fact]
    public async Task A_port_already_taken_fails_the_start_saying_so_and_the_health_check_is_unhealthy()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        int port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        using IHost host = Build(LoSettings(port));
        var e = await Assert.ThrowsAsync<IOException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains($"Cannot listen on 127.0.0.1:{port}: AddressAlreadyInUse", e.Message, StringComparison.Ordinal);
        Assert.Contains("choose another Devmem:Port", e.Message, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Unhealthy, (await HealthAsync(host)).Status);
        Assert.Equal(DevmemReceiverState.Failed, host.Services.GetRequiredService<DevmemReceiverStatus>().State);
    }

    private static async Task WaitUntil(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(20, ct);
        }
    }
}

/// <summary>Throws on the first batch of its first connection; validates the others.</summary>
internal sealed class ThrowingHandler : IDevmemConnectionHandler
{
    private int _thrown;

    public ConcurrentDictionary<long, (long Bytes, Exception? Failure)> Ended { get; } = new();

    public ValueTask OnBatchAsync(DevmemConnection connection, DevmemBatch batch, CancellationToken cancellationToken)
    {
        if (connection.Batches == 1 && Interlocked.CompareExchange(ref _thrown, 1, 0) == 0)
        {
            throw new InvalidDataException("the application rejects this stream");
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask OnDisconnectedAsync(DevmemConnection connection, Exception? failure, CancellationToken cancellationToken)
    {
        Ended[connection.Id] = (connection.BytesReceived, failure);
        return ValueTask.CompletedTask;
    }
}

[Tier(Tier.HostKernel)]
public sealed class DevmemReceiverHandlerFailureTests
{
    [Fact]
    public async Task A_handler_that_throws_ends_only_its_connection_and_every_slot_comes_back()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        probe.Dispose();

        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devmem:Interface"] = "lo",
            ["Devmem:Address"] = "127.0.0.1",
            ["Devmem:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Devmem:Fallback"] = "Copy",
            ["Devmem:MemorySize"] = (8 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        builder.Services.AddMetrics();
        builder.AddDevmemReceiver<ThrowingHandler>();
        using IHost host = builder.Build();
        using var outstanding = new TokensOutstanding(host.Services.GetRequiredService<IMeterFactory>());
        CancellationToken ct = TestContext.Current.CancellationToken;
        await host.StartAsync(ct);

        const long Total = 4L << 20;
        Task[] senders = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(new IPEndPoint(IPAddress.Loopback, port));
            try
            {
                new NcdevmemPattern(7).Send(s, Total);
                s.Receive(new byte[1]);
            }
            catch (SocketException)
            {
                // The rejected connection is closed by the receiver.
            }
        }, ct)).ToArray();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60), ct);
        var handler = (ThrowingHandler)host.Services.GetRequiredService<IDevmemConnectionHandler>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (handler.Ended.Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, ct);
        }

        Assert.Equal(0, outstanding.Value); // before stop: the failed connection gave its slots back
        await host.StopAsync(ct);
        Assert.Equal(2, handler.Ended.Count);
        Assert.Single(handler.Ended.Values, e => e.Failure is InvalidDataException { Message: "the application rejects this stream" });
        Assert.Single(handler.Ended.Values, e => e.Failure is null && e.Bytes == Total);
        Assert.Equal(0, outstanding.Value);
    }
}

// devmem.rx.tokens_outstanding on the host's meter factory, summed as a listener sees it.
internal sealed class TokensOutstanding : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _value;

    public TokensOutstanding(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (ReferenceEquals(i.Meter.Scope, factory) && i.Name == DevmemMetrics.RxTokensOutstandingName)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref _value, v));
        _listener.Start();
    }

    public long Value => Interlocked.Read(ref _value);

    public void Dispose() => _listener.Dispose();
}
