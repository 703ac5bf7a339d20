using System.Net;
using System.Net.Sockets;

namespace Devmem.Cli.Tests;

[Tier(Tier.HostKernel)]
public class NcdevmemTests
{
    [Theory]
    [InlineData(new string[0], "Missing -f argument")]
    [InlineData(new[] { "-f" }, "option -f needs a value")]
    [InlineData(new[] { "-x" }, "unknown option '-x'")]
    [InlineData(new[] { "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "-f", "eth0", "-s", "1.2.3", "-p", "1" }, "'1.2.3' is not an IPv4 or IPv6 address")]
    [InlineData(new[] { "-f", "eth0", "-s", "::1", "-p", "70000" }, "-p 70000 is out of range")]
    [InlineData(new[] { "-f", "eth0", "-s", "::1", "-p", "http" }, "-p 'http' is not a number")]
    [InlineData(new[] { "-f", "eth0", "-s", "::1" }, "-p PORT is required")]
    [InlineData(new[] { "-f", "eth0", "-l", "-p", "5201" }, "-l needs -s ADDR")]
    [InlineData(new[] { "-f", "eth0", "-v", "1" }, "-v 1 would expect only terminator bytes")]
    [InlineData(new[] { "-f", "eth0", "-b", "5000" }, "-b 5000 is not a power of two")]
    [InlineData(new[] { "-f", "eth0", "-q", "0" }, "-q 0 is out of range")]
    [InlineData(new[] { "-f", "eth0", "--provider", "gpu" }, "--provider takes auto, udmabuf, dma-heap, cuda, cuda:N or memfd")]
    [InlineData(new[] { "-f", "eth0", "--fallback", "maybe" }, "--fallback takes 'never' or 'copy'")]
    [InlineData(new[] { "-f", "this-name-is-far-too-long" }, "is not an interface name")]
    [InlineData(new[] { "--demo", "-f", "eth0" }, "--demo runs its own server and client")]
    [InlineData(new[] { "-f", "eth0", "extra" }, "unexpected argument 'extra'")]
    [InlineData(new[] { "-f", "eth0", "-s", "::1", "-p", "1", "--tx", "maybe" }, "--tx takes 'auto', 'devmem' or 'plain'")]
    [InlineData(new[] { "-f", "eth0", "-l", "-s", "::1", "-p", "1", "--engine", "dpdk" }, "--engine takes 'devmem' or 'zcrx', not 'dpdk'")]
    public void Bad_usage_says_what_was_wrong_in_two_lines_and_exits_2(string[] args, string expected)
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, args);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.StartsWith("ncdevmem: ", stderr, StringComparison.Ordinal);
        Assert.InRange(stderr.Trim().Split('\n').Length, 1, 2);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_the_kernel_tools_flags_and_the_client_transports()
    {
        var (code, stdout, _) = Cli.Run("ncdevmem", null, "--help");
        Assert.Equal(0, code);
        foreach (var flag in new[] { "-f IFNAME", "-l", "-s ADDR", "-c ADDR", "-p PORT", "-v N", "-t START", "-q COUNT", "-z CHUNK", "-n", "-L", "-b SIZE", "--provider", "--fallback", "--json", "--demo", "--tx auto|devmem|plain" })
        {
            Assert.Contains(flag, stdout, StringComparison.Ordinal);
        }

        // Devmem TX is built: the help says what the client does, not that it is missing.
        Assert.DoesNotContain("not built yet", stdout, StringComparison.Ordinal);
        Assert.Contains("bind-tx (devmem TX, Linux 6.16+", stdout, StringComparison.Ordinal);
        Assert.Contains("--demo-bytes", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_moves_one_GiB_validated_and_explains_why_it_is_not_zero_copy()
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "--demo");
        Assert.True(code == 0, stderr);
        Assert.Contains("1073741824 bytes (1024 MiB) received and validated", stdout, StringComparison.Ordinal);
        Assert.Contains("mode: copy fallback", stdout, StringComparison.Ordinal);
        Assert.Contains("why not zero copy: loopback has no NIC RX queue", stdout, StringComparison.Ordinal);

        // This host's kernel has no udmabuf (CONFIG_UDMABUF unset): the explanation says so.
        if (!File.Exists("/dev/udmabuf"))
        {
            Assert.Contains("✗ Udmabuf: open /dev/udmabuf: ENOENT", stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Demo_json_summary_is_one_object_on_stdout()
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "--demo", "--json", "--demo-bytes", "64M");
        Assert.True(code == 0, stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("copy", root.GetProperty("mode").GetString());
        Assert.False(root.GetProperty("zero_copy").GetBoolean());
        Assert.Equal(64L << 20, root.GetProperty("bytes").GetInt64());
        Assert.Equal(0, root.GetProperty("validation_errors").GetInt64());
        Assert.True(root.GetProperty("fragments").GetInt64() > 0);
        Assert.True(root.GetProperty("throughput_bytes_per_second").GetInt64() > 0);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Client_sends_standard_input_to_a_plain_listener(string address)
    {
        var ip = IPAddress.Parse(address);
        using var listener = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(ip, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var received = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync(TestContext.Current.CancellationToken);
            using var ms = new MemoryStream();
            var buf = new byte[4096];
            int n;
            while ((n = await s.ReceiveAsync(buf, TestContext.Current.CancellationToken)) > 0)
            {
                ms.Write(buf, 0, n);
            }

            return ms.ToArray();
        }, TestContext.Current.CancellationToken);

        string payload = string.Concat(Enumerable.Repeat("hello\nworld\n", 1000));
        var (code, stdout, stderr) = Cli.Run("ncdevmem", payload, "-f", "lo", "-s", address, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(System.Text.Encoding.ASCII.GetBytes(payload), await received);
        Assert.Contains($"\"bytes\":{payload.Length}", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Client_that_cannot_connect_exits_1_with_one_line()
    {
        // A port nobody listens on: bind a socket to get a free port, then close it.
        int port;
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)s.LocalEndPoint!).Port;
        }

        var (code, _, stderr) = Cli.Run("ncdevmem", string.Empty, "-f", "lo", "-s", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--tx", "plain");
        Assert.Equal(1, code);
        Assert.Contains("cannot connect to 127.0.0.1 port", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task Client_with_an_unknown_interface_fails_in_one_line_and_sends_nothing()
    {
        // Before, -f nosuchif was a reason to fall back to plain TCP: the client connected and exited 0.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Task<Socket> accepted = listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask();

        var (code, stdout, stderr) = Cli.Run("ncdevmem", "hello\n", "-f", "nosuchif", "-s", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("nosuchif", line, StringComparison.Ordinal);
        Assert.Contains("ENODEV", line, StringComparison.Ordinal);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.False(accepted.IsCompleted, "the client connected");
    }

    [Fact]
    public async Task With_standard_input_closed_the_client_refuses_before_connecting_and_sends_nothing()
    {
        // <&-: the runtime then opens its own files in slot 0 (a pipe, close-on-exec); the client read
        // that and sent it (or blocked on it) before fds 0-2 were checked at start.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        string exe = Path.Combine(Cli.RepoRoot, "samples", "ncdevmem", "bin", "Release", "net10.0", "ncdevmem");
        ProcessResult p;
        try
        {
            p = await ProcessRunner.RunAsync("sh", ["-c", "exec \"$0\" \"$@\" <&-", exe, "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "--tx", "plain"],
                timeout: TimeSpan.FromSeconds(15), cancellationToken: TestContext.Current.CancellationToken);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException("the client with stdin closed did not exit in 15 s (it reads what the runtime opened as fd 0)", e);
        }

        Assert.Equal(2, p.ExitCode);
        Assert.Equal("ncdevmem: standard input is closed, and the client sends standard input: give it a file or a pipe (< FILE; < /dev/null to send nothing)", p.Stderr.Trim().Split('\n')[0]);
        Assert.False(listener.Poll(0, SelectMode.SelectRead), "the client connected");
    }

    [Theory]
    [InlineData("--json=0", false)]
    [InlineData("--json=off", false)]
    [InlineData("--json=1", true)]
    [InlineData("--json", true)]
    public void A_switch_takes_an_optional_value_and_json_0_is_off(string option, bool json)
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "--demo", "--demo-bytes=1M", option);
        Assert.True(code == 0, stderr);
        Assert.Equal(json, stdout.StartsWith('{'));
    }

    private static bool KernelHasBindTx()
    {
        using var netdev = Devmem.Netlink.Netdev.NetdevClient.Open();
        return netdev.Supports("bind-tx");
    }

    [Fact]
    public void Devmem_tx_on_loopback_fails_in_one_line_with_the_kernels_answer()
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", "hello\n", "-f", "lo", "-s", "127.0.0.1", "-p", "9", "--tx", "devmem");
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("ncdevmem: devmem TX is not possible on lo: ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);

        // 6.16+: the kernel's own refusal (loopback has no netmem TX); older kernels: no bind-tx at all.
        Assert.Contains(KernelHasBindTx() ? "netdev bind-tx: Netlink error: Driver does not support netmem TX: Operation not supported (EOPNOTSUPP, errno 95)" : "bind-tx", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auto_falls_back_to_plain_TCP_on_loopback_and_says_why_in_one_line()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var received = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync(TestContext.Current.CancellationToken);
            using var ms = new MemoryStream();
            var buf = new byte[4096];
            int n;
            while ((n = await s.ReceiveAsync(buf, TestContext.Current.CancellationToken)) > 0)
            {
                ms.Write(buf, 0, n);
            }

            return ms.ToArray();
        }, TestContext.Current.CancellationToken);

        var (code, stdout, stderr) = Cli.Run("ncdevmem", "hello\nworld\n", "-f", "lo", "-s", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal("hello\nworld\n"u8.ToArray(), await received);
        string[] lines = stderr.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("ncdevmem: devmem TX is not possible on lo (", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("); sending over plain TCP instead", lines[0], StringComparison.Ordinal);
        Assert.Equal("ncdevmem: sent 12 bytes (plain TCP)", lines[1]);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal("tcp", doc.RootElement.GetProperty("transport").GetString());
        Assert.Contains("bind-tx", doc.RootElement.GetProperty("devmem_unavailable").GetString(), StringComparison.Ordinal);
    }
}
