using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Devmem.Memory;
using Devmem.Netlink.Netdev;
using Devmem.Setup;
using Devmem.Zcrx;

namespace Devmem.Guest.Tests;

/// <summary>
/// While an io_uring zcrx instance holds a testnic queue in Debian's newest kernel, the netdev family
/// reports the io-uring provider on the queue and on its page pool with the instance's buffer size
/// (io_uring/zcrx.c <c>io_pp_nl_fill</c>: rx-buf-len): our NetdevClient and devmem-info (table and
/// --json) say the same as the kernel's YNL CLI (scripts/ynl.sh, passed by scripts/test.sh as
/// DEVMEM_YNL). The testnic emulates only the NIC's DMA (docs/testnic.md): this proves the kernel path,
/// not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Testnic)]
public sealed class ZcrxNetdevGuestTests
{
    private const string Ifname = "eth0";
    private static readonly IPAddress Server = IPAddress.Parse("10.99.0.1");

    private static string Cli => Path.Combine(Guest.Root, "samples/devmem-info/bin/Release/net10.0/devmem-info");

    /// <summary>The kernel's YNL CLI for netdev (scripts/ynl.sh's output), which scripts/test.sh passes as DEVMEM_YNL.</summary>
    private static string[] Ynl()
    {
        string? command = Environment.GetEnvironmentVariable("DEVMEM_YNL");
        Assert.SkipWhen(string.IsNullOrWhiteSpace(command),
            "the kernel's YNL CLI was not given (DEVMEM_YNL: the command scripts/ynl.sh prints; scripts/test.sh passes it)");
        return command!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    private static string RunYnl(string[] ynl, params string[] args)
    {
        ProcessResult r = ProcessRunner.Run(ynl[0], [.. ynl[1..], .. args], timeout: TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, $"YNL {string.Join(' ', args)}: exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        return r.Stdout;
    }

    private static string RunCli(params string[] args)
    {
        ProcessResult r = ProcessRunner.Run(Cli, args, timeout: TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0 && r.Stderr.Length == 0, $"devmem-info {string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr}");
        return r.Stdout;
    }

    /// <summary>The page pools in use (not detached: a closed instance's pool lingers until its buffers return) that carry an io-uring nest, as a JSON array of {id, ifindex, io-uring} in id order.</summary>
    private static string IoUringPools(string json) =>
        new JsonArray([.. JsonNode.Parse(json)!.AsArray().Where(p => p!["io-uring"] is not null && p["detach-time"] is null).OrderBy(p => (ulong)p!["id"]!)
            .Select(p => new JsonObject { ["id"] = p!["id"]!.DeepClone(), ["ifindex"] = p["ifindex"]?.DeepClone(), ["io-uring"] = p["io-uring"]!.DeepClone() })]).ToJsonString();

    [Theory]
    [InlineData(0u)]
    [InlineData(8192u)]
    public void The_queue_and_its_page_pool_show_the_io_uring_provider_and_rx_buf_len_as_ynl_does(uint rxBufLen)
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"these need the software devmem NIC (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
        Assert.SkipWhen(Guest.Series == "6.12", "6.12 has no io_uring zcrx (6.15), and no rx-buf-len (7.0)");
        string[] ynl = Ynl();
        ulong expected = rxBufLen == 0 ? (ulong)Environment.SystemPageSize : rxBufLen;
        using var hugePages = new HugePageReservation();
        int ifindex = int.Parse(File.ReadAllText($"/sys/class/net/{Ifname}/ifindex").Trim(), CultureInfo.InvariantCulture);
        string ifx = ifindex.ToString(CultureInfo.InvariantCulture);
        DeviceMemory memory;
        if (rxBufLen > (uint)Environment.SystemPageSize)
        {
            // Buffers above a page need an area of huge pages (io_uring/zcrx.c io_zcrx_create_area).
            hugePages.Set(4);
            memory = HostMemory.CreateHugePages(4 << 20);
        }
        else
        {
            memory = HostMemory.Create(4 << 20);
        }

        using (memory)
        {
            var options = new DevmemRxSetupOptions(Ifname)
            {
                Engine = DevmemRxEngine.Zcrx,
                Steering = new DevmemFlowSteering(Server, 5421),
                RxPageSize = rxBufLen == 0 ? null : rxBufLen,
            };
            uint queue;
            using (DevmemRxSetup setup = DevmemRxSetup.Apply(memory, options))
            {
                queue = Assert.Single(setup.Queues);
                ZcrxInstance zcrx = Assert.IsType<ZcrxInstance>(setup.Zcrx);
                Assert.Equal(expected, zcrx.RxBufferLength);

                // Our client.
                using NetdevClient netdev = NetdevClient.Open();
                NetdevQueueInfo q = netdev.GetQueue(ifindex, NetdevQueueType.Rx, queue);
                Assert.True(q.HasIoUring, "queue-get shows no io-uring nest on the zcrx queue");
                Assert.Equal(expected, q.IoUringRxBufferLength);
                Assert.All(netdev.GetQueues(ifindex).Where(o => o.Type == NetdevQueueType.Rx && o.Id != queue), o => Assert.Null(o.IoUringRxBufferLength));
                NetdevPagePool[] pools = [.. netdev.GetPagePools(ifindex).Where(p => p.HasIoUring && p.DetachTime is null)];
                Assert.NotEmpty(pools);
                Assert.All(pools, p => Assert.Equal(expected, p.IoUringRxBufferLength));

                // devmem-info --json against YNL: queue-get for eth0 byte for byte; page pools: the io-uring ones.
                string ynlQueues = RunYnl(ynl, "--dump", "queue-get", "--output-json", "--json", "{\"ifindex\": " + ifx + "}");
                string ourQueues = RunCli("queue", "--json", "--ifname", Ifname);
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-buf-len {expected}: YNL queue-get: {ynlQueues.Trim()}");
                Assert.Equal(ynlQueues.TrimEnd(), ourQueues.TrimEnd());
                JsonNode ours = JsonNode.Parse(ourQueues)!.AsArray().Single(n => (uint)n!["id"]! == queue && (string)n["type"]! == "rx")!;
                Assert.Equal(expected, (ulong)ours["io-uring"]!["rx-buf-len"]!);

                string ynlPools = IoUringPools(RunYnl(ynl, "--dump", "page-pool-get", "--output-json"));
                string ourPools = IoUringPools(RunCli("page-pool", "--json"));
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-buf-len {expected}: YNL page-pool-get, io-uring pools: {ynlPools}");
                Assert.Equal(ynlPools, ourPools);
                Assert.Contains($"\"rx-buf-len\":{expected}", ourPools, StringComparison.Ordinal);

                // The tables: the queue's and each io-uring pool's row carry the buffer size.
                string[] queueRow = RunCli("queue", "--ifname", Ifname).Split('\n')
                    .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(c => c.Length > 3 && c[2] == "rx" && c[3] == queue.ToString(CultureInfo.InvariantCulture));
                Assert.Equal(["yes", expected.ToString(CultureInfo.InvariantCulture)], queueRow[^3..^2].Concat(queueRow[^1..]));
                string[] poolLines = RunCli("page-pool", "--ifname", Ifname).Split('\n');
                Assert.StartsWith("IFNAME", poolLines[0], StringComparison.Ordinal);
                Assert.EndsWith("IO-URING  RX-BUF-LEN", poolLines[0].TrimEnd(), StringComparison.Ordinal);
                foreach (NetdevPagePool p in pools)
                {
                    string[] row = poolLines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                        .Single(c => c.Length > 2 && c[2] == p.Id.ToString(CultureInfo.InvariantCulture));
                    Assert.Equal(["yes", expected.ToString(CultureInfo.InvariantCulture)], row[^2..]);
                }
            }

            // Closed: the queue has no io-uring nest any more, for us and for YNL.
            using NetdevClient after = NetdevClient.Open();
            NetdevQueueInfo closed = after.GetQueue(ifindex, NetdevQueueType.Rx, queue);
            Assert.False(closed.HasIoUring);
            Assert.Null(closed.IoUringRxBufferLength);
            Assert.DoesNotContain("io-uring", RunYnl(ynl, "--dump", "queue-get", "--output-json", "--json", "{\"ifindex\": " + ifx + "}"), StringComparison.Ordinal);
        }
    }
}
