using System.Globalization;
using System.Text.Json;
using Devmem.Setup;
using Devmem.Testing;

namespace Devmem.Guest.Tests;

/// <summary>
/// The ncdevmem CLI (samples/ncdevmem) in the virtio guests, between eth0 and the peer namespace's
/// eth1: virtio_net cannot do devmem, so the server refuses (naming the driver) or, with
/// <c>--fallback copy</c>, receives by copy into a real udmabuf; streams from netcat and from our own
/// client are validated, a corrupted one is rejected, and the NIC is left exactly as it was.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Virtio)]
public sealed class NcdevmemCliGuestTests
{
    private const long StreamBytes = 64L << 20;

    private static string Exe => Path.Combine(Guest.Root, "samples", "ncdevmem", "bin", "Release", "net10.0", "ncdevmem");

    private static void RequireVirtio()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "virtio", $"these need the virtio NIC; the harness booted --nic {Guest.Nic}");
    }

    private static (int Code, string Stdout, string Stderr) Sh(string script, int timeoutMs = 240_000)
    {
        ProcessResult r = ProcessRunner.Run("sh", ["-c", script], timeout: TimeSpan.FromMilliseconds(timeoutMs));
        return (r.ExitCode, r.Stdout, r.Stderr);
    }

    /// <summary>
    /// Runs our server on eth0 in the background, waits until it listens, runs <paramref name="sender"/>,
    /// and returns the server's exit status and output.
    /// </summary>
    private static (int Code, string Stdout, string Stderr) Serve(int port, string serverArgs, string sender)
    {
        string p = port.ToString(CultureInfo.InvariantCulture);
        string script = $"""
            {Exe} -l -f eth0 -s 10.99.0.1 -p {p} {serverArgs} >/tmp/srv{p}.out 2>/tmp/srv{p}.err &
            srv=$!
            for i in $(seq 600); do grep -q "Waiting or connection" /tmp/srv{p}.err && break; kill -0 $srv 2>/dev/null || break; sleep 0.1; done
            {sender}
            sent=$?
            # A sender that failed (nc missing, refused) leaves the server waiting for a connection
            # forever: stop it, saying why, rather than wait for the test's timeout.
            if [ $sent -ne 0 ]; then
                sleep 2
                if kill -0 $srv 2>/dev/null; then echo "the sender exited $sent; the server still waited for it and was stopped" >&2; kill -TERM $srv; fi
            fi
            wait $srv
            rc=$?
            cat /tmp/srv{p}.out
            cat /tmp/srv{p}.err >&2
            exit $rc
            """;
        return Sh(script);
    }

    private static string Pattern(long bytes, string tr = "") =>
        $"yes \"$(printf '\\001\\002\\003\\004\\005\\006')\" | head -c {bytes.ToString(CultureInfo.InvariantCulture)}{tr}";

    [Fact]
    public void Copy_fallback_server_validates_64MiB_from_netcat_into_a_udmabuf_and_leaves_the_NIC_as_it_was()
    {
        RequireVirtio();
        string before = DevmemNicState.Capture("eth0").ToString();
        var (code, stdout, stderr) = Serve(5401, "-v 7 --fallback copy --json", $"{Pattern(StreamBytes)} | ip netns exec peer nc -N 10.99.0.1 5401");
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] {stdout.Trim()}");
        Assert.True(code == 0, stderr);
        Assert.Contains("ncdevmem: client exited", stderr, StringComparison.Ordinal);
        Assert.Contains("driver virtio_net has no queue management API", stderr, StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("copy", json.RootElement.GetProperty("mode").GetString());
        Assert.Equal("Udmabuf", json.RootElement.GetProperty("provider").GetString());
        Assert.Equal(StreamBytes, json.RootElement.GetProperty("bytes").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("validation_errors").GetInt64());
        Assert.Equal(before, DevmemNicState.Capture("eth0").ToString());
    }

    [Fact]
    public void Copy_fallback_server_validates_64MiB_from_our_client_in_the_peer_namespace()
    {
        RequireVirtio();
        var (code, stdout, stderr) = Serve(5402, "-v 7 --fallback copy --json",
            $"{Pattern(StreamBytes)} | ip netns exec peer {Exe} -f eth1 -s 10.99.0.1 -p 5402 || echo client failed >&2");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("client failed", stderr, StringComparison.Ordinal);
        Assert.Contains($"ncdevmem: sent {StreamBytes} bytes", stderr, StringComparison.Ordinal);

        // --tx auto: virtio_net has no netmem TX (7.x: the kernel says so; 6.12: no bind-tx at all), so the
        // client said why in one line and sent over plain TCP.
        Assert.Contains("ncdevmem: devmem TX is not possible on eth1 (", stderr, StringComparison.Ordinal);
        Assert.Contains("); sending over plain TCP instead", stderr, StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal(StreamBytes, json.RootElement.GetProperty("bytes").GetInt64());
    }

    [Fact]
    public void A_corrupted_stream_is_rejected_with_exit_1()
    {
        RequireVirtio();
        string before = DevmemNicState.Capture("eth0").ToString();
        // Every byte 3 becomes 7: one mismatch per period, above the limit of 20 at once.
        var (code, _, stderr) = Serve(5403, "-v 7 --fallback copy", $"{Pattern(8L << 20, " | tr '\\003' '\\007'")} | ip netns exec peer nc -N 10.99.0.1 5403");
        Assert.Equal(1, code);
        Assert.Contains("Failed validation: expected=3, actual=7", stderr, StringComparison.Ordinal);
        Assert.Contains("ncdevmem: validation failed", stderr, StringComparison.Ordinal);
        Assert.Equal(before, DevmemNicState.Capture("eth0").ToString());
    }

    [Fact]
    public void Without_the_fallback_the_server_refuses_naming_the_driver_and_changes_nothing()
    {
        RequireVirtio();
        string before = DevmemNicState.Capture("eth0").ToString();
        var (code, stdout, stderr) = Sh($"{Exe} -l -f eth0 -s 10.99.0.1 -p 5404 -v 7");
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Equal("ncdevmem: check on eth0: driver virtio_net has no queue management API: devmem RX is not possible on this NIC. Hint: devmem RX needs a NIC whose driver supports it (bnxt_en, gve, mlx5_core, fbnic on 7.x kernels)", stderr.Trim());
        Assert.Equal(before, DevmemNicState.Capture("eth0").ToString());
    }

    [Fact]
    public void Bind_self_tests_on_virtio_are_skipped_naming_the_driver()
    {
        RequireVirtio();
        var (code, _, stderr) = Sh($"{Exe} -f eth0");
        Assert.Equal(1, code);
        Assert.Contains("ncdevmem: [skip] all 4 bind self-tests: check on eth0: driver virtio_net has no queue management API", stderr, StringComparison.Ordinal);
    }
}
