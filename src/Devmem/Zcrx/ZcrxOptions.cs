using Microsoft.Extensions.Logging;

namespace Devmem.Zcrx;

/// <summary>
/// Where and how <see cref="ZcrxInstance.Open(Memory.DeviceMemory, ZcrxOptions)"/> registers an io_uring
/// zero-copy receive (zcrx) instance. A record: <c>ZcrxOptions.NoDevice() with { Driver = ... }</c>.
/// </summary>
public sealed record ZcrxOptions
{
    /// <summary>A zcrx instance on RX queue <paramref name="queueId"/> of the interface with index <paramref name="interfaceIndex"/>.</summary>
    /// <param name="interfaceIndex">The interface index (if_nametoindex).</param>
    /// <param name="queueId">The RX queue; steer the flows there first (header split on, RSS away from it, a flow rule: <see cref="Setup.DevmemRxSetup"/> does all three).</param>
    public ZcrxOptions(int interfaceIndex, uint queueId)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(interfaceIndex);
        InterfaceIndex = interfaceIndex;
        QueueId = queueId;
    }

    private ZcrxOptions()
    {
        IsNoDevice = true;
    }

    /// <summary>
    /// A zcrx instance without a NIC (<c>ZCRX_REG_NODEV</c>, 7.2 and later): any TCP socket can receive
    /// through it, and the kernel copies every byte into the area. The same API and buffer return as with
    /// a NIC, for hosts without one and for tests; not zero copy.
    /// </summary>
    /// <returns>The options.</returns>
    public static ZcrxOptions NoDevice() => new();

    /// <summary>The interface index; 0 for <see cref="NoDevice"/>.</summary>
    public int InterfaceIndex { get; }

    /// <summary>The RX queue; 0 for <see cref="NoDevice"/>.</summary>
    public uint QueueId { get; }

    /// <summary>True for an instance without a NIC (<see cref="NoDevice"/>).</summary>
    public bool IsNoDevice { get; }

    /// <summary>
    /// Refill-ring entries (rounded up to a power of two by the kernel, at most 32768). Default (0): twice
    /// the area's buffers, so every buffer the application holds fits in the ring at once.
    /// </summary>
    public uint RefillEntries { get; init; }

    /// <summary>
    /// The receive buffer size (<c>rx_buf_len</c>, 7.0 and later): a power of two of at least a page. Larger
    /// than a page needs an area of huge pages and a driver with rx-page-size. Null: a page.
    /// </summary>
    public uint? RxBufferLength { get; init; }

    /// <summary>io_uring SQ entries (the CQ ring is twice as large). Default 512, as the kernel's iou-zcrx.</summary>
    public uint RingEntries { get; init; } = 512;

    /// <summary>
    /// Which thread drives the instance's io_uring (a zcrx ring is entered by one thread only:
    /// SINGLE_ISSUER, DEFER_TASKRUN). <see cref="ZcrxDriver.OwnThread"/> (the default): a thread of the
    /// instance's own, and sockets receive on any thread. <see cref="ZcrxDriver.ReceivingThread"/>: the
    /// thread that receives drives it, with no hand-off between threads.
    /// </summary>
    public ZcrxDriver Driver { get; init; }

    /// <summary>Where the instance logs; none by default.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Where the instance's and its sockets' metrics go (<see cref="Receive.DevmemMetrics"/>); the static "Devmem" meter when null.</summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>The interface's name, for messages and the metrics' <c>network.interface.name</c> tag; looked up from the index when null.</summary>
    public string? InterfaceName { get; init; }

    /// <summary>Describes the target for messages: "eth1 queue 3" style, or "no device".</summary>
    internal string Describe(string? interfaceName) =>
        IsNoDevice ? "no device (ZCRX_REG_NODEV)" : $"{interfaceName ?? InterfaceName ?? $"ifindex {InterfaceIndex}"} RX queue {QueueId}";
}

/// <summary>Which thread drives a zcrx instance's io_uring (<see cref="ZcrxOptions.Driver"/>).</summary>
public enum ZcrxDriver
{
    /// <summary>
    /// A thread the instance starts owns the ring; its sockets receive on any thread, synchronously or
    /// asynchronously, and each batch of completions is handed to the receiving thread.
    /// </summary>
    OwnThread,

    /// <summary>
    /// No thread of the instance's own: the first thread that receives on one of its sockets enables the
    /// ring and drives it inside its blocking <c>Receive</c> calls, with no hand-off (the shape of the
    /// kernel's iou-zcrx: one thread per queue). Every socket of the instance is then received on that
    /// thread, synchronously (another thread, or <c>ReceiveAsync</c>, gets
    /// <see cref="InvalidOperationException"/> or <see cref="NotSupportedException"/>); <c>Wrap</c>,
    /// <c>Release</c> and <c>Dispose</c> work from any thread.
    /// </summary>
    ReceivingThread,
}
