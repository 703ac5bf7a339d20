using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Devmem.Guest.Tests;

/// <summary>
/// The guest's wire: eth0 (10.99.0.1/24, fd99::1/64) in the root namespace, eth1 (10.99.0.2/24,
/// fd99::2/64) in network namespace "peer", the two linked inside qemu and to nothing else.
/// </summary>
[Tier(Tier.Guest)]
[Nic(Nic.Any)]
public sealed class NetworkTests(ITestOutputHelper output)
{
    // An echo server for one connection, run in the peer namespace by the host's python3: binds the
    // peer's address (EADDRNOTAVAIL if it is not there), prints its port, echoes until the client
    // shuts down its side, then reports the byte count and the client's address.
    private const string EchoServer = """
        import socket, sys
        addr = sys.argv[1]
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
        s.bind((addr, 0))
        s.listen(1)
        s.settimeout(60)
        print(s.getsockname()[1], flush=True)
        c, peer = s.accept()
        c.settimeout(60)
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
            n += len(b)
        c.shutdown(socket.SHUT_WR)
        c.close()
        print(n, peer[0], flush=True)
        """;

    private static long Counter(string dev, string name) =>
        long.Parse(File.ReadAllText($"/sys/class/net/{dev}/statistics/{name}").Trim(), CultureInfo.InvariantCulture);

    /// <summary>The NET_RX column of /proc/softirqs: how often each CPU ran net_rx_action.</summary>
    private static long[] NetRxPerCpu()
    {
        string line = File.ReadLines("/proc/softirqs").Single(l => l.TrimStart().StartsWith("NET_RX:", StringComparison.Ordinal));
        return [.. line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture))];
    }

    [Fact]
    public void Flushing_the_skb_defer_lists_runs_NET_RX_on_every_CPU()
    {
        // What HugePageReservation relies on to free buffers parked on an idle CPU's defer list.
        Guest.Require();
        long[] before = NetRxPerCpu();
        Assert.Equal(Environment.ProcessorCount, before.Length);
        SkbDeferLists.Flush();
        long[] after = NetRxPerCpu();
        output.WriteLine($"NET_RX per CPU: {string.Join(' ', before)} -> {string.Join(' ', after)}");
        Assert.All(Enumerable.Range(0, before.Length), cpu => Assert.True(after[cpu] > before[cpu], $"CPU {cpu} ran no NET_RX"));
    }

    [Fact]
    public void Eth0_has_its_addresses_and_the_expected_driver()
    {
        Guest.Require();
        var eth0 = NetworkInterface.GetAllNetworkInterfaces().Single(i => i.Name == "eth0");
        Assert.Equal(OperationalStatus.Up, eth0.OperationalStatus);
        var addrs = eth0.GetIPProperties().UnicastAddresses.Select(a => $"{a.Address}/{a.PrefixLength}").ToList();
        output.WriteLine($"eth0: {string.Join(' ', addrs)}");
        Assert.Contains("10.99.0.1/24", addrs);
        Assert.Contains("fd99::1/64", addrs);

        // Virtio-net PCI functions: vendor 0x1af4, device 0x1000 (transitional) or 0x1041 (modern)
        // (virtio spec 1.2, 4.1.2.1). qemu's 9p shares are 0x1009, not counted.
        var virtioNics = Directory.GetDirectories("/sys/bus/pci/devices").Count(d =>
            File.ReadAllText(Path.Combine(d, "vendor")).Trim() == "0x1af4" &&
            File.ReadAllText(Path.Combine(d, "device")).Trim() is "0x1000" or "0x1041");
        // sysfs links (readlink): eth0/device/subsystem ends in the bus (virtio, platform), .../driver in
        // the driver's name.
        static string LinkName(string path) => Path.GetFileName(new DirectoryInfo(path).LinkTarget) ?? "(none)";
        var bus = LinkName("/sys/class/net/eth0/device/subsystem");
        output.WriteLine($"eth0 bus: {bus}; virtio-net PCI functions: {virtioNics}");
        if (Guest.Nic == "virtio")
        {
            Assert.Equal(2, virtioNics);
            // eth0's device is the virtio device; its driver link names the bound driver.
            Assert.Equal("virtio", bus);
            Assert.Equal("virtio_net", LinkName("/sys/class/net/eth0/device/driver"));
        }
        else
        {
            // --nic testnic: the software NIC's netdevs and no virtio NIC at all.
            Assert.Equal("testnic", Guest.Nic);
            Assert.Equal(0, virtioNics);
            Assert.NotEqual("virtio", bus);
        }
    }

    [Fact]
    public void Only_lo_and_eth0_are_in_the_root_namespace_and_nothing_routes_outside()
    {
        Guest.Require();
        var names = Directory.GetFileSystemEntries("/sys/class/net").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(["eth0", "lo"], names);
        Assert.True(File.Exists("/run/netns/peer"), "network namespace 'peer' is missing");

        // qemu's user-mode network would answer at 10.0.2.2; the harness has none and no default route.
        foreach (var outside in new[] { IPAddress.Parse("10.0.2.2"), IPAddress.Parse("2001:db8::1") })
        {
            using var s = new Socket(outside.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            var e = Assert.Throws<SocketException>(() => s.Connect(new IPEndPoint(outside, 80)));
            Assert.Equal(SocketError.NetworkUnreachable, e.SocketErrorCode);
        }
    }

    [Theory]
    [InlineData("10.99.0.2", "10.99.0.1")]
    [InlineData("fd99::2", "fd99::1")]
    public async Task Tcp_to_the_peer_namespace_carries_data_both_ways(string peer, string local)
    {
        Guest.Require();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var server = Guest.Start("ip", "netns", "exec", "peer", "python3", "-c", EchoServer, peer);
        try
        {
            var portLine = await server.StandardOutput.ReadLineAsync(cts.Token);
            if (portLine is null)
            {
                Assert.Fail($"the echo server in namespace 'peer' did not start: {await server.StandardError.ReadToEndAsync(cts.Token)}");
            }
            var port = int.Parse(portLine, CultureInfo.InvariantCulture);

            long tx0 = Counter("eth0", "tx_bytes"), rx0 = Counter("eth0", "rx_bytes");
            var payload = RandomNumberGenerator.GetBytes(1 << 20);
            using var client = new Socket(IPAddress.Parse(peer).AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(peer), port), cts.Token);
            Assert.Equal(IPAddress.Parse(local), ((IPEndPoint)client.LocalEndPoint!).Address);

            var send = Task.Run(async () =>
            {
                await client.SendAsync(payload, SocketFlags.None, cts.Token);
                client.Shutdown(SocketShutdown.Send);
            }, cts.Token);
            var echoed = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = await client.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0)
            {
                echoed.Write(buf, 0, n);
            }
            await send;

            Assert.Equal(payload.Length, echoed.Length);
            Assert.True(payload.AsSpan().SequenceEqual(echoed.GetBuffer().AsSpan(0, (int)echoed.Length)), "echoed bytes differ");
            var report = await server.StandardOutput.ReadLineAsync(cts.Token);
            output.WriteLine($"peer: {report}");
            Assert.Equal($"{payload.Length} {local}", report);
            // Both directions went over eth0 (not lo): its counters grew by at least the payload.
            Assert.True(Counter("eth0", "tx_bytes") - tx0 >= payload.Length, "eth0 sent less than the payload");
            Assert.True(Counter("eth0", "rx_bytes") - rx0 >= payload.Length, "eth0 received less than the payload");
            await server.WaitForExitAsync(cts.Token);
            Assert.Equal(0, server.ExitCode);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }
        }
    }
}
