using System.Net;
using System.Net.Sockets;

namespace Devmem.TestSupport;

/// <summary>TCP over loopback for the host tests (compiled into each test project that needs it).</summary>
internal static class Loopback
{
    /// <summary>A connected pair over 127.0.0.1: the client's socket and the one the listener accepted.</summary>
    public static (Socket Client, Socket Server) Connect()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        return (client, listener.Accept());
    }
}
