using System.Globalization;
using System.Text.Json;
using Devmem.Diagnostics;
using Devmem.Netlink.Netdev;

namespace Devmem.Netlink.Tests;

// devmem-info doctor against the host kernel, checked against what the kernel itself reports through
// other tools: iproute2's genl (nlctrl op list), the kernel's YNL CLI (netdev queue-get), ethtool -k,
// ip -d link. Nothing here changes the host: the doctor only reads, and its bind-rx probe cannot bind.
[Tier(Tier.HostKernel)]
public sealed class DoctorTests
{
    private static JsonElement DoctorJson(out int exitCode, params string[] extra)
    {
        Tools.Result r = Tools.Run(Tools.DevmemInfo, ["doctor", "--json", .. extra]);
        Assert.True(r.Stderr.Length == 0, r.Stderr);
        exitCode = r.ExitCode;
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }

    private static JsonElement.ArrayEnumerator Checks(JsonElement scope) => scope.GetProperty("checks").EnumerateArray();

    private static JsonElement Check(JsonElement scope, string id) => Checks(scope).Single(c => c.GetProperty("id").GetString() == id);

    [Fact]
    public void Family_ops_are_the_ones_nlctrl_lists()
    {
        JsonElement root = DoctorJson(out _);
        Assert.Equal(DoctorReport.SchemaVersion, root.GetProperty("schema").GetInt32());
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), root.GetProperty("kernel").GetString());

        // iproute2's own nlctrl query: "#n:  ID-0xd" per op.
        Tools.Result genl = Tools.Run("genl", "ctrl", "get", "name", "netdev");
        Assert.Equal(0, genl.ExitCode);
        HashSet<int> ids = genl.Stdout.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('#') && l.Contains("ID-0x", StringComparison.Ordinal))
            .Select(l => Convert.ToInt32(l[(l.IndexOf("ID-0x", StringComparison.Ordinal) + 5)..].Split(' ')[0], 16)).ToHashSet();
        JsonElement ops = root.GetProperty("host").GetProperty("netdev_ops");
        Assert.True(root.GetProperty("host").GetProperty("netdev_family").GetBoolean());
        foreach ((string op, int id) in (ReadOnlySpan<(string, int)>)[("bind-rx", 13), ("napi-set", 14), ("bind-tx", 15), ("queue-create", 16)])
        {
            Assert.Equal(ids.Contains(id), ops.GetProperty(op).GetBoolean());
            Assert.Equal(ids.Contains(id) ? "pass" : op == "bind-rx" ? "fail" : "warn", Check(root.GetProperty("host"), op).GetProperty("status").GetString());
        }

        // rx-page-size came with 7.3 (the dmabuf set's attribute 5 in Documentation/netlink/specs/netdev.yaml);
        // the doctor reads it from the op's policy.
        Version kernel = Devmem.Setup.DevmemDrivers.ParseRelease(root.GetProperty("kernel").GetString()!);
        Assert.Equal(kernel >= new Version(7, 3), root.GetProperty("host").GetProperty("rx_page_size").GetBoolean());
    }

    [Fact]
    public void Host_facts_match_proc_dev_and_sys()
    {
        JsonElement host = DoctorJson(out _).GetProperty("host");
        ulong capEff = ulong.Parse(File.ReadLines("/proc/self/status").Single(l => l.StartsWith("CapEff:", StringComparison.Ordinal))[7..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.Equal((capEff & (1UL << 12)) != 0, host.GetProperty("cap_net_admin").GetBoolean()); // the child inherits ours
        Assert.Equal(File.Exists("/dev/udmabuf"), host.GetProperty("udmabuf").GetProperty("present").GetBoolean());
        string[] heaps = Directory.Exists("/dev/dma_heap") ? Directory.GetFiles("/dev/dma_heap").Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray() : [];
        Assert.Equal(heaps, host.GetProperty("dma_heaps").EnumerateArray().Select(h => h.GetString()!));
        if (!File.Exists("/dev/udmabuf") && heaps.Length == 0 && host.GetProperty("cuda").GetProperty("dmabuf_devices").GetArrayLength() == 0)
        {
            Assert.Equal("fail", Check(host, "udmabuf").GetProperty("status").GetString());
            Assert.False(host.GetProperty("devmem_rx_possible").GetBoolean());
        }
    }

    [Fact]
    public void Queue_counts_and_bindings_match_the_kernels_queue_get_dump()
    {
        JsonElement root = DoctorJson(out int exit);
        using NetdevClient client = NetdevClient.Open();
        IReadOnlyList<NetdevQueueInfo> queues = client.GetQueues();
        JsonElement[] interfaces = root.GetProperty("interfaces").EnumerateArray().ToArray();
        Assert.Equal(HostNetdevTests.SysfsInterfaces().Keys.Order(StringComparer.Ordinal), interfaces.Select(i => i.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
        foreach (JsonElement i in interfaces)
        {
            int ifindex = i.GetProperty("ifindex").GetInt32();
            Assert.Equal(queues.Count(q => q.Ifindex == ifindex && q.Type == NetdevQueueType.Rx), i.GetProperty("rx_queues").GetInt32());
            Assert.Equal(queues.Count(q => q.Ifindex == ifindex && q.Type == NetdevQueueType.Tx), i.GetProperty("tx_queues").GetInt32());
            Assert.Equal(queues.Where(q => q.Ifindex == ifindex && q.Type == NetdevQueueType.Rx && q.DmabufId is not null).Select(q => q.Id),
                i.GetProperty("bound_rx_queues").EnumerateArray().Where(b => b.GetProperty("dmabuf").ValueKind == JsonValueKind.Number).Select(b => b.GetProperty("id").GetUInt32()));
        }

        // The kernel's own YNL CLI is the independent oracle for the counts.
        Assert.SkipWhen(Tools.Ynl.Command is null, Tools.Ynl.Why);
        Tools.Result ynl = Tools.RunYnl("--dump", "queue-get", "--output-json");
        Assert.Equal(0, ynl.ExitCode);
        JsonElement[] dump = JsonDocument.Parse(ynl.Stdout).RootElement.EnumerateArray().ToArray();
        foreach (JsonElement i in interfaces)
        {
            int ifindex = i.GetProperty("ifindex").GetInt32();
            Assert.Equal(dump.Count(q => q.GetProperty("ifindex").GetInt32() == ifindex && q.GetProperty("type").GetString() == "rx"), i.GetProperty("rx_queues").GetInt32());
            Assert.Equal(dump.Count(q => q.GetProperty("ifindex").GetInt32() == ifindex && q.GetProperty("type").GetString() == "tx"), i.GetProperty("tx_queues").GetInt32());
        }

        // No interface of this machine can do devmem RX (none of its drivers, virtio_net and the virtual
        // ones, sets netdev_queue_mgmt_ops: the driver table in docs/doctor.md), so the exit status is 1.
        Assert.False(root.GetProperty("devmem_rx_possible").GetBoolean());
        Assert.Equal(1, exit);
    }

    [Fact]
    public void Zcrx_section_matches_the_sysctls_and_what_each_kernel_version_has()
    {
        JsonElement root = DoctorJson(out _);
        JsonElement z = root.GetProperty("zcrx");
        string Status(string id) => Check(z, id).GetProperty("status").GetString()!;
        string Detail(string id) => Check(z, id).GetProperty("detail").GetString()!;
        string disabled = File.ReadAllText("/proc/sys/kernel/io_uring_disabled").Trim();
        Assert.Equal(disabled, z.GetProperty("io_uring_disabled").GetString());
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/io_uring_group").Trim(), z.GetProperty("io_uring_group").GetString());
        Assert.SkipUnless(disabled == "0",
            $"io_uring is restricted on this host (io_uring_disabled is {disabled}); ZcrxHostTests.Io_uring_disabled_2_is_named_by_the_doctor_and_by_ZcrxInstance_Open covers that answer");

        // io_uring, RECV_ZC (6.15), dma-buf areas (6.16, by version); NODEV only from 7.2, which the kernel
        // itself refuses below that (EINVAL).
        Version kernel = Devmem.Setup.DevmemDrivers.ParseRelease(root.GetProperty("kernel").GetString()!);
        Assert.True(z.GetProperty("io_uring").GetBoolean(), Detail("io-uring"));
        Assert.Equal("pass", Status("io-uring"));
        Assert.Contains("io_uring_disabled is 0", Detail("io-uring"), StringComparison.Ordinal);
        Assert.Equal(kernel >= new Version(6, 15), z.GetProperty("recv_zc").GetBoolean());
        Assert.SkipWhen(kernel < new Version(6, 15), $"kernel {kernel} has no zcrx; the 6.12 guest checks that answer");
        Assert.Equal("pass", Status("recv-zc"));
        Assert.Equal(kernel >= new Version(6, 16), z.GetProperty("dmabuf_areas").GetBoolean());
        Assert.Contains("by kernel version", Detail("zcrx-dmabuf"), StringComparison.Ordinal);
        Assert.Equal(kernel >= new Version(7, 2), z.GetProperty("no_device").GetBoolean());
        if (kernel < new Version(7, 2))
        {
            Assert.Equal("warn", Status("zcrx-nodev"));
            Assert.Contains("EINVAL", Detail("zcrx-nodev"), StringComparison.Ordinal);
            Assert.Contains("needs 7.2", Detail("zcrx-nodev"), StringComparison.Ordinal);
        }

        // No NIC of this machine can take a memory provider: zcrx on a queue is possible nowhere, and each
        // interface's reason is its own first failed devmem check (the queue API first).
        Assert.True(z.GetProperty("zcrx_rx_possible").GetBoolean());
        Assert.False(root.GetProperty("zcrx_rx_possible").GetBoolean());
        foreach (JsonElement i in root.GetProperty("interfaces").EnumerateArray())
        {
            JsonElement c = Assert.Single(i.GetProperty("zcrx_checks").EnumerateArray());
            Assert.False(i.GetProperty("zcrx_rx_possible").GetBoolean());
            Assert.Equal("fail", c.GetProperty("status").GetString());
            JsonElement reason = Checks(i).FirstOrDefault(d => d.GetProperty("status").GetString() == "fail" && d.GetProperty("id").GetString() == "queue-api");
            if (reason.ValueKind == JsonValueKind.Undefined)
            {
                reason = Checks(i).First(d => d.GetProperty("status").GetString() == "fail");
            }

            Assert.EndsWith(reason.GetProperty("detail").GetString()!, c.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Every zcrx check id has its row in docs/doctor.md.
        string doc = File.ReadAllText(Path.Combine(Tools.RepoRoot, "docs/doctor.md"));
        foreach (JsonElement c in Checks(z))
        {
            Assert.Contains($"| `{c.GetProperty("id").GetString()}` |", doc, StringComparison.Ordinal);
        }

        // The text says the same.
        Tools.Result text = Tools.Run(Tools.DevmemInfo, "doctor", "--ifname", "lo");
        Assert.Contains("host: io_uring zcrx\n", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("io_uring zcrx is not possible on lo:\n  lo: io_uring zcrx: not possible, for the same reason as devmem RX: queue management API: ", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Ntuple_and_xdp_match_ethtool_and_ip()
    {
        foreach (JsonElement i in DoctorJson(out _).GetProperty("interfaces").EnumerateArray())
        {
            string name = i.GetProperty("name").GetString()!;
            Tools.Result k = Tools.Run("ethtool", "-k", name);
            string? line = k.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("ntuple-filters:", StringComparison.Ordinal));
            if (k.ExitCode == 0 && line is not null)
            {
                Assert.Equal(line.Contains(": on", StringComparison.Ordinal), i.GetProperty("ntuple").GetProperty("enabled").GetBoolean());
                Assert.Equal(!line.Contains("off [fixed]", StringComparison.Ordinal), i.GetProperty("ntuple").GetProperty("supported").GetBoolean());
            }

            Assert.Equal(IpXdpMode(name, null), i.GetProperty("xdp").GetString());
        }
    }

    // ip -d link's first line carries the attach mode as a flag word (iproute2 ip/iplink_xdp.c
    // xdp_dump): "xdp", "xdpgeneric", "xdpoffload" or "xdpmulti".
    private static string IpXdpMode(string ifname, string? netns)
    {
        Tools.Result ip = netns is null ? Tools.Run("ip", "-d", "link", "show", "dev", ifname) : Tools.Run("ip", "-n", netns, "-d", "link", "show", "dev", ifname);
        Assert.Equal(0, ip.ExitCode);
        string[] words = ip.Stdout.Split('\n')[0].Split(' ');
        return words.Contains("xdpgeneric") ? "generic" : words.Contains("xdpoffload") ? "offload" : words.Contains("xdpmulti") ? "multiple" : words.Contains("xdp") ? "driver" : "none";
    }

    private static readonly string[] Clangs = ["clang", "clang-19", "clang-16", "clang-15", "clang-14"];

    [Fact]
    public void An_attached_xdp_program_is_seen_and_its_fix_works()
    {
        // A minimal XDP program built with the system's clang for the BPF target, attached in generic
        // mode to a veth in a private namespace with ip(8): the real attach, seen through rtnetlink.
        string? clang = Clangs.Select(c => Path.Combine("/usr/bin", c)).FirstOrDefault(File.Exists);
        Assert.SkipWhen(clang is null, "no clang in /usr/bin to build an XDP program (apt-get install clang)");
        string dir = Directory.CreateTempSubdirectory("devmem-xdp").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "pass.c"), """
                #include <linux/bpf.h>
                __attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
                char _license[] __attribute__((section("license"), used)) = "GPL";
                """);
            string multiarch = Tools.Run("gcc", "-print-multiarch").Stdout.Trim();
            Tools.Result cc = Tools.Run(clang!, "-O2", "-target", "bpf", "-I/usr/include/" + multiarch, "-c", Path.Combine(dir, "pass.c"), "-o", Path.Combine(dir, "pass.o"));
            Assert.True(cc.ExitCode == 0, cc.Stderr);

            using var ns = new NetNamespace();
            NetNamespace.Ip("-n", ns.Name, "link", "set", "dev", "va", "xdpgeneric", "obj", Path.Combine(dir, "pass.o"), "sec", "xdp");
            Tools.Result r = Tools.Run("ip", "netns", "exec", ns.Name, Tools.DevmemInfo, "doctor", "--ifname", "va", "--json");
            JsonElement va = Assert.Single(JsonDocument.Parse(r.Stdout).RootElement.GetProperty("interfaces").EnumerateArray());
            Assert.Equal(IpXdpMode("va", ns.Name), va.GetProperty("xdp").GetString());
            Assert.Equal("generic", va.GetProperty("xdp").GetString());
            JsonElement xdp = Check(va, "xdp");
            Assert.Equal("fail", xdp.GetProperty("status").GetString());
            string ipText = Tools.Run("ip", "-n", ns.Name, "-d", "link", "show", "dev", "va").Stdout;
            string progId = ipText[(ipText.IndexOf("prog/xdp id ", StringComparison.Ordinal) + 12)..].Split(' ')[0];
            Assert.Contains($"XDP program {progId} attached (generic)", xdp.GetProperty("detail").GetString(), StringComparison.Ordinal);

            // The fix, as printed, detaches it.
            string fix = xdp.GetProperty("fix").GetString()!;
            Assert.Equal("ip link set dev va xdpgeneric off", fix);
            NetNamespace.Ip(["-n", ns.Name, .. fix.Split(' ')[1..]]);
            r = Tools.Run("ip", "netns", "exec", ns.Name, Tools.DevmemInfo, "doctor", "--ifname", "va", "--json");
            va = Assert.Single(JsonDocument.Parse(r.Stdout).RootElement.GetProperty("interfaces").EnumerateArray());
            Assert.Equal("none", va.GetProperty("xdp").GetString());
            Assert.Equal("pass", Check(va, "xdp").GetProperty("status").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Loopback_is_not_possible_the_probe_says_no_queue_api_and_exit_is_1()
    {
        JsonElement root = DoctorJson(out int exit, "--ifname", "lo");
        Assert.Equal(1, exit);
        Assert.Equal("lo", root.GetProperty("ifname").GetString());
        JsonElement lo = Assert.Single(root.GetProperty("interfaces").EnumerateArray());
        Assert.False(lo.GetProperty("devmem_rx_possible").GetBoolean());
        Assert.Equal("no", lo.GetProperty("queue_api").GetString());
        Assert.Equal(JsonValueKind.Null, lo.GetProperty("driver").ValueKind);
        Assert.False(lo.GetProperty("parent_device").GetBoolean());
        Assert.Equal("fail", Check(lo, "queue-api").GetProperty("status").GetString());
        if (Devmem.Setup.DevmemDrivers.ParseRelease(root.GetProperty("kernel").GetString()!) >= new Version(6, 15))
        {
            // The kernel answered the probe: EOPNOTSUPP on .ifindex, before looking at any dma-buf.
            Assert.Equal("probe", lo.GetProperty("queue_api_source").GetString());
            Assert.Contains("EOPNOTSUPP on .ifindex", Check(lo, "queue-api").GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // The probe left nothing bound.
        using NetdevClient client = NetdevClient.Open();
        Assert.All(client.GetQueues(lo.GetProperty("ifindex").GetInt32()), q => Assert.Null(q.DmabufId));
    }

    [Fact]
    public void Veth_in_a_private_namespace_is_not_possible()
    {
        using var ns = new NetNamespace();
        // ip netns exec remounts /sys for the namespace, so sysfs sees the veth there.
        Tools.Result r = Tools.Run("ip", "netns", "exec", ns.Name, Tools.DevmemInfo, "doctor", "--ifname", "va", "--json");
        Assert.Equal(1, r.ExitCode);
        JsonElement va = Assert.Single(JsonDocument.Parse(r.Stdout).RootElement.GetProperty("interfaces").EnumerateArray());
        Assert.Equal("veth", va.GetProperty("driver").GetString());
        Assert.Equal("ethtool", va.GetProperty("driver_source").GetString());
        Assert.False(va.GetProperty("parent_device").GetBoolean());
        Assert.Equal("no", va.GetProperty("queue_api").GetString());
        Assert.False(va.GetProperty("devmem_rx_possible").GetBoolean());
        Assert.Equal(ns.Ifindex("va"), va.GetProperty("ifindex").GetInt32());

        // The library inside the namespace (a thread that joined it; sysfs is still the host's): the
        // same answer, queue counts as the namespace's netdev family reports them.
        (DoctorReport report, int rx) = ns.Enter(() =>
        {
            using NetdevClient client = NetdevClient.Open();
            return (DevmemDoctor.Examine("va"), client.GetQueues(ns.Ifindex("va")).Count(q => q.Type == NetdevQueueType.Rx));
        });
        DoctorInterfaceReport d = Assert.Single(report.Interfaces);
        Assert.Equal(2, rx); // NetNamespace makes the pair with numrxqueues 2
        Assert.Equal(rx, d.RxQueues);
        Assert.Equal(QueueApiSupport.No, d.QueueApi);
        Assert.False(report.DevmemRxPossible);
        Assert.Contains("va: queue management API: veth", report.Explain(), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_cap_net_admin_the_host_check_fails_and_the_driver_table_answers()
    {
        Assert.SkipUnless(Environment.UserName == "root", "needs root to drop to an unprivileged user with setpriv(1)");
        // setpriv drops to nobody with no capabilities; the kernel then refuses the bind-rx probe (EPERM).
        // nobody runs a copy: the checkout may be where nobody cannot read (under /root).
        using var copy = new Tools.WorldReadableDevmemInfo();
        Tools.Result r = Tools.Run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copy.Executable, "doctor", "--ifname", "lo", "--json");
        Assert.True(r.ExitCode != 133 && !r.Stderr.Contains("Permission denied", StringComparison.Ordinal), $"nobody could not run {copy.Executable}: exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(1, r.ExitCode);
        JsonElement root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.False(root.GetProperty("host").GetProperty("cap_net_admin").GetBoolean());
        Assert.Equal("fail", Check(root.GetProperty("host"), "cap-net-admin").GetProperty("status").GetString());
        JsonElement lo = Assert.Single(root.GetProperty("interfaces").EnumerateArray());
        Assert.Equal("driver-table", lo.GetProperty("queue_api_source").GetString());
        Assert.Equal("no", lo.GetProperty("queue_api").GetString());
        Assert.Contains("EPERM", Check(lo, "queue-api").GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Text_report_marks_each_check_and_ends_with_the_explanation()
    {
        Tools.Result r = Tools.Run(Tools.DevmemInfo, "doctor", "--ifname", "lo");
        Assert.Equal(1, r.ExitCode);
        string[] lines = r.Stdout.TrimEnd().Split('\n');
        Assert.StartsWith("host: Linux ", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("lo (ifindex 1): devmem RX not possible", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  ✗ queue management API", StringComparison.Ordinal));
        Assert.Contains("Zero copy (devmem TCP RX) is not possible on lo:", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("devmem-info", DevmemDoctor.Explain("lo"), StringComparison.Ordinal); // the library's text names no CLI a package user does not have
        // The devmem explanation, then the zcrx one (DoctorReport.ExplainZcrx).
        Assert.Equal(DevmemDoctor.Explain("lo") + "\n" + DevmemDoctor.Examine("lo").ExplainZcrx(), string.Join('\n', lines.SkipWhile(l => !l.StartsWith("Zero copy", StringComparison.Ordinal))));
    }

    [Fact]
    public void Bad_input_is_one_line_without_a_stack_trace()
    {
        Tools.Result unknown = Tools.Run(Tools.DevmemInfo, "doctor", "--ifname", "no-such-if0");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Empty(unknown.Stdout);
        Assert.Equal("devmem-info: no interface named 'no-such-if0' in this network namespace (see 'ip link').", unknown.Stderr.TrimEnd());

        foreach (string[] args in (string[][])[["doctor", "--scope", "queue"], ["doctor", "--ifname"], ["doctor", "extra"]])
        {
            Tools.Result r = Tools.Run(Tools.DevmemInfo, args);
            Assert.Equal(2, r.ExitCode);
            Assert.Single(r.Stderr.TrimEnd().Split('\n'));
            Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        }
    }
}
