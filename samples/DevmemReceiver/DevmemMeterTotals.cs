using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Devmem.Receive;

namespace Devmem.Samples.Receiver;

/// <summary>
/// Sums the library's <c>Devmem</c> meter instruments made by this host's IMeterFactory (the receiver's
/// sockets), for the summary line at exit: what <c>dotnet-counters</c> shows live, totalled.
/// </summary>
internal sealed class DevmemMeterTotals : IDisposable
{
    private readonly ConcurrentDictionary<string, long> _sums = new();
    private readonly MeterListener _listener = new();

    public DevmemMeterTotals(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DevmemMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _sums.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        _listener.Start();
    }

    public long this[string instrument] => _sums.TryGetValue(instrument, out long sum) ? sum : 0;

    public void Dispose() => _listener.Dispose();
}
