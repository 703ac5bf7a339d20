using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Devmem.Tests.Receive;

/// <summary>Every measurement of the meters a predicate picks: instrument, value, tags.</summary>
internal sealed class MeasurementRecorder : IDisposable
{
    private readonly MeterListener _listener = new();

    public MeasurementRecorder(Func<Meter, bool> meters)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (meters(i.Meter))
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
            Measurements.Enqueue(new Measurement(i.Name, i.Unit, v, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        _listener.Start();
    }

    public ConcurrentQueue<Measurement> Measurements { get; } = new();

    public long Sum(string instrument) => Measurements.Where(m => m.Instrument == instrument).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();

    internal sealed record Measurement(string Instrument, string? Unit, long Value, Dictionary<string, object?> Tags);
}

// Copy fallback on lo (no parent device: DevmemRxSetup falls back) through a real loopback connection;
// the instruments read back with a MeterListener on the meter of an IMeterFactory from a service collection,
// so tests running in parallel on the static meter cannot disturb the sums.
[Tier(Tier.HostKernel)]
[Collection(StaticMeterTests.Name)]
public sealed class DevmemMetricsTests
{
    [Fact]
    public void Copy_fallback_counts_copied_bytes_and_slots_held_on_the_factory_meter_with_tags()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var recorder = new MeasurementRecorder(m => ReferenceEquals(m.Scope, factory) && m.Name == DevmemMetrics.MeterName);

        using HostMemory memory = HostMemory.Create(4 << 20, "metrics-copy");
        var options = new DevmemRxSetupOptions("lo")
        {
            Fallback = DevmemFallback.Copy,
            Steering = new DevmemFlowSteering(IPAddress.Loopback, 5299),
            UndoOnSignals = false,
            MeterFactory = factory,
        };
        using DevmemRxSetup rx = DevmemRxSetup.Apply(memory, options);
        Assert.False(rx.IsZeroCopy);

        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        {
            using DevmemSocket socket = rx.Wrap(server);
            byte[] payload = new byte[300_000];
            client.Send(payload);
            var fragments = new DevmemFragment[64];
            var held = new List<DevmemFragment>();
            long got = 0;
            while (got < payload.Length)
            {
                DevmemReceiveResult r = socket.Receive(fragments, new byte[1]);
                held.AddRange(fragments.AsSpan(0, r.Fragments));
                got += r.DmabufBytes;
            }

            // Held, not released: the slots the fragments hold are outstanding.
            Assert.Equal(held.Count, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));
            Assert.Equal(socket.OutstandingTokens, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));
            Assert.True(held.Count > 1, $"{held.Count} fragments");

            socket.Release(held.ToArray());
            Assert.Equal(0, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));

            Assert.Equal(payload.Length, recorder.Sum(DevmemMetrics.RxCopiedBytesName));
            Assert.Equal(0, recorder.Sum(DevmemMetrics.RxDmabufBytesName));
            Assert.Equal(held.Count, recorder.Sum(DevmemMetrics.RxFragmentsName));
            Assert.Equal(0, recorder.Sum(DevmemMetrics.RxReleaseCallsName)); // no SO_DEVMEM_DONTNEED in copy mode
        }

        Assert.NotEmpty(recorder.Measurements);
        Assert.All(recorder.Measurements, m =>
        {
            Assert.Equal(DevmemMetrics.CopyMode, m.Tags[DevmemMetrics.ModeTag]);
            Assert.Equal("lo", m.Tags[DevmemMetrics.InterfaceTag]);
        });
        Assert.Equal("By", recorder.Measurements.First(m => m.Instrument == DevmemMetrics.RxCopiedBytesName).Unit);
    }

    [Fact]
    public void A_copy_fallback_socket_disposed_holding_fragments_leaves_nothing_outstanding()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var recorder = new MeasurementRecorder(m => ReferenceEquals(m.Scope, factory));
        using HostMemory memory = HostMemory.Create(1 << 20, "metrics-dispose");
        using DevmemRxSetup rx = DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("lo") { Fallback = DevmemFallback.Copy, UndoOnSignals = false, MeterFactory = factory });
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        {
            DevmemSocket socket = rx.Wrap(server);
            client.Send(new byte[10_000]);
            long got = 0;
            while (got < 10_000)
            {
                got += socket.Receive(new DevmemFragment[8], new byte[1]).DmabufBytes;
            }

            Assert.True(recorder.Sum(DevmemMetrics.RxTokensOutstandingName) > 0);
            socket.Dispose();
            Assert.Equal(0, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));
        }
    }

    [Fact]
    public void A_socket_without_a_setup_records_on_the_static_meter_with_the_interface_of_its_address()
    {
        // No factory: the static "Devmem" meter. The flow is unsteered (nothing bound on lo), so a zero-copy
        // socket sees plain bytes; its interface tag comes from the kernel's address list (127.0.0.1 is lo's).
        using var recorder = new MeasurementRecorder(m => m.Scope is null && m.Name == DevmemMetrics.MeterName);
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        {
            using var socket = new DevmemSocket(server);
            client.Send(new byte[1000]);
            long got = 0;
            while (got < 1000)
            {
                got += socket.Receive(new DevmemFragment[4], new byte[4096]).UnsteeredBytes;
            }
        }

        // Other tests may record on the static meter at the same time: every measurement still carries both tags.
        var mine = recorder.Measurements.Where(m => m.Instrument == DevmemMetrics.RxUnsteeredBytesName).ToList();
        Assert.NotEmpty(mine);
        Assert.All(recorder.Measurements, m =>
        {
            Assert.True(m.Tags.ContainsKey(DevmemMetrics.ModeTag), m.Instrument);
            Assert.True(m.Tags.ContainsKey(DevmemMetrics.InterfaceTag), m.Instrument);
        });
        Assert.Contains(mine, m => Equals(m.Tags[DevmemMetrics.ModeTag], DevmemMetrics.ZeroCopyMode) && Equals(m.Tags[DevmemMetrics.InterfaceTag], "lo"));
    }
}

