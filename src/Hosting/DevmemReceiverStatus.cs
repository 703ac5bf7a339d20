using Devmem.Setup;

namespace Devmem.Hosting;

/// <summary>Where the devmem receiver is in its life.</summary>
public enum DevmemReceiverState
{
    /// <summary>The host has not started it yet.</summary>
    NotStarted,

    /// <summary>The NIC is set up (zero copy or the copy fallback) and connections are accepted.</summary>
    Running,

    /// <summary>The NIC setup failed (<see cref="DevmemReceiverStatus.Error"/>).</summary>
    Failed,

    /// <summary>The host stopped it: connections ended, the NIC restored.</summary>
    Stopped,
}

/// <summary>
/// What the devmem receiver is doing, for the health check and the application (a singleton in the
/// service collection). Read-only for everyone but the receiver.
/// </summary>
public sealed class DevmemReceiverStatus
{
    private int _activeConnections;
    private long _totalConnections;

    /// <summary>The receiver's state.</summary>
    public DevmemReceiverState State { get; private set; }

    /// <summary>The interface (from the options), once started.</summary>
    public string? InterfaceName { get; private set; }

    /// <summary>True while receiving by zero copy.</summary>
    public bool IsZeroCopy { get; private set; }

    /// <summary>In the copy fallback, why zero copy is impossible (typed).</summary>
    public DevmemFallbackKind? FallbackKind { get; private set; }

    /// <summary>In the copy fallback, the reason in words (the setup's error that led to it).</summary>
    public string? FallbackReason { get; private set; }

    /// <summary>The binding's id in zero copy (0 otherwise).</summary>
    public uint BindingId { get; private set; }

    /// <summary>The RX queues bound in zero copy.</summary>
    public IReadOnlyList<uint> Queues { get; private set; } = [];

    /// <summary>The setup's error when <see cref="State"/> is <see cref="DevmemReceiverState.Failed"/>.</summary>
    public Exception? Error { get; private set; }

    /// <summary>
    /// When not receiving by zero copy: the devmem doctor's short explanation of what this host lacks
    /// (<see cref="Diagnostics.DevmemDoctor.Explain"/>), gathered once when the receiver started.
    /// </summary>
    public string? Doctor { get; private set; }

    /// <summary>Connections open now.</summary>
    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    /// <summary>Connections accepted since start.</summary>
    public long TotalConnections => Interlocked.Read(ref _totalConnections);

    internal void Started(DevmemRxSetup setup, string? doctor)
    {
        InterfaceName = setup.InterfaceName;
        IsZeroCopy = setup.IsZeroCopy;
        FallbackKind = setup.FallbackKind;
        FallbackReason = setup.FallbackReason;
        BindingId = setup.IsZeroCopy ? setup.BindingId : 0;
        Queues = setup.IsZeroCopy ? setup.Queues : [];
        Doctor = doctor;
        Error = null;
        State = DevmemReceiverState.Running;
    }

    internal void Failed(string interfaceName, Exception error, string? doctor)
    {
        InterfaceName = interfaceName;
        IsZeroCopy = false;
        Error = error;
        Doctor = doctor;
        State = DevmemReceiverState.Failed;
    }

    internal void Stopped()
    {
        if (State == DevmemReceiverState.Running)
        {
            State = DevmemReceiverState.Stopped;
        }

        IsZeroCopy = false;
    }

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _activeConnections);
        Interlocked.Increment(ref _totalConnections);
    }

    internal void ConnectionClosed() => Interlocked.Decrement(ref _activeConnections);
}
