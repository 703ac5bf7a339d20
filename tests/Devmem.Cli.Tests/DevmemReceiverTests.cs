using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Validation;

namespace Devmem.Cli.Tests;

/// <summary>
/// samples/DevmemReceiver as an operator runs it, on lo: lo cannot do devmem, so Fallback=Copy receives by
/// copy (the kernel answers everything else: the setup's checks, loopback TCP). SIGTERM mid-stream drains,
/// the exit status says whether every finished connection validated, and bad configuration is one line.
/// </summary>
[Tier(Tier.HostKernel)]
public sealed class DevmemReceiverTests
{
    private const int Period = 7;

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static string[] OnLo(int port, params string[] more) =>
    [
        "--Devmem:Interface=lo", "--Devmem:Address=127.0.0.1", $"--Devmem:Port={port.ToString(CultureInfo.InvariantCulture)}",
        "--Devmem:Fallback=Copy", $"--Devmem:ValidatePeriod={Period.ToString(CultureInfo.InvariantCulture)}",
        "--Devmem:MemorySize=16777216", .. more,
    ];

    /// <summary>Sends <paramref name="bytes"/> of the pattern, continuing <paramref name="pattern"/>'s position, without closing.</summary>
    private static void SendPattern(Socket s, NcdevmemPattern pattern, long bytes, long corruptAt = -1)
    {
        var buffer = new byte[64 * 1024];
        long sent = 0;
        while (sent < bytes)
        {
            int n = (int)Math.Min(buffer.Length, bytes - sent);
            pattern.Fill(buffer.AsSpan(0, n));
            if (corruptAt >= sent && corruptAt < sent + n)
            {
                buffer[corruptAt - sent] ^= 0xff;
            }

            s.Send(buffer.AsSpan(0, n));
            sent += n;
        }
    }

