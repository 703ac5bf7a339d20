using System.Diagnostics;
using System.Globalization;
using Devmem.Netlink.Netdev;
using Devmem.Testing;

namespace Devmem.Guest.Tests;

/// <summary>
/// samples/DevmemReceiver on the software devmem NIC (tests/testnic) in Debian's 6.12 and newest kernels:
/// zero copy into a udmabuf, two flows from the peer namespace at once, SIGTERM while both are mid-stream;
/// the flows drain, every byte validates, no token is left outstanding, and the NIC is left exactly as it
/// was. The testnic emulates only the NIC's DMA (docs/testnic.md): this proves the kernel path, not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Testnic)]
public sealed class DevmemReceiverGuestTests
{
    private const string Ifname = "eth0";

    private static void SetMtu(int mtu)
    {
        foreach (string[] args in (string[][])[["link", "set", "eth0", "mtu", $"{mtu}"], ["-n", "peer", "link", "set", "eth1", "mtu", $"{mtu}"]])
        {
            ProcessResult ip = ProcessRunner.Run("ip", args);
            Assert.True(ip.ExitCode == 0, $"ip {string.Join(' ', args)}: {ip.Stderr}");
        }
    }

    [Theory]
    [InlineData("DevmemSockets", 5320)]
    [InlineData("Zcrx", 5321)]
    public async Task Two_zero_copy_flows_SIGTERM_mid_stream_drain_validated_and_leave_the_NIC_as_it_was(string engine, int port)
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"this needs the software devmem NIC (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
        Assert.SkipWhen(engine == "Zcrx" && Guest.Series == "6.12", "6.12 has no io_uring zcrx (6.15; a dma-buf area 6.16)");
        const long Half = 7L << 20; // a whole number of 7-byte periods: the second half continues the pattern
        string go = $"/tmp/devmem-receiver-go-{port}";
        File.Delete(go);
        // Jumbo frames: fewer packets under TCG, as TestnicGuestTests.
        SetMtu(9000);
        try
        {
            string before = DevmemNicState.Capture(Ifname).ToString();
            string log;
            int code;
            using (var receiver = new DevmemReceiverProcess(
                "--Devmem:Interface=eth0", "--Devmem:Address=10.99.0.1", $"--Devmem:Port={port}", "--Devmem:Fallback=Never",
                $"--Devmem:Engine={engine}", "--Devmem:ValidatePeriod=7", "--Devmem:MemorySize=33554432", "--Devmem:DrainTimeout=00:04:00", "--shutdownTimeoutSeconds=300"))
            {
                await receiver.WaitForAsync("DevmemReceiver[1]", seconds: 120);
                Assert.Contains("DevmemReceiver ready: zero copy on eth0", receiver.Log, StringComparison.Ordinal);

                // Each sender: half the stream, then it waits (mid-stream) until the test lets it go on.
                string part = $"yes \"$(printf '\\001\\002\\003\\004\\005\\006')\" | head -c {Half.ToString(CultureInfo.InvariantCulture)}";
                string send = $"{{ {part}; while [ ! -e {go} ]; do sleep 0.1; done; {part}; }} | ip netns exec peer nc -N 10.99.0.1 {port}";
                using Process s1 = Guest.Start("sh", "-c", send);
                using Process s2 = Guest.Start("sh", "-c", send);
                s1.StandardInput.Close();
                s2.StandardInput.Close();
                await receiver.WaitForAsync("receiving (zero copy)", count: 2, seconds: 120);
                if (engine == "Zcrx")
                {
                    using NetdevClient netdev = NetdevClient.Open();
                    int ifindex = int.Parse(File.ReadAllText($"/sys/class/net/{Ifname}/ifindex").Trim(), CultureInfo.InvariantCulture);
                    Assert.Contains(netdev.GetQueues(ifindex), q => q.Type == NetdevQueueType.Rx && q.HasIoUring);
                }
                else
                {
                    Assert.NotEmpty(DevmemNicState.Capture(Ifname).BoundQueues);
                }

                receiver.Signal("TERM");
                await receiver.WaitForAsync("Devmem.Hosting.DevmemReceiver[108]", seconds: 120);
                await File.WriteAllTextAsync(go, "", TestContext.Current.CancellationToken);
                (code, log) = await receiver.ExitAsync(seconds: 300);
                Assert.True(s1.WaitForExit(60_000) && s2.WaitForExit(60_000), "the peer's netcat did not exit");
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] senders exited {s1.ExitCode}, {s2.ExitCode}: {s1.StandardError.ReadToEnd()}{s2.StandardError.ReadToEnd()}");
            }

            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] DevmemReceiver exited {code}:\n{log}");
            Assert.True(code == 0, log);
            Assert.Equal(2, log.Split('\n').Count(l => l.Contains(": validated, 14680064 bytes (14680064 in fragments)", StringComparison.Ordinal)));
            Assert.Equal(2, DevmemReceiverProcess.SummaryValue(log, "validated"));
            Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "failed"));
            Assert.Equal(4 * Half, DevmemReceiverProcess.SummaryValue(log, "dmabuf"));
            Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "copied"));
            Assert.Equal(0, DevmemReceiverProcess.SummaryValue(log, "tokens outstanding"));
            // Devmem sockets give tokens back with SO_DEVMEM_DONTNEED; zcrx through the refill ring, without a call.
            Assert.True(engine == "Zcrx" ? DevmemReceiverProcess.SummaryValue(log, "release calls") == 0 : DevmemReceiverProcess.SummaryValue(log, "release calls") > 0, log);
            Assert.Contains("health while running Healthy", log, StringComparison.Ordinal);
            Assert.Contains("DevmemReceiver[6] Health Healthy: devmem Healthy: Receiving by zero copy on eth0", log, StringComparison.Ordinal);
            Assert.Contains("Devmem.Hosting.DevmemReceiver[109]", log, StringComparison.Ordinal);
            Assert.Equal(before, DevmemNicState.Capture(Ifname).ToString());
        }
        finally
        {
            File.Delete(go);
            SetMtu(1500);
        }
    }
}
