using Devmem.Memory;
using Devmem.Validation;

namespace Devmem.Receive;

/// <summary>Why <see cref="DevmemStreamReceiver.Run"/> returned.</summary>
public enum DevmemStreamEnd
{
    /// <summary>The peer closed the connection; everything received was handled and released.</summary>
    EndOfStream,

    /// <summary>More than <see cref="NcdevmemPattern.MaxErrors"/> bytes did not match the pattern.</summary>
    ValidationFailed,

    /// <summary>Bytes arrived as ordinary data, without devmem control messages: the flow missed the bound queues.</summary>
    Unsteered,

    /// <summary>Bytes arrived through <c>SCM_DEVMEM_LINEAR</c> and <see cref="DevmemStreamOptions.StopOnLinear"/> was set.</summary>
    Linear,

    /// <summary>A fragment lay in another binding's dma-buf than <see cref="DevmemStreamOptions.ExpectedBindingId"/>.</summary>
    WrongBinding,

    /// <summary>The <see cref="DevmemStreamOptions.OnSegment"/> callback asked to stop.</summary>
    Stopped,
}

/// <summary>Called for each piece of the stream in order, with its bytes readable (empty when the memory has no CPU mapping, e.g. GPU memory).</summary>
/// <param name="segment">The piece.</param>
/// <param name="data">Its bytes: in the dma-buf for a fragment, in the linear buffer for a linear piece.</param>
/// <returns>false to stop receiving.</returns>
public delegate bool DevmemSegmentHandler(in DevmemSegment segment, ReadOnlySpan<byte> data);

/// <summary>How <see cref="DevmemStreamReceiver"/> receives and what it checks.</summary>
public sealed class DevmemStreamOptions
{
    /// <summary>Validates every byte, in stream order, against the kernel ncdevmem's pattern; null: no validation.</summary>
    public NcdevmemPattern? Validation { get; init; }

    /// <summary>Called with (expected, actual, stream index) for each mismatch the validation finds.</summary>
    public Action<byte, byte, long>? OnMismatch { get; init; }

    /// <summary>In zero copy, the binding every fragment must come from (a fragment of another is a steering error); null: not checked.</summary>
    public uint? ExpectedBindingId { get; init; }

    /// <summary>Stop at the first unsteered bytes (the kernel's ncdevmem: "flow steering error"). Default true.</summary>
    public bool StopOnUnsteered { get; init; } = true;

    /// <summary>Stop at the first <c>SCM_DEVMEM_LINEAR</c> bytes (ncdevmem's <c>-L</c>). Default false.</summary>
    public bool StopOnLinear { get; init; }

    /// <summary>Segments per receive (each one control message); 256 by default.</summary>
    public int Segments { get; init; } = 256;

    /// <summary>The linear buffer (the iov) in bytes: it caps one receive, dma-buf bytes included; 819200 as ncdevmem.</summary>
    public int LinearBufferSize { get; init; } = 819200;

    /// <summary>Called for each piece in stream order, after validation, before release; null: none.</summary>
    public DevmemSegmentHandler? OnSegment { get; init; }

    /// <summary>Called after each receive's pieces were released, with the totals so far (for progress).</summary>
    public Action<DevmemStreamResult>? OnProgress { get; init; }
}

/// <summary>What a whole stream brought, and why the receive loop ended.</summary>
/// <param name="DmabufBytes">Bytes in dma-buf fragments (in the copy fallback: copied into the provider's memory).</param>
/// <param name="LinearBytes">Bytes the kernel delivered through <c>SCM_DEVMEM_LINEAR</c>.</param>
/// <param name="UnsteeredBytes">Bytes that came as ordinary data.</param>
/// <param name="Fragments">Fragments received.</param>
/// <param name="Receives">Receive calls that returned data.</param>
/// <param name="ValidationErrors">Mismatches found (0 without validation).</param>
/// <param name="End">Why it ended.</param>
/// <param name="Detail">What stopped it, in words, when it was not the end of the stream.</param>
public readonly record struct DevmemStreamResult(long DmabufBytes, long LinearBytes, long UnsteeredBytes, long Fragments, long Receives, long ValidationErrors, DevmemStreamEnd End, string? Detail)
{
    /// <summary>Payload bytes of every kind.</summary>
    public long TotalBytes => DmabufBytes + LinearBytes + UnsteeredBytes;
}

/// <summary>
/// The receive–validate–release loop over one connection: receive into segments (stream order), read each
/// piece while the memory is open for CPU reads (validating it when asked), release the batch, repeat until
/// the peer closes or a check stops it. The ncdevmem server and demo, the guest tests and the copy benchmark
/// all run this loop, so what they show is what ships. Nothing is allocated per receive.
/// </summary>
public sealed class DevmemStreamReceiver
{
    private readonly DevmemSocket _socket;
    private readonly DeviceMemory _memory;
    private readonly DevmemStreamOptions _options;
    private readonly DevmemSegment[] _segments;
    private readonly byte[] _linear;

