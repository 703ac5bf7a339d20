using System.Globalization;
using System.Text.Json;
using Devmem.Diagnostics;
using Devmem.Memory;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;

namespace Devmem.Guest.Tests;

/// <summary>
/// devmem-info doctor in Debian's 6.12 and newest kernels: on virtio eth0 it says devmem RX is not
/// possible and names the driver and the queue API; on the software devmem NIC (testnic) it says
/// possible once header split is on, and not before. The kernel log is checked by the harness, so a
/// probe that provoked a WARN would fail the run. The testnic proves the kernel path, not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Virtio, Nic.Testnic)]
public sealed class DoctorGuestTests
{
    private const string Ifname = "eth0";

    private static string Cli => Path.Combine(Guest.Root, "samples/devmem-info/bin/Release/net10.0/devmem-info");

    private static (int Exit, JsonElement Root, string Text) Doctor()
    {
        ProcessResult p = ProcessRunner.Run(Cli, ["doctor", "--ifname", Ifname, "--json"], timeout: TimeSpan.FromMinutes(2));
        string json = p.Stdout;
        Assert.True(p.Stderr.Length == 0, p.Stderr);
        TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] devmem-info doctor --ifname {Ifname}: exit {p.ExitCode}\n{DevmemDoctor.Explain(Ifname)}");
        return (p.ExitCode, JsonDocument.Parse(json).RootElement.Clone(), json);
    }

    private static JsonElement Check(JsonElement scope, string id) =>
        scope.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);

    private static void AgreesWithTheKernel(JsonElement root, JsonElement eth0)
    {
        int ifindex = int.Parse(File.ReadAllText($"/sys/class/net/{Ifname}/ifindex").Trim(), CultureInfo.InvariantCulture);
        Assert.Equal(ifindex, eth0.GetProperty("ifindex").GetInt32());
        using NetdevClient netdev = NetdevClient.Open();
        IReadOnlyList<NetdevQueueInfo> queues = netdev.GetQueues(ifindex);
        Assert.Equal(queues.Count(q => q.Type == NetdevQueueType.Rx), eth0.GetProperty("rx_queues").GetInt32());
        Assert.Equal(queues.Count(q => q.Type == NetdevQueueType.Tx), eth0.GetProperty("tx_queues").GetInt32());
        Assert.Equal(netdev.Supports("bind-tx"), root.GetProperty("host").GetProperty("netdev_ops").GetProperty("bind-tx").GetBoolean());

        // The guests have udmabuf: present, with the module parameter's limit.
        JsonElement udmabuf = root.GetProperty("host").GetProperty("udmabuf");
        Assert.True(udmabuf.GetProperty("present").GetBoolean());
        Assert.Equal(UdmabufMemory.ReadSizeLimit(), udmabuf.GetProperty("size_limit_bytes").GetInt64());
        Assert.Equal("pass", Check(root.GetProperty("host"), "udmabuf").GetProperty("status").GetString());
        Assert.Equal(Guest.Series == "6.12" ? "driver-table" : "probe", eth0.GetProperty("queue_api_source").GetString()!.Split('+')[0]);
    }

    [Fact]
    public void Virtio_eth0_is_not_possible_and_the_reason_names_the_driver_and_queue_api()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic is null or "virtio", $"this one is for the virtio NIC; the harness booted --nic {Guest.Nic}");
        (int exit, JsonElement root, _) = Doctor();
        Assert.Equal(1, exit);
        Assert.False(root.GetProperty("devmem_rx_possible").GetBoolean());
        JsonElement eth0 = Assert.Single(root.GetProperty("interfaces").EnumerateArray());
        Assert.Equal("virtio_net", eth0.GetProperty("driver").GetString());
        Assert.Equal("sysfs", eth0.GetProperty("driver_source").GetString());
        Assert.Equal("no", eth0.GetProperty("queue_api").GetString());
        JsonElement api = Check(eth0, "queue-api");
        Assert.Equal("fail", api.GetProperty("status").GetString());
        string detail = api.GetProperty("detail").GetString()!;
        Assert.Contains("virtio_net", detail, StringComparison.Ordinal);
        if (Guest.Series == "6.12")
        {
            // 6.12 looks at the fd before the device's queue API: only the driver table can answer.
            Assert.Contains("known from driver table", detail, StringComparison.Ordinal);
            Assert.Contains("EBADF", detail, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("EOPNOTSUPP on .ifindex", detail, StringComparison.Ordinal);
        }

        AgreesWithTheKernel(root, eth0);
        string explanation = DevmemDoctor.Explain(Ifname);
        string line = explanation.Split('\n').Single(l => l.StartsWith("  eth0: ", StringComparison.Ordinal));
        Assert.StartsWith("  eth0: queue management API: ", line, StringComparison.Ordinal);
        Assert.Contains("virtio_net", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Testnic_is_possible_once_header_split_is_on_and_not_before()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"these need the software devmem NIC (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Disabled));
            (int exitOff, JsonElement off, _) = Doctor();
            Assert.Equal(1, exitOff);
            JsonElement eth0Off = Assert.Single(off.GetProperty("interfaces").EnumerateArray());
            Assert.Equal("disabled", eth0Off.GetProperty("tcp_data_split").GetString());
            Assert.Equal("fail", Check(eth0Off, "header-split").GetProperty("status").GetString());
            Assert.Equal($"ethtool -G {Ifname} tcp-data-split on", Check(eth0Off, "header-split").GetProperty("fix").GetString());

            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled, HdsThresh: before.HdsThresh is null ? null : 0));
            (int exitOn, JsonElement on, _) = Doctor();
            JsonElement eth0 = Assert.Single(on.GetProperty("interfaces").EnumerateArray());
            string failed = string.Join("; ", eth0.GetProperty("checks").EnumerateArray().Concat(on.GetProperty("host").GetProperty("checks").EnumerateArray())
                .Where(c => c.GetProperty("status").GetString() == "fail").Select(c => c.GetProperty("id").GetString() + ": " + c.GetProperty("detail").GetString()));
            Assert.True(exitOn == 0, $"doctor exit {exitOn}; failed checks: {failed}");
            Assert.True(on.GetProperty("devmem_rx_possible").GetBoolean());

            // zcrx on the NIC: the same device conditions; possible where the kernel has zcrx (6.15+).
            bool zcrx = Guest.Series != "6.12";
            Assert.Equal(zcrx, on.GetProperty("zcrx_rx_possible").GetBoolean());
            Assert.Equal(zcrx, eth0.GetProperty("zcrx_rx_possible").GetBoolean());
            Assert.Equal("pass", Assert.Single(eth0.GetProperty("zcrx_checks").EnumerateArray()).GetProperty("status").GetString());
            JsonElement zcrxOff = Assert.Single(Assert.Single(off.GetProperty("interfaces").EnumerateArray()).GetProperty("zcrx_checks").EnumerateArray());
            Assert.Equal("fail", zcrxOff.GetProperty("status").GetString());
            Assert.Contains("header split", zcrxOff.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal($"ethtool -G {Ifname} tcp-data-split on", zcrxOff.GetProperty("fix").GetString());
            Assert.Equal("testnic", eth0.GetProperty("driver").GetString());
            Assert.Equal("yes", eth0.GetProperty("queue_api").GetString());
            Assert.Equal("enabled", eth0.GetProperty("tcp_data_split").GetString());
            Assert.Contains("not hardware", Check(eth0, "queue-api").GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Empty(eth0.GetProperty("bound_rx_queues").EnumerateArray());

            // ethtool(8) as the oracle for ntuple: testnic has it on from load (tests/testnic/testnic.c).
            using var k = Guest.Start("ethtool", "-k", Ifname);
            string features = k.StandardOutput.ReadToEnd();
            k.WaitForExit();
            Assert.Contains("ntuple-filters: on", features, StringComparison.Ordinal);
            Assert.True(eth0.GetProperty("ntuple").GetProperty("supported").GetBoolean());
            Assert.True(eth0.GetProperty("ntuple").GetProperty("enabled").GetBoolean());
            AgreesWithTheKernel(on, eth0);
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }

        Assert.Equal(before.TcpDataSplit, ethtool.GetRings(Ifname).TcpDataSplit);
    }

    [Fact]
    public void Zcrx_checks_say_what_this_kernel_has()
    {
        Guest.Require();
        (_, JsonElement root, _) = Doctor();
        JsonElement z = root.GetProperty("zcrx");
        string Status(string id) => Check(z, id).GetProperty("status").GetString()!;
        string Detail(string id) => Check(z, id).GetProperty("detail").GetString()!;

        // The sysctls as the kernel has them; both kernels have io_uring enabled (0).
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/io_uring_disabled").Trim(), z.GetProperty("io_uring_disabled").GetString());
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/io_uring_group").Trim(), z.GetProperty("io_uring_group").GetString());
        Assert.True(z.GetProperty("io_uring").GetBoolean(), Detail("io-uring"));
        Assert.Equal("pass", Status("io-uring"));
        Assert.Equal("pass", Status("cap-net-admin"));
        if (Guest.Series == "6.12")
        {
            // io_uring without RECV_ZC: the probe says no, and nothing else can be asked.
            Assert.False(z.GetProperty("recv_zc").GetBoolean());
            Assert.Equal("fail", Status("recv-zc"));
            Assert.Contains("needs 6.15", Detail("recv-zc"), StringComparison.Ordinal);
            Assert.Equal(JsonValueKind.Null, z.GetProperty("dmabuf_areas").ValueKind);
            Assert.Equal(JsonValueKind.Null, z.GetProperty("no_device").ValueKind);
            Assert.Equal("n/a", Status("zcrx-nodev"));
            Assert.False(z.GetProperty("zcrx_rx_possible").GetBoolean());
            Assert.False(root.GetProperty("zcrx_rx_possible").GetBoolean());
            Assert.Contains("io_uring zcrx is not possible on eth0:\n  host: io_uring RECV_ZC: ", DoctorText(), StringComparison.Ordinal);
            return;
        }

        // The newest kernel (7.3): RECV_ZC, dma-buf areas (6.16) and NODEV (7.2), which the kernel registered.
        Assert.True(z.GetProperty("recv_zc").GetBoolean());
        Assert.True(z.GetProperty("dmabuf_areas").GetBoolean());
        Assert.True(z.GetProperty("no_device").GetBoolean(), Detail("zcrx-nodev"));
        foreach (string id in (string[])["recv-zc", "zcrx-dmabuf", "zcrx-nodev"])
        {
            Assert.True(Status(id) == "pass", $"{id}: {Detail(id)}");
        }

        Assert.True(z.GetProperty("zcrx_rx_possible").GetBoolean());
        Assert.Contains("without a NIC (ZCRX_REG_NODEV, a copy) works", DoctorText(), StringComparison.Ordinal);
    }

    private static string DoctorText()
    {
        ProcessResult p = ProcessRunner.Run(Cli, ["doctor", "--ifname", Ifname], timeout: TimeSpan.FromMinutes(2));
        Assert.True(p.Stderr.Length == 0, p.Stderr);
        return p.Stdout;
    }
}
