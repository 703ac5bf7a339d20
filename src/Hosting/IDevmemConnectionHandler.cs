using System.Net;
using Devmem.Memory;
using Devmem.Receive;

namespace Devmem.Hosting;

/// <summary>
/// What the application does with each connection the devmem receiver accepts. Register one with
/// <c>AddDevmemReceiver&lt;THandler&gt;</c>; it is a singleton, called concurrently for different
/// connections and in order (one call at a time) for one connection.
/// </summary>
public interface IDevmemConnectionHandler
{
    /// <summary>A connection was accepted, before its first batch.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="cancellationToken">Cancelled when the host stops.</param>
    ValueTask OnConnectedAsync(DevmemConnection connection, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// The pieces of one receive, in stream order. The fragments' bytes stay valid until this call's task
    /// completes; then the receiver releases them (one batched <c>SO_DEVMEM_DONTNEED</c>). Throwing closes the
    /// connection (logged; <see cref="OnDisconnectedAsync"/> gets the exception).
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="batch">The segments and how to read them.</param>
    /// <param name="cancellationToken">Cancelled when the host stops and the drain time is over.</param>
    ValueTask OnBatchAsync(DevmemConnection connection, DevmemBatch batch, CancellationToken cancellationToken);

    /// <summary>The connection ended: the peer closed it (<paramref name="failure"/> null), or an error or the host's stop ended it.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="failure">Why it ended early (an <see cref="OperationCanceledException"/> when the host's stop cancelled it); null at the peer's end of stream.</param>
    /// <param name="cancellationToken">Cancelled when the host's stop runs out of time.</param>
    ValueTask OnDisconnectedAsync(DevmemConnection connection, Exception? failure, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>One accepted connection of the devmem receiver.</summary>
public sealed class DevmemConnection
{
    internal DevmemConnection(long id, EndPoint? remote, EndPoint? local, bool isZeroCopy, DeviceMemory memory)
    {
        Id = id;
        RemoteEndPoint = remote;
        LocalEndPoint = local;
        IsZeroCopy = isZeroCopy;
        Memory = memory;
    }

    /// <summary>A number unique among this receiver's connections, from 1.</summary>
    public long Id { get; }

    /// <summary>The peer.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The local end (the steered address and port).</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>True when payload arrives by zero copy; false in the copy fallback.</summary>
    public bool IsZeroCopy { get; }

    /// <summary>The memory the fragments lie in (the setup's).</summary>
    public DeviceMemory Memory { get; }

    /// <summary>Payload bytes received so far (fragments and linear pieces).</summary>
    public long BytesReceived { get; internal set; }

    /// <summary>Batches handed to the handler so far.</summary>
    public long Batches { get; internal set; }

    /// <summary>A slot for the application's per-connection state (e.g. a validator); the receiver never reads it.</summary>
    public object? State { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"connection {Id} from {RemoteEndPoint}";
}

/// <summary>
/// The segments of one receive, in stream order: dma-buf fragments and linear pieces. Valid only during
/// the <see cref="IDevmemConnectionHandler.OnBatchAsync"/> call it was given to.
/// </summary>
public readonly struct DevmemBatch
{
    private readonly DevmemSegment[] _segments;
    private readonly byte[] _linear;
    private readonly DeviceMemory _memory;

    internal DevmemBatch(DevmemSegment[] segments, int count, byte[] linear, DeviceMemory memory, long bytes)
    {
        _segments = segments;
        Count = count;
        _linear = linear;
        _memory = memory;
        Bytes = bytes;
    }

    /// <summary>How many segments.</summary>
    public int Count { get; }

    /// <summary>Payload bytes in the batch.</summary>
    public long Bytes { get; }

    /// <summary>The segments, in stream order.</summary>
    public ReadOnlySpan<DevmemSegment> Segments => _segments.AsSpan(0, Count);

    /// <summary>
    /// True when the process can read every segment's bytes (<see cref="GetData"/>): linear pieces always;
    /// fragments when the memory has a CPU mapping (udmabuf, dma-heap, host memory; not CUDA memory,
    /// whose fragments go to the GPU by offset and length).
    /// </summary>
    public bool IsReadable => _memory.HasCpuMapping;

    /// <summary>
    /// The bytes of segment <paramref name="index"/>: a linear piece's from the connection's linear buffer, a
    /// fragment's from the memory's CPU mapping (the receiver has opened the memory for CPU reads around the
    /// handler call). Empty for a fragment in memory without a CPU mapping.
    /// </summary>
    /// <param name="index">0 to <see cref="Count"/> − 1.</param>
    /// <returns>The bytes; valid until the handler call returns.</returns>
    public ReadOnlySpan<byte> GetData(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        ref readonly DevmemSegment s = ref _segments[index];
        if (s.IsLinear)
        {
            return _linear.AsSpan(s.LinearOffset, (int)s.Length);
        }

        return _memory.HasCpuMapping ? _memory.GetSpan((long)s.Fragment.Offset, (int)s.Length) : default;
    }
}
