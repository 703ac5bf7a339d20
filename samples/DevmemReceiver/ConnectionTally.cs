using System.Diagnostics.Metrics;

namespace Devmem.Samples.Receiver;

/// <summary>How a connection ended.</summary>
internal enum ConnectionOutcome
{
    /// <summary>End of stream, every byte matched the pattern.</summary>
    Validated,

    /// <summary>End of stream with validation off (ValidatePeriod 0).</summary>
    Received,

    /// <summary>The host's stop cancelled it after the drain time, every byte so far matched.</summary>
    CutShort,

    /// <summary>A mismatch, a receive error, or a handler error.</summary>
    Failed,
}

/// <summary>
/// The connections' outcomes, for the exit code and the summary, also published on the sample's own meter
/// <c>DevmemReceiver</c> (next to the library's <c>Devmem</c> meter, both from the host's IMeterFactory).
/// </summary>
internal sealed class ConnectionTally
{
    public const string MeterName = "DevmemReceiver";

    private readonly long[] _counts = new long[4];
    private readonly Counter<long> _connections;
    private readonly Counter<long> _validatedBytes;
    private readonly Counter<long> _validationErrors;

    public ConnectionTally(IMeterFactory meterFactory)
    {
        Meter meter = meterFactory.Create(new MeterOptions(MeterName));
        _connections = meter.CreateCounter<long>("devmem_receiver.connections", "{connection}", "Connections ended, by outcome (validated, received, cut_short, failed)");
        _validatedBytes = meter.CreateCounter<long>("devmem_receiver.validated_bytes", "By", "Bytes checked against the ncdevmem pattern");
        _validationErrors = meter.CreateCounter<long>("devmem_receiver.validation_errors", "{byte}", "Bytes that did not match the ncdevmem pattern");
    }

    public long this[ConnectionOutcome outcome] => Interlocked.Read(ref _counts[(int)outcome]);

    public long Total
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _counts.Length; i++)
            {
                total += Interlocked.Read(ref _counts[i]);
            }

            return total;
        }
    }

    public void Validated(long bytes, long errors)
    {
        _validatedBytes.Add(bytes);
        if (errors > 0)
        {
            _validationErrors.Add(errors);
        }
    }

    public void Ended(ConnectionOutcome outcome)
    {
        Interlocked.Increment(ref _counts[(int)outcome]);
        _connections.Add(1, new KeyValuePair<string, object?>("outcome", OutcomeName(outcome)));
    }

    public static string OutcomeName(ConnectionOutcome outcome) => outcome switch
    {
        ConnectionOutcome.Validated => "validated",
        ConnectionOutcome.Received => "received",
        ConnectionOutcome.CutShort => "cut_short",
        _ => "failed",
    };
}
