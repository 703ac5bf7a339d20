using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Devmem.Receive;

/// <summary>
/// One socket's view of <see cref="DevmemMetrics"/>: its tags (<c>devmem.mode</c>,
/// <c>network.interface.name</c>), built once, and what it has reported of its outstanding tokens and
/// release calls, so each receive or release records one delta. With no listener each record is a flag
/// check; the interface name, when the creator did not know it, is looked up the first time a listener
/// wants a measurement.
/// </summary>
internal sealed class SocketMetrics(DevmemMetrics metrics, bool zeroCopy, string? interfaceName, Func<string?>? resolveInterface)
{
    private KeyValuePair<string, object?>[]? _tags = interfaceName is null ? null : Tags(zeroCopy, interfaceName);
    private long _reportedOutstanding;
    private long _reportedReleaseCalls;

    /// <summary>The instruments recorded on.</summary>
    public DevmemMetrics Instruments => metrics;

    /// <summary>For a socket that does not know its interface: the interface of its local address (asked once, when needed).</summary>
    public static SocketMetrics ForSocket(DevmemMetrics metrics, bool zeroCopy, string? interfaceName, Func<Socket> socket) =>
        new(metrics, zeroCopy, interfaceName, interfaceName is null ? () => InterfaceOf(socket()) : null);

    private ReadOnlySpan<KeyValuePair<string, object?>> TagSpan =>
        _tags ??= Tags(zeroCopy, resolveInterface?.Invoke() ?? "unknown");

    /// <summary>After a receive: the pieces it handed out and the socket's outstanding tokens now.</summary>
    public void Received(int fragments, long dmabufBytes, long copiedBytes, long linearBytes, long unsteeredBytes, long outstanding)
    {
        if (fragments > 0 && metrics.RxFragments.Enabled)
        {
            metrics.RxFragments.Add(fragments, TagSpan);
        }

        if (dmabufBytes > 0 && metrics.RxDmabufBytes.Enabled)
        {
            metrics.RxDmabufBytes.Add(dmabufBytes, TagSpan);
        }

        if (copiedBytes > 0 && metrics.RxCopiedBytes.Enabled)
        {
            metrics.RxCopiedBytes.Add(copiedBytes, TagSpan);
        }

        if (linearBytes > 0 && metrics.RxLinearBytes.Enabled)
        {
            metrics.RxLinearBytes.Add(linearBytes, TagSpan);
        }

        if (unsteeredBytes > 0 && metrics.RxUnsteeredBytes.Enabled)
        {
            metrics.RxUnsteeredBytes.Add(unsteeredBytes, TagSpan);
        }

        Outstanding(outstanding);
    }

    /// <summary>After a release, flush or dispose: the socket's release calls so far and its outstanding tokens now.</summary>
    public void Released(long releaseCalls, long outstanding)
    {
        long calls = releaseCalls - _reportedReleaseCalls;
        if (calls != 0)
        {
            _reportedReleaseCalls = releaseCalls;
            if (metrics.RxReleaseCalls.Enabled)
            {
                metrics.RxReleaseCalls.Add(calls, TagSpan);
            }
        }

        Outstanding(outstanding);
    }

    private void Outstanding(long outstanding)
    {
        long delta = outstanding - _reportedOutstanding;
        if (delta != 0)
        {
            _reportedOutstanding = outstanding;
            if (metrics.RxTokensOutstanding.Enabled)
            {
                metrics.RxTokensOutstanding.Add(delta, TagSpan);
            }
        }
    }

    internal static KeyValuePair<string, object?>[] Tags(bool zeroCopy, string interfaceName) =>
    [
        new(DevmemMetrics.ModeTag, zeroCopy ? DevmemMetrics.ZeroCopyMode : DevmemMetrics.CopyMode),
        new(DevmemMetrics.InterfaceTag, interfaceName),
    ];

    /// <summary>The interface that holds <paramref name="socket"/>'s local address (getifaddrs through <see cref="NetworkInterface"/>), or null.</summary>
    internal static string? InterfaceOf(Socket socket)
    {
        try
        {
            if (socket.LocalEndPoint is not IPEndPoint local)
            {
                return null;
            }

            IPAddress address = local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address;
            foreach (NetworkInterface ni in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (UnicastIPAddressInformation a in ni.GetIPProperties().UnicastAddresses)
                {
                    if (a.Address.Equals(address))
                    {
                        return ni.Name;
                    }
                }
            }
        }
        catch (Exception e) when (e is SocketException or NetworkInformationException or ObjectDisposedException)
        {
        }

        return null;
    }

    /// <summary>The name of the interface with index <paramref name="ifindex"/> (rtnetlink RTM_GETLINK, <see cref="Netlink.RouteLinks"/>), or null.</summary>
    internal static string? InterfaceName(int ifindex)
    {
        try
        {
            foreach (Netlink.NetworkLink link in Netlink.RouteLinks.Dump())
            {
                if (link.Ifindex == ifindex)
                {
                    return link.Name;
                }
            }
        }
        catch (DevmemIOException)
        {
        }

        return null;
    }
}