    private static void AssertNoStackTrace(string log) =>
        Assert.DoesNotContain(log.Split('\n'), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) || l.Contains("Exception:", StringComparison.Ordinal));

    [Fact]
    public async Task Four_senders_SIGTERM_mid_stream_drains_every_connection_validated_and_exits_0_with_no_tokens_outstanding()
    {
        const long Half = 7L << 20; // a whole number of periods: the second half continues the pattern
        int port = FreePort();
        using var receiver = new DevmemReceiverProcess(OnLo(port, "--Devmem:DrainTimeout=00:01:00"));
        await receiver.WaitForAsync("DevmemReceiver[1]");
        Assert.Contains("copy fallback on lo", receiver.Log, StringComparison.Ordinal);

        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken ct = TestContext.Current.CancellationToken;
        Task[] senders = [.. Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            var pattern = new NcdevmemPattern(Period);
            SendPattern(s, pattern, Half);
            await go.Task.WaitAsync(ct);        // mid-stream until the receiver is stopping
            SendPattern(s, pattern, Half);
            s.Shutdown(SocketShutdown.Send);
            Assert.Equal(0, s.Receive(new byte[1])); // the receiver closes its end once it has read everything
        }, ct))];

        await receiver.WaitForAsync("receiving (copy fallback)", count: 4);
        receiver.Signal("TERM");
        await receiver.WaitForAsync("Devmem.Hosting.DevmemReceiver[108]"); // stopping: no new connections, the open ones drain
        await Task.Delay(500, ct); // the listener closes right after that line
        using (var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            Assert.Throws<SocketException>(() => late.Connect(new IPEndPoint(IPAddress.Loopback, port)));
        }

        go.SetResult();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60), ct);
        (int code, string log) = await receiver.ExitAsync();
        TestContext.Current.SendDiagnosticMessage(log);

        Assert.True(code == 0, log);
        Assert.Equal(4, receiver.Count(": validated, 14680064 bytes"));
        Assert.Equal(4, DevmemReceiverProcess.SummaryValue(log, "connections"));
        Assert.Equal(4, DevmemReceiverProcess.SummaryValue(log, "validated"));
        Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "failed"));
        Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "tokens outstanding"));
        Assert.Equal(8 * Half, DevmemReceiverProcess.SummaryValue(log, "copied"));
        Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "dmabuf"));
        Assert.Contains("health while running Degraded", log, StringComparison.Ordinal);
        Assert.Contains("DevmemReceiver[6] Health Degraded: devmem Degraded: Receiving by copy on lo", log, StringComparison.Ordinal);
        Assert.DoesNotContain("DevmemReceiver[10]", log, StringComparison.Ordinal);
        Assert.Contains("DevmemReceiver[9] Every finished connection validated: exit 0", log, StringComparison.Ordinal);
        Assert.Contains("Devmem.Hosting.DevmemReceiver[109]", log, StringComparison.Ordinal); // the setup undone
        AssertNoStackTrace(log);
    }

    [Fact]
    public async Task A_corrupted_stream_fails_validation_and_the_exit_status_is_1()
    {
        const long Bytes = 4L << 20;
        int port = FreePort();
        using var receiver = new DevmemReceiverProcess(OnLo(port));
        await receiver.WaitForAsync("DevmemReceiver[1]");
        CancellationToken ct = TestContext.Current.CancellationToken;
        Task[] senders = [.. new long[] { -1, 1_000_003 }.Select(corruptAt => Task.Run(async () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            SendPattern(s, new NcdevmemPattern(Period), Bytes, corruptAt);
            s.Shutdown(SocketShutdown.Send);
            s.Receive(new byte[1]);
        }, ct))];
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60), ct);
        await receiver.WaitForAsync("DevmemReceiver[3]", count: 2);
        receiver.Signal("TERM");
        (int code, string log) = await receiver.ExitAsync();
        TestContext.Current.SendDiagnosticMessage(log);

        Assert.True(code == 1, log);
        Assert.Contains("failed validation: expected=", log, StringComparison.Ordinal);
        Assert.Contains("stream offset=1000003", log, StringComparison.Ordinal);
        Assert.Contains("failed: 1 bytes do not match the ncdevmem pattern of period 7", log, StringComparison.Ordinal);
        Assert.Equal(1, DevmemReceiverProcess.SummaryValue(log, "validated"));
        Assert.Equal(1, DevmemReceiverProcess.SummaryValue(log, "failed"));
        Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "tokens outstanding"));
        Assert.Contains("Not every finished connection validated (1 failed): exit 1", log, StringComparison.Ordinal);
        AssertNoStackTrace(log);
    }

    [Fact]
    public async Task SIGINT_with_no_drain_time_cuts_endless_streams_short_releases_everything_and_exits_0()
    {
        int port = FreePort();
        using var receiver = new DevmemReceiverProcess(OnLo(port, "--Devmem:DrainTimeout=00:00:00"));
        await receiver.WaitForAsync("DevmemReceiver[1]");
        CancellationToken ct = TestContext.Current.CancellationToken;
        Task[] senders = [.. Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            try
            {
                SendPattern(s, new NcdevmemPattern(Period), long.MaxValue);
            }
            catch (SocketException)
            {
                // The receiver closed the connection on its stop.
            }
        }, ct))];
        await receiver.WaitForAsync("receiving (copy fallback)", count: 2);
        await Task.Delay(300, ct);
        receiver.Signal("INT");
        (int code, string log) = await receiver.ExitAsync();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30), ct);
        TestContext.Current.SendDiagnosticMessage(log);

        Assert.True(code == 0, log);
        Assert.Equal(2, receiver.Count(": cut_short, "));
        Assert.Equal(2, DevmemReceiverProcess.SummaryValue(log, "cut short by the stop"));
        Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "failed"));
        Assert.True(DevmemReceiverProcess.SummaryValue(log, "copied") > 0, log);
        Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "tokens outstanding"));
        AssertNoStackTrace(log);
    }

    [Theory]
    [InlineData("no interface", "Devmem:Interface is missing: name the network interface", "--Devmem:Address=127.0.0.1", "--Devmem:Port=5201")]
    [InlineData("port out of range", "Devmem:Port 70000 is out of range: give a TCP port from 1 to 65535.", "--Devmem:Interface=lo", "--Devmem:Address=127.0.0.1", "--Devmem:Port=70000")]
    [InlineData("port not a number", "Failed to convert configuration value 'abc' at 'Devmem:Port'", "--Devmem:Interface=lo", "--Devmem:Address=127.0.0.1", "--Devmem:Port=abc")]
    [InlineData("fallback unknown", "Failed to convert configuration value 'Sometimes' at 'Devmem:Fallback'", "--Devmem:Interface=lo", "--Devmem:Address=127.0.0.1", "--Devmem:Port=5201", "--Devmem:Fallback=Sometimes")]
    [InlineData("period 1", "Devmem:ValidatePeriod 1 must be 0 (no validation) or a pattern period from 2 to 256", "--Devmem:Interface=lo", "--Devmem:Address=127.0.0.1", "--Devmem:Port=5201", "--Devmem:ValidatePeriod=1")]
    public async Task Bad_configuration_exits_1_with_one_clear_line_and_no_stack_trace(string what, string expected, params string[] args)
    {
        using var receiver = new DevmemReceiverProcess(args);
        (int code, string log) = await receiver.ExitAsync(60);
        TestContext.Current.SendDiagnosticMessage($"{what}: {log}");
        Assert.True(code == 1, log);
        string line = Assert.Single(log.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("DevmemReceiver[8] DevmemReceiver did not start (exit 1): ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Environment_variables_configure_it_too_and_the_command_line_wins()
    {
        // Devmem__Port from the environment is bad; the command line's good port overrides it, and the
        // environment's ValidatePeriod (bad) is what fails the start.
        using var receiver = new DevmemReceiverProcess(
            ["--Devmem:Port=5201"],
            [new("Devmem__Interface", "lo"), new("Devmem__Address", "127.0.0.1"), new("Devmem__Port", "70000"), new("Devmem__ValidatePeriod", "300")]);
        (int code, string log) = await receiver.ExitAsync(60);
        TestContext.Current.SendDiagnosticMessage(log);
        Assert.True(code == 1, log);
        string line = Assert.Single(log.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Devmem:ValidatePeriod 300 must be 0 (no validation) or a pattern period from 2 to 256", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Port", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Zero_copy_impossible_with_Fallback_Never_exits_1_naming_why_without_a_stack_trace()
    {
        using var receiver = new DevmemReceiverProcess("--Devmem:Interface=lo", "--Devmem:Address=127.0.0.1", $"--Devmem:Port={FreePort().ToString(CultureInfo.InvariantCulture)}");
        (int code, string log) = await receiver.ExitAsync(60);
        TestContext.Current.SendDiagnosticMessage(log);
        Assert.True(code == 1, log);
        Assert.Contains("Devmem.Hosting.DevmemReceiver[102] Devmem receiver on lo: the NIC setup failed: ", log, StringComparison.Ordinal);
        Assert.Contains("lo has no parent device", log, StringComparison.Ordinal);
        Assert.Contains("DevmemReceiver[8] DevmemReceiver did not start (exit 1): the NIC setup failed", log, StringComparison.Ordinal);
        AssertNoStackTrace(log);
    }
}