[Tier(Tier.HostKernel)]
public sealed class SocketMetricsInterfaceTests
{
    [Fact]
    public void Interface_names_come_from_the_kernel()
    {
        int lo = int.Parse(File.ReadAllText("/sys/class/net/lo/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture); // sysfs as the oracle
        Assert.Equal("lo", SocketMetrics.InterfaceName(lo));
        Assert.Null(SocketMetrics.InterfaceName(int.MaxValue));

        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        {
            Assert.Equal("lo", SocketMetrics.InterfaceOf(server));
        }
    }
}

// The per-socket recorder on its own: deltas of outstanding tokens and release calls, recorded once.
[Tier(Tier.Pure)]
public sealed class SocketMetricsTests
{
    [Fact]
    public void Outstanding_tokens_and_release_calls_are_reported_as_deltas_with_the_tags()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var recorder = new MeasurementRecorder(m => ReferenceEquals(m.Scope, factory));
        var m = new SocketMetrics(DevmemMetrics.For(factory), zeroCopy: true, "eth9", resolveInterface: null);

        m.Received(fragments: 5, dmabufBytes: 5000, copiedBytes: 0, linearBytes: 100, unsteeredBytes: 0, outstanding: 5);
        m.Received(fragments: 3, dmabufBytes: 3000, copiedBytes: 0, linearBytes: 0, unsteeredBytes: 0, outstanding: 8);
        Assert.Equal(8, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));
        m.Released(releaseCalls: 0, outstanding: 8);   // queued, not yet sent: still outstanding
        Assert.Equal(8, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));
        m.Released(releaseCalls: 2, outstanding: 1);
        m.Released(releaseCalls: 3, outstanding: 0);

        Assert.Equal(0, recorder.Sum(DevmemMetrics.RxTokensOutstandingName));
        Assert.Equal(3, recorder.Sum(DevmemMetrics.RxReleaseCallsName));
        Assert.Equal(8000, recorder.Sum(DevmemMetrics.RxDmabufBytesName));
        Assert.Equal(100, recorder.Sum(DevmemMetrics.RxLinearBytesName));
        Assert.Equal(8, recorder.Sum(DevmemMetrics.RxFragmentsName));
        Assert.Equal(0, recorder.Sum(DevmemMetrics.RxCopiedBytesName));
        Assert.Equal(2, recorder.Measurements.Count(x => x.Instrument == DevmemMetrics.RxReleaseCallsName));
        Assert.All(recorder.Measurements, x =>
        {
            Assert.Equal(DevmemMetrics.ZeroCopyMode, x.Tags[DevmemMetrics.ModeTag]);
            Assert.Equal("eth9", x.Tags[DevmemMetrics.InterfaceTag]);
        });
    }

    [Fact]
    public void Without_a_listener_the_interface_is_never_looked_up()
    {
        // A meter of its own (other tests listen to the static one).
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        int lookups = 0;
        var m = new SocketMetrics(DevmemMetrics.For(services.GetRequiredService<IMeterFactory>()), zeroCopy: false, interfaceName: null, () => { lookups++; return "x"; });
        m.Received(1, 0, 100, 0, 0, outstanding: 1);
        m.Released(0, 0);

        Assert.Equal(0, lookups);
    }
}