    /// <summary>Creates the loop over <paramref name="socket"/>, whose fragments lie in <paramref name="memory"/>.</summary>
    /// <param name="socket">The connection.</param>
    /// <param name="memory">The memory its fragments lie in (the setup's, or the copy fallback's).</param>
    /// <param name="options">Checks and callbacks; null for the defaults.</param>
    public DevmemStreamReceiver(DevmemSocket socket, DeviceMemory memory, DevmemStreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(memory);
        _options = options ?? new DevmemStreamOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Segments, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.LinearBufferSize, 1, nameof(options));
        _socket = socket;
        _memory = memory;
        _segments = new DevmemSegment[_options.Segments];
        _linear = new byte[_options.LinearBufferSize];
    }

    /// <summary>Receives until the peer closes or a check stops it; every fragment received is released before it returns, whatever ends it.</summary>
    /// <returns>The totals and why it ended.</returns>
    /// <exception cref="DevmemIOException">A receive or release failed.</exception>
    public DevmemStreamResult Run()
    {
        var totals = default(Totals);
        DevmemStreamResult result;
        while (true)
        {
            DevmemReceiveResult r = _socket.Receive(_segments, _linear);
            if (r.EndOfStream)
            {
                result = totals.Result(DevmemStreamEnd.EndOfStream, null);
                break;
            }

            if (Handle(r, ref totals) is { } end)
            {
                result = end;
                break;
            }
        }

        // Each batch was released as it was handled; the last releases still queued go to the kernel now.
        _socket.FlushReleases();
        return result;
    }

    private DevmemStreamResult? Handle(in DevmemReceiveResult r, ref Totals totals)
    {
        totals.Receives++;
        totals.Fragments += r.Fragments;
        totals.Dmabuf += r.DmabufBytes;
        totals.Linear += r.LinearBytes;
        totals.Unsteered += r.UnsteeredBytes;
        ReadOnlySpan<DevmemSegment> segments = _segments.AsSpan(0, r.Segments);
        try
        {
            if (r.UnsteeredBytes > 0 && _options.StopOnUnsteered)
            {
                return totals.Result(DevmemStreamEnd.Unsteered,
                    $"flow steering error: {r.UnsteeredBytes} bytes arrived as ordinary data, not in the dma-buf; check the flow rule and RSS (DevmemDoctor.Examine checks both)");
            }

            if (r.LinearBytes > 0 && _options.StopOnLinear)
            {
                return totals.Result(DevmemStreamEnd.Linear, $"received SCM_DEVMEM_LINEAR ({r.LinearBytes} bytes)");
            }

            bool readable = _memory.HasCpuMapping;
            if (readable)
            {
                _memory.BeginCpuAccess(CpuAccess.Read);
            }

            try
            {
                foreach (ref readonly DevmemSegment s in segments)
                {
                    if (!s.IsLinear && _options.ExpectedBindingId is uint id && s.Fragment.DmabufId != id)
                    {
                        return totals.Result(DevmemStreamEnd.WrongBinding, $"received on wrong dmabuf_id {s.Fragment.DmabufId} (ours is {id}): flow steering error");
                    }

                    ReadOnlySpan<byte> data = s.IsLinear ? _linear.AsSpan(s.LinearOffset, (int)s.Length)
                        : readable ? _memory.GetSpan((long)s.Fragment.Offset, (int)s.Length) : default;
                    if (_options.Validation is { } pattern && (readable || s.IsLinear))
                    {
                        pattern.Validate(data, _options.OnMismatch);
                        totals.ValidationErrors = pattern.Errors;
                        if (pattern.Failed)
                        {
                            return totals.Result(DevmemStreamEnd.ValidationFailed, "validation failed");
                        }
                    }

                    if (_options.OnSegment is { } handler && !handler(s, data))
                    {
                        return totals.Result(DevmemStreamEnd.Stopped, "stopped by the segment handler");
                    }
                }
            }
            finally
            {
                if (readable)
                {
                    _memory.EndCpuAccess(CpuAccess.Read);
                }
            }
        }
        finally
        {
            _socket.Release(segments);
        }

        _options.OnProgress?.Invoke(totals.Result(DevmemStreamEnd.EndOfStream, null));
        return null;
    }

    private struct Totals
    {
        public long Dmabuf;
        public long Linear;
        public long Unsteered;
        public long Fragments;
        public long Receives;
        public long ValidationErrors;

        public readonly DevmemStreamResult Result(DevmemStreamEnd end, string? detail) =>
            new(Dmabuf, Linear, Unsteered, Fragments, Receives, ValidationErrors, end, detail);
    }
}
