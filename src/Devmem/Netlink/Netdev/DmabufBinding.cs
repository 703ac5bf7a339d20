namespace Devmem.Netlink.Netdev;

/// <summary>Which way a dma-buf binding moves data.</summary>
public enum DmabufBindingDirection
{
    /// <summary>bind-rx: the NIC writes received payload into the dma-buf (6.12+).</summary>
    Receive,

    /// <summary>bind-tx: the NIC sends payload from the dma-buf (6.16+).</summary>
    Transmit,
}

/// <summary>
/// A dma-buf bound to a network device by netdev <c>bind-rx</c> or <c>bind-tx</c>.
/// </summary>
/// <remarks>
/// <para><b>This object owns the netlink socket that made the binding, and the binding lives exactly as
/// long as that socket.</b> The kernel has no unbind operation: it unbinds when the socket closes
/// (net/core/netdev-genl.c <c>netdev_nl_sock_priv_destroy</c>), and the RX queues restart on ordinary
/// pages. <see cref="Dispose"/> closes the socket, so disposing this object unbinds. If it is never
/// disposed, the socket's SafeHandle finalizer closes it when the object is collected, which unbinds
/// silently at an unpredictable moment: keep a reference for as long as the binding must stay.</para>
/// <para>The kernel holds its own reference on the dma-buf, so the dma-buf's file descriptor may be
/// closed after binding. Fragments already handed to sockets stay valid until their tokens are
/// returned or those sockets close.</para>
/// </remarks>
public sealed class DmabufBinding : IDisposable
{
    private readonly GenericNetlinkSocket _socket;

    internal DmabufBinding(GenericNetlinkSocket socket, uint id, int ifindex, DmabufBindingDirection direction, IReadOnlyList<uint> queues)
    {
        _socket = socket;
        Id = id;
        Ifindex = ifindex;
        Direction = direction;
        Queues = queues;
    }

    /// <summary>The binding id (NETDEV_A_DMABUF_ID): RX cmsgs carry it as <c>dmabuf_id</c>; TX cmsgs send it.</summary>
    public uint Id { get; }

    /// <summary>The interface the dma-buf is bound to.</summary>
    public int Ifindex { get; }

    /// <summary>Receive or transmit.</summary>
    public DmabufBindingDirection Direction { get; }

    /// <summary>The RX queue ids bound (empty for a TX binding).</summary>
    public IReadOnlyList<uint> Queues { get; }

    /// <summary>Whether <see cref="Dispose"/> ran (the binding is gone).</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Closes the binding's netlink socket, which makes the kernel unbind the dma-buf.</summary>
    public void Dispose()
    {
        IsDisposed = true;
        _socket.Dispose();
    }
}
