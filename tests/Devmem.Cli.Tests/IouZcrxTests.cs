using System.Net;
using System.Net.Sockets;

namespace Devmem.Cli.Tests;

// samples/iou-zcrx against the host's kernel: the kernel tool's command line and messages, its exit
// codes (1 failure, 42 skip), its client's payload; the server's zero-copy path needs a NIC and runs in
// the testnic guest (ZcrxGuestTests) and the drv-net harness (scripts/checks/drvnet.sh).
[Tier(Tier.HostKernel)]
public sealed class IouZcrxTests
{
    [Theory]
    [InlineData(new string[0], "iou-zcrx: Usage: iou-zcrx (-4|-6) (-s|-c) -h<server_ip> -p<port> -l<payload_size> -i<ifname> -q<rxq_id>")]
    [InlineData(new[] { "-s", "-c" }, "iou-zcrx: Pass one of -s or -c")]
    [InlineData(new[] { "-c", "-s" }, "iou-zcrx: Pass one of -s or -c")]
    [InlineData(new[] { "-s", "-h", "::1" }, "iou-zcrx: Receiver cannot have -h specified")]
    [InlineData(new[] { "-c", "-h", "not-an-address" }, "iou-zcrx: receiver address parse error: not-an-address")]
    [InlineData(new[] { "-c", "-h", "::1", "-l", "2097053" }, "iou-zcrx: -l: payload exceeds max (2097052)")]
    [InlineData(new[] { "-s", "-i", "no-such-if0", "-q", "0" }, "iou-zcrx: bad interface name: no-such-if0")]
    [InlineData(new[] { "-s", "-i", "lo" }, "iou-zcrx: the server needs -q RXQ")]
    public void Usage_errors_are_the_kernel_tools_messages_with_exit_1(string[] args, string expected)
    {
        var (code, stdout, stderr) = Cli.Run("iou-zcrx", null, args);
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_options_are_reported_as_getopt_does_and_the_run_goes_on()
    {
        // getopt prints and returns '?', which the kernel tool's switch ignores; with neither -s nor -c it exits 0.
        var (code, _, stderr) = Cli.Run("iou-zcrx", null, "-k", "-p");
        Assert.Equal(0, code);
        Assert.Contains("iou-zcrx: invalid option -- 'k'", stderr, StringComparison.Ordinal);
        Assert.Contains("iou-zcrx: option requires an argument -- 'p'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_names_every_flag_of_the_kernel_tools_getopt_string()
    {
        var (code, stdout, stderr) = Cli.Run("iou-zcrx", null, "--help");
        Assert.Equal(0, code);
        Assert.Equal(string.Empty, stderr);
        foreach (string flag in new[] { "-s", "-c", "-h IP", "-p PORT", "-l BYTES", "-i IFNAME", "-q RXQ", "-o N", "-z BYTES", "-x PAGES", "-d", "42 skip" })
        {
            Assert.Contains(flag, stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void On_lo_the_server_says_the_kernel_refused_and_why()
    {
        var (code, stdout, stderr) = Cli.Run("iou-zcrx", null, "-s", "-i", "lo", "-q", "0", "-d");
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.StartsWith("iou-zcrx: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        if (Environment.OSVersion.Version >= new Version(6, 15))
        {
            Assert.Contains("IORING_REGISTER_ZCRX_IFQ", stderr, StringComparison.Ordinal);
            Assert.Contains("EOPNOTSUPP", stderr, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("6.15", stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Large_buffers_without_huge_pages_skip_with_42_as_the_kernel_tool()
    {
        string hugepages = File.ReadAllText("/proc/sys/vm/nr_hugepages").Trim();
        Assert.SkipUnless(hugepages == "0", $"this host has {hugepages} huge pages reserved: the -x skip needs none");
        var (code, stdout, _) = Cli.Run("iou-zcrx", null, "-s", "-i", "lo", "-q", "0", "-x", "2", "-d");
        Assert.Equal(42, code);
        Assert.Equal("Can't allocate huge pages", stdout.Trim());
    }

    [Fact]
    public async Task The_client_sends_the_selftest_payload_in_l_sized_sends()
    {
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        listener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Task<(int, string, string)> client = Task.Run(() => Cli.Run("iou-zcrx", null, "-c", "-h", "::1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-l", "1000", "-z", "100000"));
        using Socket conn = await listener.AcceptAsync(TestContext.Current.CancellationToken);
        var received = new MemoryStream();
        var buf = new byte[65536];
        int n;
        while ((n = await conn.ReceiveAsync(buf, TestContext.Current.CancellationToken)) > 0)
        {
            received.Write(buf, 0, n);
        }

        var (code, _, stderr) = await client;
        Assert.True(code == 0, stderr);
        byte[] data = received.ToArray();
        Assert.Equal(100_000, data.Length);
        for (int i = 0; i < data.Length; i++)
        {
            Assert.True(data[i] == (byte)('a' + (i % 26)), $"byte {i} is {data[i]}, not '{(char)('a' + (i % 26))}'");
        }
    }

    [Fact]
    public void Numbers_are_read_as_strtoul_with_base_0()
    {
        // "0x1f41xyz" is 8001 (hex, up to the first other character) and "017" is 15 (octal), as
        // strtoul(s, NULL, 0) reads them: a client to a closed port names the port it tried.
        var (code, _, stderr) = Cli.Run("iou-zcrx", null, "-c", "-h", "127.0.0.1", "-p", "0x1f41xyz");
        Assert.Equal(1, code);
        Assert.Contains("connect():", stderr, StringComparison.Ordinal);
        Assert.Contains("]:8001", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Cli.Run("iou-zcrx", null, "-c", "-h", "127.0.0.1", "-p017");
        Assert.Equal(1, code);
        Assert.Contains("]:15", stderr, StringComparison.Ordinal);
    }
}
