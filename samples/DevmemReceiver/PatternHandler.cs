using Devmem.Hosting;
using Devmem.Receive;
using Devmem.Validation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Devmem.Samples.Receiver;

/// <summary>
/// The application: each connection's payload, in stream order, checked against the ncdevmem pattern
/// when <see cref="ReceiverOptions.ValidatePeriod"/> is set. Where a real service would hand each
/// fragment to the GPU, the comment in <see cref="OnBatchAsync"/> says how.
/// </summary>
internal sealed class PatternHandler(IOptions<ReceiverOptions> options, ConnectionTally tally, ILoggerFactory loggerFactory) : IDevmemConnectionHandler
{
    // ncdevmem prints every mismatch up to its limit; a log keeps the first few per connection.
    private const int MismatchesLogged = 5;

    private readonly int _period = options.Value.ValidatePeriod;
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);

    private sealed class Stream(NcdevmemPattern? pattern)
    {
        public NcdevmemPattern? Pattern { get; } = pattern;

        public long Logged { get; set; }

        public long FragmentBytes { get; set; }
    }

    public ValueTask OnConnectedAsync(DevmemConnection connection, CancellationToken cancellationToken)
    {
        if (_period > 0 && !connection.Memory.HasCpuMapping)
        {
            // CUDA memory: the fragments go to the GPU by offset and length; the CPU cannot check them.
            throw new InvalidOperationException($"Devmem:ValidatePeriod needs memory the CPU can read, and {connection.Memory.Kind} memory is not: set Devmem:Provider to Udmabuf or DmaHeap, or Devmem:ValidatePeriod to 0.");
        }

        connection.State = new Stream(_period > 0 ? new NcdevmemPattern(_period) : null);
        string remote = $"{connection.RemoteEndPoint}";
        Log.Opened(_logger, connection.Id, remote, connection.IsZeroCopy ? "zero copy" : "copy fallback");
        return ValueTask.CompletedTask;
    }

    public ValueTask OnBatchAsync(DevmemConnection connection, DevmemBatch batch, CancellationToken cancellationToken)
    {
        var stream = (Stream)connection.State!;
        ReadOnlySpan<DevmemSegment> segments = batch.Segments;
        for (int i = 0; i < segments.Length; i++)
        {
            DevmemSegment s = segments[i];
            if (!s.IsLinear)
            {
                // Here a GPU kernel would take the range: s.Fragment.Offset and s.Length locate the payload
                // in connection.Memory (with Provider Cuda, device memory of the GPU that exported it), e.g.
                // launch a kernel on (base + offset, length) on a CUDA stream. The fragment is released when
                // this call's task completes, so await the kernel's completion (an event on that stream)
                // before returning, or copy the range out first. A linear segment (s.IsLinear) is payload the
                // kernel kept in host memory: batch.GetData(i) reads it, and it would be copied to the GPU.
                stream.FragmentBytes += s.Length;
            }

            if (stream.Pattern is { } pattern)
            {
                long start = pattern.Bytes;
                pattern.Validate(batch.GetData(i), (expected, actual, index) =>
                {
                    if (stream.Logged++ < MismatchesLogged)
                    {
                        Log.Mismatch(_logger, connection.Id, expected, actual, start + index);
                    }
                });
                if (pattern.Failed)
                {
                    // As ncdevmem: past its error limit the stream is not the pattern; end the connection.
                    throw new InvalidDataException($"more than {NcdevmemPattern.MaxErrors} bytes do not match the ncdevmem pattern of period {_period}");
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask OnDisconnectedAsync(DevmemConnection connection, Exception? failure, CancellationToken cancellationToken)
    {
        var stream = connection.State as Stream;
        NcdevmemPattern? pattern = stream?.Pattern;
        long errors = pattern?.Errors ?? 0;
        ConnectionOutcome outcome = failure switch
        {
            null when errors > 0 => ConnectionOutcome.Failed,
            null => pattern is null ? ConnectionOutcome.Received : ConnectionOutcome.Validated,
            OperationCanceledException when errors == 0 => ConnectionOutcome.CutShort,
            _ => ConnectionOutcome.Failed,
        };
        if (pattern is not null)
        {
            tally.Validated(pattern.Bytes, errors);
        }

        tally.Ended(outcome);
        string remote = $"{connection.RemoteEndPoint}";
        if (outcome == ConnectionOutcome.Failed)
        {
            string reason = failure is null or OperationCanceledException
                ? $"{errors} bytes do not match the ncdevmem pattern of period {_period}"
                : failure.Message;
            Log.Failed(_logger, connection.Id, remote, reason);
        }

        string name = ConnectionTally.OutcomeName(outcome);
        Log.Closed(_logger, connection.Id, remote, name, connection.BytesReceived, stream?.FragmentBytes ?? 0, connection.Batches, errors);
        return ValueTask.CompletedTask;
    }
}
