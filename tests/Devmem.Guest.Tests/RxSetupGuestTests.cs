using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Testing;
using Devmem.Validation;

namespace Devmem.Guest.Tests;

/// <summary>
/// DevmemRxSetup on the guests' virtio NIC (Debian's 6.12 and newest kernels): the full setup is
/// refused at the check step, naming the driver, with the NIC's whole state unchanged; the copy
/// fallback receives a stream from the peer namespace into a real udmabuf, validated.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Virtio)]
public sealed class RxSetupGuestTests
{
    private static void RequireVirtio()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "virtio", $"these need the virtio NIC; the harness booted --nic {Guest.Nic}");
    }

    [Fact]
    public void Full_setup_on_virtio_is_refused_at_the_check_step_and_the_NIC_is_unchanged()
    {
        RequireVirtio();
        using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "setup-virtio");
        DevmemNicState before = DevmemNicState.Capture("eth0");
        var options = new DevmemRxSetupOptions("eth0") { Steering = new DevmemFlowSteering(IPAddress.Parse("10.99.0.1"), 5201, IPAddress.Parse("10.99.0.2"), 5201) };
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(udmabuf, options));
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] {e.Message}");
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Equal("eth0", e.InterfaceName);
        // virtio_net has no queue management API in 6.12 or 7.x (drivers/net/virtio_net.c sets no
        // queue_mgmt_ops); on 6.12 asking the kernel would WARN (the dma-buf is attached first), so the
        // setup must not ask.
        Assert.Contains("driver virtio_net has no queue management API: devmem RX is not possible on this NIC", e.Message, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture("eth0").ToString());
        Assert.Empty(before.BoundQueues);
    }

    [Fact]
    public void Copy_fallback_receives_64MiB_from_the_peer_into_a_udmabuf_validated()
    {
        RequireVirtio();
        using UdmabufMemory udmabuf = UdmabufMemory.Create(8 << 20, "setup-copy");
        DevmemNicState before = DevmemNicState.Capture("eth0");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(udmabuf, new DevmemRxSetupOptions("eth0") { Fallback = DevmemFallback.Copy });
        Assert.False(setup.IsZeroCopy);
        Assert.Contains("virtio_net", setup.FallbackReason, StringComparison.Ordinal);
        RxRun run = RxRun.Receive(setup, 64L << 20, IPAddress.Parse("10.99.0.1"));
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] copy fallback: {run}");
        Assert.Equal(64L << 20, run.Validated);
        Assert.Equal(0, run.Errors);
        Assert.Equal(0L, run.OutstandingAfter);
        Assert.Equal(before.ToString(), DevmemNicState.Capture("eth0").ToString());
    }
}

/// <summary>
/// One receive run for the guest tests: listens on ADDRESS, has the peer namespace's netcat send the
/// ncdevmem pattern (period 7: bytes 1..6 and '\n', as `yes $(printf '\x01..\x06')`), receives through
/// the setup's DevmemSocket and validates each fragment in the memory's CPU mapping. Fragments are
/// counted against the binding's buffer size (its rx-page-size; a page by default): each lies in one
/// net_iov, so none may cross a multiple of it.
/// </summary>
internal sealed record RxRun(long Validated, long Errors, long Fragments, long DmabufBytes, long LinearBytes, long UnsteeredBytes,
    long ReleaseCalls, long TokensFreed, long ReleaseShortfall, long OutstandingAfter, bool ZeroCopy, double Seconds,
    long LargestFragment, long FragmentsAcrossBuffers)
{
    public static RxRun Receive(DevmemRxSetup setup, long total, IPAddress address, int port = 0, long bufferSize = 4096)
    {
        using var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(address, port));
        listener.Listen(1);
        int bound = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using Process sender = Guest.Start("sh", "-c",
            $"yes \"$(printf '\\001\\002\\003\\004\\005\\006')\" | head -c {total.ToString(CultureInfo.InvariantCulture)} | ip netns exec peer nc -N {address} {bound.ToString(CultureInfo.InvariantCulture)}");
        var clock = Stopwatch.StartNew();
        // Accept only once a connection is there, and fail at once (with its words) when the sender died
        // first: a missing nc on a fresh machine blocked this Accept until the harness's 900 s timeout.
        while (!listener.Poll(100_000, SelectMode.SelectRead))
        {
            if (sender.HasExited)
            {
                Assert.Fail($"the peer's sender exited {sender.ExitCode} before connecting: {sender.StandardError.ReadToEnd().Trim()}");
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), "the peer's sender did not connect within 120 s");
        }

        Socket conn = listener.Accept();
        var pattern = new NcdevmemPattern(7);
        long outstanding, calls, freed, shortfall, largest = 0, across = 0;
        DevmemStreamResult result;
        using (DevmemSocket rx = setup.Wrap(conn))
        {
            // The library's receive-validate-release loop, as the ncdevmem server runs it. Linear or
            // unsteered bytes are an error here: the setup's header split (hds-thresh 0) and flow rule
            // must make every payload byte a fragment of this binding.
            result = new DevmemStreamReceiver(rx, setup.Memory, new DevmemStreamOptions
            {
                Validation = pattern,
                ExpectedBindingId = setup.IsZeroCopy ? setup.BindingId : null,
                StopOnLinear = true,
                Segments = 128,
                OnSegment = (in DevmemSegment s, ReadOnlySpan<byte> _) =>
                {
                    // Each fragment lies in one net_iov of the binding's buffer size.
                    DevmemFragment f = s.Fragment;
                    largest = Math.Max(largest, f.Length);
                    if (f.Length > 0 && (long)f.Offset / bufferSize != ((long)f.Offset + f.Length - 1) / bufferSize)
                    {
                        across++;
                    }

                    return true;
                },
            }).Run();
            outstanding = rx.OutstandingTokens;
            calls = rx.ReleaseCalls;
            freed = rx.TokensFreed;
            shortfall = rx.ReleaseShortfall;
        }

        Assert.True(result.End == DevmemStreamEnd.EndOfStream, $"the receive loop stopped: {result.End}: {result.Detail}");
        long frags = result.Fragments, dmabuf = result.DmabufBytes, lin = result.LinearBytes, unsteered = result.UnsteeredBytes;

        double seconds = clock.Elapsed.TotalSeconds;
        // netcat -N shuts its side down at the end of its input and waits for ours.
        conn.Dispose();
        Assert.True(sender.WaitForExit(60_000), "the peer's netcat did not exit");
        Assert.True(sender.ExitCode == 0, $"the peer's netcat: exit {sender.ExitCode}: {sender.StandardError.ReadToEnd()}");
        return new RxRun(pattern.Bytes, pattern.Errors, frags, dmabuf, lin, unsteered, calls, freed, shortfall, outstanding, setup.IsZeroCopy, seconds, largest, across);
    }
}
