using System.Net;
using System.Net.Sockets;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Validation;

namespace Devmem.Netlink.Tests;

// The README's "Use it" snippet, compiled and run on lo: on a host without a dma-buf provider (and lo
// cannot bind anyway) it must fall back to copy as written. The snippet's text below is compared with
// the README's, so the two cannot drift: only the interface, the address and the port differ.
[Tier(Tier.HostKernel)]
public sealed class ReadmeSnippetTests
{
    private const string Begin = "// README begin";
    private const string End = "// README end";

    [Fact]
    public async Task The_use_it_snippet_runs_as_written_on_loopback_and_falls_back_to_copy()
    {
        ushort port = FreePort();
        const long Total = 8L << 20;
        Task sender = Task.Run(() => Send(port, Total), TestContext.Current.CancellationToken);

        // The README's code as a user writes it: no test token (xUnit1051).
#pragma warning disable xUnit1051
        // README begin
        var options = new DevmemRxSetupOptions("lo")
        {
            Steering = new DevmemFlowSteering(IPAddress.Parse("127.0.0.1"), port),
            Fallback = DevmemFallback.Copy,       // the one fallback switch: copy where zero copy is impossible here
        };
        using DevmemRxSetup rx = DevmemRxSetup.Apply(64 << 20, options);      // memory (CUDA, udmabuf, dma-heap), header split, RSS, flow rule, bind-rx
        Console.WriteLine(rx.IsZeroCopy ? $"zero copy: binding {rx.BindingId}" : $"copy ({rx.FallbackKind}): {rx.FallbackReason}");
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.1"), port)); listener.Listen();
        using DevmemSocket socket = rx.Accept(listener);                     // one per connection (it owns it); zero copy, or the copy fallback
        var fragments = new DevmemFragment[128]; var linear = new byte[819200];
        long received = 0;
        while (socket.Receive(fragments, linear) is { EndOfStream: false } r)
        {
            foreach (DevmemFragment f in fragments.AsSpan(0, r.Fragments))
            {
                received += f.Length;   // f.Offset and f.Length locate the payload in rx.Memory: hand them to the GPU (valid until released)
            }
            socket.Release(fragments.AsSpan(0, r.Fragments));                // batched SO_DEVMEM_DONTNEED
        }
        // README end
#pragma warning restore xUnit1051

        await sender;
        Assert.Equal(Total, received);
        Assert.False(rx.IsZeroCopy);
        Assert.Equal(DevmemFallbackKind.NoParentDevice, rx.FallbackKind);
        Assert.False(socket.IsZeroCopy);
        Assert.Equal(0, socket.OutstandingTokens);
        Assert.Empty(rx.Changes);
    }

    [Fact]
    public void The_readme_shows_the_snippet_this_test_runs()
    {
        string readme = File.ReadAllText(Path.Combine(Tools.RepoRoot, "README.md"));
        int use = readme.IndexOf("## Use it", StringComparison.Ordinal);
        int open = readme.IndexOf("```csharp\n", use, StringComparison.Ordinal) + "```csharp\n".Length;
        int close = readme.IndexOf("```\n", open, StringComparison.Ordinal);
        string[] shown = readme[open..close].Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();

        string source = File.ReadAllText(Path.Combine(Tools.RepoRoot, "tests/Devmem.Netlink.Tests/ReadmeSnippetTests.cs"));
        int b = source.IndexOf(Begin + "\n", StringComparison.Ordinal) + Begin.Length + 1;
        int e = source.IndexOf("        " + End, b, StringComparison.Ordinal);
        string[] run = source[b..e].Split('\n').Select(l => l.Length >= 8 ? l[8..].TrimEnd() : l.TrimEnd()).Where(l => l.Length > 0)
            .Select(l => l.Replace("\"lo\"", "\"eth1\"", StringComparison.Ordinal)
                .Replace("127.0.0.1", "192.168.1.4", StringComparison.Ordinal)
                .Replace("port)", "5201)", StringComparison.Ordinal))
            .ToArray();

        // The README adds its usings and the closing comment; everything else is line for line the same.
        Assert.StartsWith("using Devmem.Receive;", shown[0], StringComparison.Ordinal);
        Assert.StartsWith("// Disposing rx", shown[^1], StringComparison.Ordinal);
        Assert.Equal(run, shown[1..^1]);
    }

    private static ushort FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (ushort)((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static void Send(ushort port, long total)
    {
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                c.Connect(new IPEndPoint(IPAddress.Loopback, port));
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && attempt < 200)
            {
                // The snippet listens only after the setup.
                Thread.Sleep(25);
            }
        }

        new NcdevmemPattern(7).Send(c, total);
        c.Shutdown(SocketShutdown.Send);
    }
}
