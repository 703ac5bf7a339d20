using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Devmem.Validation;

namespace Devmem.Cli.Tests;

/// <summary>
/// ncdevmem -l and the bind self-tests on the host. The host has no NIC that can bind a dma-buf, so
/// the server here is the copy fallback over loopback (zero copy runs on the testnic guests); what is
/// checked is the kernel tool's output conventions, validation, the JSON summary, the refusals and the
/// interrupt path.
/// </summary>
[Tier(Tier.HostKernel)]
public sealed class NcdevmemServerTests
{
    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    [Fact]
    public async Task Copy_fallback_server_validates_a_64MiB_stream_and_prints_the_kernel_tools_lines_and_one_JSON_object()
    {
        int port = FreePort();
        using var server = new Server("-l", "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "-v", "7", "--fallback", "copy", "--json");
        server.WaitFor("Waiting or connection on 127.0.0.1:" + port);
        await Send(port, 64L << 20, corruptAt: null);
        (int code, string stdout, string stderr) = server.Exit();
        Assert.True(code == 0, stderr);
        Assert.Contains("ncdevmem: client exited", stderr, StringComparison.Ordinal);
        Assert.Contains("total_received=67108864", stderr, StringComparison.Ordinal);
        Assert.Contains("Got connection from 127.0.0.1:", stderr, StringComparison.Ordinal);
        Assert.Contains("lo has no parent device", stderr, StringComparison.Ordinal); // the fallback's one warning
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement r = json.RootElement;
        Assert.Equal("copy", r.GetProperty("mode").GetString());
        Assert.True(r.GetProperty("ok").GetBoolean());
        Assert.Equal(64L << 20, r.GetProperty("bytes").GetInt64());
        Assert.Equal(0, r.GetProperty("validation_errors").GetInt64());
        Assert.Equal(7, r.GetProperty("validation_period").GetInt32());
        Assert.Contains("no parent device", r.GetProperty("fallback_reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("no_parent_device", r.GetProperty("fallback_kind").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("binding_id").ValueKind);
    }

    [Fact]
    public async Task A_corrupted_stream_fails_validation_with_the_kernel_tools_messages_and_exit_1()
    {
        int port = FreePort();
        using var server = new Server("-l", "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "-v", "7", "--fallback", "copy");
        server.WaitFor("Waiting or connection");
        // 25 bytes flipped, one every 1000: above ncdevmem's limit of 20 errors.
        await Send(port, 8L << 20, corruptAt: 1 << 20);
        (int code, _, string stderr) = server.Exit();
        Assert.Equal(1, code);
        Assert.Contains("Failed validation: expected=", stderr, StringComparison.Ordinal);
        Assert.Contains("ncdevmem: validation failed", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("client exited", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_fallback_loopback_is_refused_at_the_check_step_in_one_line_exit_1()
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "-l", "-f", "lo", "-s", "127.0.0.1", "-p", "5201");
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Equal("ncdevmem: check on lo: lo has no parent device (a virtual interface): a dma-buf cannot be attached to it. Hint: devmem RX needs a NIC whose driver supports it (bnxt_en, gve, mlx5_core, fbnic on 7.x kernels)", stderr.Trim());
    }

    [Fact]
    public void An_unknown_interface_is_ENODEV_in_one_line_exit_1()
    {
        var (code, _, stderr) = Cli.Run("ncdevmem", null, "-l", "-f", "nosuchif0", "-s", "::1", "-p", "5201");
        Assert.Equal(1, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("check on nosuchif0: no such interface in this network namespace: ENODEV (19)", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_interface_is_an_error_even_with_fallback_copy()
    {
        // Before the fallback policy the server fell back to copy here and waited for a client.
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "-l", "-f", "nope0", "-s", "127.0.0.1", "-p", "5201", "--fallback", "copy");
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("ncdevmem: check on nope0: no such interface in this network namespace: ENODEV (19)", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HUP", 129)]
    [InlineData("INT", 130)]
    [InlineData("QUIT", 131)]
    [InlineData("TERM", 143)]
    public void A_signal_while_waiting_for_the_client_stops_the_server_cleanly_with_128_plus_its_number(string signal, int expected)
    {
        // SIGHUP (an ssh session that drops) and SIGQUIT ended the process without the undo before: the
        // runtime's default action. Copy mode on lo configures nothing, and says so (not "undone").
        int port = FreePort();
        using var server = new Server("-l", "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "--fallback", "copy", "--json");
        server.WaitFor("Waiting or connection");
        server.Signal(signal);
        (int code, string stdout, string stderr) = server.Exit();
        Assert.Equal(expected, code);
        Assert.Contains($"ncdevmem: interrupted by SIG{signal}; nothing was configured on the NIC (copy mode)", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("undone", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        // --json: the object, with ok false, the signal and the error, also when a signal ends the run.
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal($"SIG{signal}", json.RootElement.GetProperty("signal").GetString());
        Assert.Equal("copy", json.RootElement.GetProperty("mode").GetString());
        Assert.Contains($"interrupted by SIG{signal}", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signal_in_the_middle_of_a_transfer_prints_the_summary_with_ok_false_and_the_signal()
    {
        int port = FreePort();
        using var server = new Server("-l", "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "-v", "7", "--fallback", "copy", "--json");
        server.WaitFor("Waiting or connection");
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TestContext.Current.CancellationToken);
        var buffer = new byte[7 * 1000];
        new NcdevmemPattern(7).Fill(buffer);
        await c.SendAsync(buffer, TestContext.Current.CancellationToken);
        server.WaitFor("Got connection");
        server.Signal("HUP");
        (int code, string stdout, string stderr) = server.Exit();
        Assert.Equal(129, code);
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement r = json.RootElement;
        Assert.False(r.GetProperty("ok").GetBoolean());
        Assert.Equal("SIGHUP", r.GetProperty("signal").GetString());
        Assert.True(r.TryGetProperty("bytes", out _), stdout);   // the whole summary, not just the error
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_port_in_use_is_found_before_the_NIC_is_touched()
    {
        // Another listener has the port. The server binds before it sets the NIC up: the refusal comes
        // before the setup (here: before the copy fallback's warning, the setup's first words on lo).
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen(1);
        int port = ((IPEndPoint)other.LocalEndPoint!).Port;
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "-l", "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "--fallback", "copy", "--json");
        Assert.Equal(1, code);
        Assert.Equal($"ncdevmem: cannot listen on 127.0.0.1 port {port}: AddressAlreadyInUse (Address already in use); nothing was configured on lo", Assert.Single(stderr.Trim().Split('\n')));
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Contains("Address already in use", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_runtime_failure_with_json_prints_the_object_with_ok_false_and_the_error()
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "-l", "-f", "lo", "-s", "127.0.0.1", "-p", "5201", "--json");
        Assert.Equal(1, code);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal("lo", json.RootElement.GetProperty("interface").GetString());
        Assert.Equal(stderr.Trim()["ncdevmem: ".Length..], json.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_garbage_stream_prints_at_most_21_mismatches_then_fails()
    {
        // 100 KB that never match: the kernel's tool stops at its 21st error; this one printed 65,296 lines.
        int port = FreePort();
        using var server = new Server("-l", "-f", "lo", "-s", "127.0.0.1", "-p", $"{port}", "-v", "7", "--fallback", "copy");
        server.WaitFor("Waiting or connection");
        using (var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await c.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TestContext.Current.CancellationToken);
            var garbage = new byte[100_000];
            Array.Fill(garbage, (byte)0xEE);
            try
            {
                await c.SendAsync(garbage, TestContext.Current.CancellationToken);
                c.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The server may close first, once validation failed.
            }
        }

        (int code, _, string stderr) = server.Exit();
        Assert.Equal(1, code);
        Assert.Equal(21, stderr.Split('\n').Count(l => l.StartsWith("Failed validation: ", StringComparison.Ordinal)));
        Assert.Contains("ncdevmem: validation failed", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_self_tests_on_loopback_are_skipped_with_the_reason_exit_1()
    {
        var (code, stdout, stderr) = Cli.Run("ncdevmem", null, "-f", "lo", "--json");
        Assert.Equal(1, code);
        Assert.Contains("ncdevmem: [skip] all 4 bind self-tests: check on lo: lo has no parent device", stderr, StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal(4, json.RootElement.GetArrayLength());
        Assert.All(json.RootElement.EnumerateArray(), t => Assert.Equal("skipped", t.GetProperty("outcome").GetString()));
    }

    private static async Task Send(int port, long total, long? corruptAt)
    {
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TestContext.Current.CancellationToken);
        var pattern = new NcdevmemPattern(7);
        var buffer = new byte[7 * 9362];
        pattern.Fill(buffer);
        long sent = 0;
        while (sent < total)
        {
            int n = (int)Math.Min(buffer.Length, total - sent);
            byte[] chunk = buffer;
            if (corruptAt is long at && sent <= at && at < sent + n)
            {
                chunk = (byte[])buffer.Clone();
                for (int i = (int)(at - sent), k = 0; i < n && k < 25; i += 1000, k++)
                {
                    chunk[i] ^= 0x40;
                }
            }

            try
            {
                await c.SendAsync(chunk.AsMemory(0, n), TestContext.Current.CancellationToken);
            }
            catch (SocketException) when (corruptAt is long at2 && sent > at2)
            {
                // The server stops reading once validation has failed: a reset after the corruption went out is expected.
                return;
            }

            sent += n;
        }

        try
        {
            c.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException) when (corruptAt is not null)
        {
            return;
        }

        // Wait for the server to close its side (it may close early after a validation failure).
        var sink = new byte[4096];
        try
        {
            while (await c.ReceiveAsync(sink, TestContext.Current.CancellationToken) > 0)
            {
            }
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>A running ncdevmem whose stderr is collected line by line.</summary>
    private sealed class Server : IDisposable
    {
        private readonly Process _p;
        private readonly StringBuilder _stderr = new();
        private readonly Task<string> _stdout;

        public Server(params string[] args)
        {
            string exe = Path.Combine(Cli.RepoRoot, "samples", "ncdevmem", "bin", "Release", "net10.0", "ncdevmem");
            _p = ProcessRunner.Start(exe, args);
            _p.StandardInput.Close();   // the server reads no input
            _p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lock (_stderr)
                    {
                        _stderr.Append(e.Data).Append('\n');
                    }
                }
            };
            _p.BeginErrorReadLine();
            _stdout = _p.StandardOutput.ReadToEndAsync();
        }

        private string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return _stderr.ToString();
                }
            }
        }

        public void WaitFor(string text)
        {
            var clock = Stopwatch.StartNew();
            while (!Stderr.Contains(text, StringComparison.Ordinal))
            {
                Assert.False(_p.HasExited, $"ncdevmem exited {(_p.HasExited ? _p.ExitCode : 0)} before printing '{text}': {Stderr}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"ncdevmem did not print '{text}' within 30 s: {Stderr}");
                Thread.Sleep(20);
            }
        }

        public void Signal(string name)
        {
            ProcessRunner.Run("kill", ["-" + name, _p.Id.ToString(CultureInfo.InvariantCulture)]);
        }

        public (int Code, string Stdout, string Stderr) Exit()
        {
            if (!_p.WaitForExit(60_000))
            {
                _p.Kill(entireProcessTree: true);
                Assert.Fail($"ncdevmem did not exit within 60 s: {Stderr}");
            }

            _p.WaitForExit(); // drains the asynchronous stderr reader
            return (_p.ExitCode, _stdout.Result, Stderr);
        }

        public void Dispose()
        {
            if (!_p.HasExited)
            {
                _p.Kill(entireProcessTree: true);
            }

            _p.Dispose();
        }
    }
}
