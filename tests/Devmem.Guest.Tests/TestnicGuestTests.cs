using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Testing;
using Devmem.Validation;

namespace Devmem.Guest.Tests;

/// <summary>
/// Our own netlink client against the software devmem NIC (tests/testnic, scripts/vm/run.sh --nic
/// testnic) in Debian's 6.12 and newest kernels: bind-rx through the library binds a queue, disposing
/// the binding unbinds, and header split off is refused in each kernel's way. The testnic emulates only
/// the NIC's DMA (docs/testnic.md); this proves the kernel path, not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Testnic)]
public sealed class TestnicGuestTests
{
    private const string Ifname = "eth0";

    private static int Eth0 => int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture);

    private static void RequireTestnic()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"these need the software devmem NIC (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
    }

    private static uint LastRxQueue(NetdevClient netdev) =>
        netdev.GetQueues(Eth0).Where(q => q.Type == NetdevQueueType.Rx).Max(q => q.Id);

    private static uint? BoundTo(NetdevClient netdev, uint queue) => netdev.GetQueue(Eth0, NetdevQueueType.Rx, queue).DmabufId;

    [Fact]
    public void Bind_rx_through_our_client_binds_the_queue_and_dispose_unbinds()
    {
        RequireTestnic();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled, HdsThresh: before.HdsThresh is null ? null : 0));
            using NetdevClient netdev = NetdevClient.Open();
            using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "testnic-bind");
            uint queue = LastRxQueue(netdev);
            DmabufBinding binding = netdev.BindRx(Eth0, udmabuf.DmabufHandle, [queue]);
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] bind-rx eth0 queue {queue}: binding id {binding.Id}");
            Assert.True(binding.Id > 0);
            Assert.Equal(binding.Id, BoundTo(netdev, queue));

            // The kernel unbinds when the binding's own netlink socket closes (netdev_nl_sock_priv_destroy).
            binding.Dispose();
            Assert.True(binding.IsDisposed);
            Assert.Null(BoundTo(netdev, queue));
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }

        Assert.Equal(before.TcpDataSplit, ethtool.GetRings(Ifname).TcpDataSplit);
    }

    [Fact]
    public void Header_split_off_is_refused_in_each_kernels_way()
    {
        RequireTestnic();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Disabled));
            using NetdevClient netdev = NetdevClient.Open();
            using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "testnic-nosplit");
            uint queue = LastRxQueue(netdev);
            NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, udmabuf.DmabufHandle, [queue]));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] bind-rx with header split off: {e.Message}");
            if (Guest.Series == "6.12")
            {
                // 6.12 checks nothing at bind time: the new page pool does not take the provider, ENODATA
                // with no text; the library's hint names the cause.
                Assert.Equal(Errno.ENODATA, e.Errno);
                Assert.Contains("tcp-data-split", e.Hint, StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal(Errno.EINVAL, e.Errno);
                Assert.Equal("tcp-data-split is disabled", e.KernelMessage);
            }

            Assert.Null(BoundTo(netdev, queue));
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }
    }

    [Fact]
    public void Rx_page_size_above_the_page_size_needs_huge_page_memory_which_says_when_none_are_reserved_and_binds_from_it()
    {
        RequireTestnic();
        Assert.SkipWhen(Guest.Series == "6.12", "rx-page-size is a bind-rx attribute since 7.3; 6.12 has none");
        const long rxPageSize = 16384;
        using var hugePages = new HugePageReservation();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            // No huge pages reserved: said before any call, with the fix.
            hugePages.Set(0);
            DmabufException none = Assert.Throws<DmabufException>(() => UdmabufMemory.CreateAligned(4 << 20, rxPageSize, "testnic-huge"));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] no huge pages: {none.Message}");
            Assert.Contains("no huge pages are reserved", none.Message, StringComparison.Ordinal);
            Assert.Contains("nr_hugepages", none.Message, StringComparison.Ordinal);

            hugePages.Set(4);
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled, HdsThresh: before.HdsThresh is null ? null : 0));
            using NetdevClient netdev = NetdevClient.Open();
            uint queue = LastRxQueue(netdev);

            // Ordinary pages (what ncdevmem -b 16384 used before): net/core/devmem.c refuses the 4 KiB
            // entries, in a formatted message it cuts at 80 bytes.
            using (UdmabufMemory pages = UdmabufMemory.Create(4 << 20, "testnic-pages"))
            {
                NetlinkException e = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, pages.DmabufHandle, [queue], (uint)rxPageSize));
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-page-size 16384, 4 KiB pages: {e.Message}");
                Assert.Equal(Errno.EINVAL, e.Errno);
                Assert.StartsWith("dmabuf sg entry", e.KernelMessage, StringComparison.Ordinal);
                Assert.True(e.KernelMessageMayBeTruncated);
                Assert.Contains("cut short", e.Message, StringComparison.Ordinal);
            }

            // From 2 MiB huge pages every entry is aligned: the kernel goes on to the queue, whose driver
            // (testnic, QCFG_RX_PAGE_SIZE) restarts it on a page pool of 16 KiB buffers.
            using UdmabufMemory huge = UdmabufMemory.CreateAligned(3 << 20, rxPageSize, "testnic-huge");
            Assert.Equal(4L << 20, huge.Size);
            using (DmabufBinding binding = netdev.BindRx(Eth0, huge.DmabufHandle, [queue], (uint)rxPageSize))
            {
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-page-size 16384, 2 MiB pages: binding {binding.Id}");
                Assert.Equal(binding.Id, BoundTo(netdev, queue));
            }

            Assert.Null(BoundTo(netdev, queue));
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }
    }

    [Fact]
    public void An_rx_page_size_the_testnic_cannot_take_is_refused_by_bind_rx_or_by_the_driver()
    {
        RequireTestnic();
        Assert.SkipWhen(Guest.Series == "6.12", "rx-page-size is a bind-rx attribute since 7.3; 6.12 has none");
        using var hugePages = new HugePageReservation();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings before = ethtool.GetRings(Ifname);
        try
        {
            hugePages.Set(4);
            ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled, HdsThresh: before.HdsThresh is null ? null : 0));
            using NetdevClient netdev = NetdevClient.Open();
            uint queue = LastRxQueue(netdev);
            // Aligned to 128 KiB (2 MiB huge pages), so that only the size itself can be refused.
            using UdmabufMemory huge = UdmabufMemory.CreateAligned(4 << 20, 128 << 10, "testnic-range");

            // Not a power of 2: bind-rx itself (netdev_nl_bind_rx_doit, net/core/netdev-genl.c).
            NetlinkException odd = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, huge.DmabufHandle, [queue], 12288));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-page-size 12288: {odd.Message}");
            Assert.Equal(Errno.EINVAL, odd.Errno);
            Assert.Equal("rx-page-size must be a power of 2", odd.KernelMessage);
            Assert.Equal(".rx-page-size", odd.BadAttribute);

            // Below a page: the op's policy (min PAGE_SIZE, net/core/netdev-genl-gen.c), before the handler.
            NetlinkException small = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, huge.DmabufHandle, [queue], 2048));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-page-size 2048: {small.Message}");
            Assert.Equal(Errno.ERANGE, small.Errno);
            Assert.Equal("integer out of range", small.KernelMessage);
            Assert.Equal(".rx-page-size", small.BadAttribute);

            // A power of 2 above what the NIC takes: the driver's ndo_validate_qcfg (testnic: 64 KiB at most;
            // bnxt_validate_qcfg gives the same ERANGE above 32 KiB, without a message).
            NetlinkException large = Assert.Throws<NetlinkException>(() => netdev.BindRx(Eth0, huge.DmabufHandle, [queue], 128 << 10));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-page-size 131072: {large.Message}");
            Assert.Equal(Errno.ERANGE, large.Errno);
            Assert.Equal("testnic: rx-page-size must be a power of 2 from 4096 to 65536", large.KernelMessage);
            Assert.Null(BoundTo(netdev, queue));
        }
        finally
        {
            ethtool.RestoreRings(Ifname, before);
        }
    }


    [Fact]
    public void The_setup_makes_huge_page_memory_for_rx_page_size_16K_and_receives_64MiB_validated_in_16K_buffers()
    {
        RequireTestnic();
        Assert.SkipWhen(Guest.Series == "6.12", "rx-page-size is a bind-rx attribute since 7.3; 6.12 has none");
        const uint RxPageSize = 16384;
        const long Total = 64L << 20;
        const long Memory = 32L << 20;
        const ushort Port = 5303;
        using var hugePages = new HugePageReservation();
        // Jumbo frames: a segment's payload (8948 bytes) fits one 16 KiB buffer and not one page, so the
        // fragments show which size the NIC's buffers have.
        SetMtu(9000);
        try
        {
            hugePages.Set(32);
            DevmemNicState before = DevmemNicState.Capture(Ifname);
            long free = HugePageReservation.Free();
            var options = new DevmemRxSetupOptions(Ifname)
            {
                RxPageSize = RxPageSize,
                Steering = new DevmemFlowSteering(IPAddress.Parse("10.99.0.1"), Port, IPAddress.Parse("10.99.0.2")),
            };
            RxRun run;
            using (DevmemRxSetup setup = DevmemRxSetup.Apply(Memory, options))
            {
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] setup with rx-page-size 16384: {string.Join("; ", setup.Changes)}");
                Assert.True(setup.IsZeroCopy);
                // With 4 KiB pages the kernel would refuse the dma-buf's entries ("not aligned to niov size"):
                // the setup made its udmabuf from 2 MiB huge pages.
                Assert.Equal(MemoryProviderKind.Udmabuf, setup.Memory.Kind);
                Assert.Equal(Memory / UdmabufMemory.HugePageSize, free - HugePageReservation.Free());
                run = RxRun.Receive(setup, Total, IPAddress.Parse("10.99.0.1"), Port, RxPageSize);
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] rx-page-size 16384: {run}");
            }

            Assert.True(run.ZeroCopy);
            Assert.Equal(Total, run.Validated);
            Assert.Equal(0, run.Errors);
            Assert.Equal(Total, run.DmabufBytes);
            Assert.Equal(0L, run.OutstandingAfter);
            Assert.Equal(run.Fragments, run.TokensFreed);
            // Each fragment lies in one 16 KiB niov, and fragments larger than a page arrive whole.
            Assert.Equal(0L, run.FragmentsAcrossBuffers);
            Assert.InRange(run.LargestFragment, 4097, RxPageSize);
            Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
        }
        finally
        {
            SetMtu(1500);
        }
    }

    [Fact]
    public async Task Ncdevmem_bind_self_tests_send_b_as_rx_page_size_which_the_testnic_takes_up_to_64K()
    {
        RequireTestnic();
        Assert.SkipWhen(Guest.Series == "6.12", "rx-page-size is a bind-rx attribute since 7.3; 6.12 has none");
        // The kernel's devmem.py probes `ncdevmem -f IF -b 16384` and skips check_rx_large_niov when it fails;
        // the kernel's tool sends the rx-page-size with each bind (tools/testing/selftests/drivers/net/hw/ncdevmem.c).
        using var hugePages = new HugePageReservation();
        hugePages.Set(64);
        (int exit, string stderr) = await SelfTests("16384");
        Assert.Equal(0, exit);
        Assert.Contains("[pass] bind-rx with header split on succeeds", stderr, StringComparison.Ordinal);
        Assert.Contains("bind self-tests passed", stderr, StringComparison.Ordinal);

        (exit, stderr) = await SelfTests("131072");
        Assert.Equal(255, exit);
        Assert.Contains("[FAIL] bind-rx with header split on succeeds", stderr, StringComparison.Ordinal);
        Assert.Contains("testnic: rx-page-size must be a power of 2 from 4096 to 65536", stderr, StringComparison.Ordinal);
        Assert.Contains("bind self-tests FAILED", stderr, StringComparison.Ordinal);

        static async Task<(int Exit, string Stderr)> SelfTests(string rxPageSize)
        {
            string exe = Path.Combine(Guest.Root, "samples", "ncdevmem", "bin", "Release", "net10.0", "ncdevmem");
            using Process p = Guest.Start(exe, "-f", Ifname, "-b", rxPageSize);
            p.StandardInput.Close();
            CancellationToken ct = TestContext.Current.CancellationToken;
            Task<string> stderrTask = p.StandardError.ReadToEndAsync(ct);
            string stdout = await p.StandardOutput.ReadToEndAsync(ct);
            string stderr = await stderrTask;
            await p.WaitForExitAsync(ct);
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] ncdevmem -f eth0 -b {rxPageSize}: exit {p.ExitCode}\n{stderr}{stdout}");
            return (p.ExitCode, stderr);
        }
    }

    private static void SetMtu(int mtu)
    {
        foreach (string[] args in (string[][])[["link", "set", "eth0", "mtu", $"{mtu}"], ["-n", "peer", "link", "set", "eth1", "mtu", $"{mtu}"]])
        {
            ProcessResult ip = ProcessRunner.Run("ip", args);
            Assert.True(ip.ExitCode == 0, $"ip {string.Join(' ', args)}: {ip.Stderr}");
        }
    }

    [Fact]
    public void Full_setup_receives_256MiB_zero_copy_validated_returns_every_token_then_unbinds_and_restores_the_NIC()
    {
        RequireTestnic();
        const long Total = 256L << 20;
        const ushort Port = 5301;
        // Jumbo frames: six times fewer packets, which is what makes 256 MiB affordable under TCG.
        SetMtu(9000);
        try
        {
            DevmemNicState before = DevmemNicState.Capture(Ifname);
            using NetdevClient netdev = NetdevClient.Open();
            using UdmabufMemory udmabuf = UdmabufMemory.Create(32 << 20, "setup-testnic");
            var options = new DevmemRxSetupOptions(Ifname) { Steering = new DevmemFlowSteering(IPAddress.Parse("10.99.0.1"), Port, IPAddress.Parse("10.99.0.2")) };
            RxRun run;
            uint[] queues;
            using (DevmemRxSetup setup = DevmemRxSetup.Apply(udmabuf, options))
            {
                queues = [.. setup.Queues];
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] setup: {string.Join("; ", setup.Changes)}");
                Assert.True(setup.IsZeroCopy);
                Assert.Equal("testnic", setup.Driver);
                Assert.Equal([LastRxQueue(netdev)], queues); // ncdevmem's default: the last RX queue
                Assert.All(queues, q => Assert.Equal(setup.BindingId, BoundTo(netdev, q)));
                DevmemNicState during = DevmemNicState.Capture(Ifname);
                Assert.Equal(EthtoolTcpDataSplit.Enabled, during.Rings!.TcpDataSplit);
                Assert.All(during.RssIndirection, q => Assert.True(q < queues[0], $"RSS still sends to queue {q}"));
                EthtoolFlowRule rule = Assert.Single(during.FlowRules, r => r.Location == setup.FlowRuleLocation);
                Assert.Equal((ulong)queues[0], rule.Queue);
                Assert.Equal(Port, rule.DestinationPort);

                run = RxRun.Receive(setup, Total, IPAddress.Parse("10.99.0.1"), Port);
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] zero copy: {run}");
            }

            Assert.True(run.ZeroCopy);
            Assert.Equal(Total, run.Validated);
            Assert.Equal(0, run.Errors);
            Assert.Equal(Total, run.DmabufBytes);
            // Every token handed out came back, by the kernel's own count (SO_DEVMEM_DONTNEED returns it).
            Assert.Equal(0L, run.OutstandingAfter);
            Assert.Equal(run.Fragments, run.TokensFreed);
            Assert.Equal(0L, run.ReleaseShortfall);
            // A page per buffer (no rx-page-size): a jumbo segment's payload arrives in page-sized pieces.
            Assert.Equal(0L, run.FragmentsAcrossBuffers);
            Assert.InRange(run.LargestFragment, 1, 4096);
            Assert.All(queues, q => Assert.Null(BoundTo(netdev, q)));
            Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
        }
        finally
        {
            SetMtu(1500);
        }
    }

    [Fact]
    public async Task Two_zero_copy_connections_refuse_each_others_fragments_and_both_arrive_validated()
    {
        // Tokens are numbered per socket from 1 (sk_user_frags), so both connections hold token 1 at
        // the start: releasing b's fragment on a would have freed a's token in the kernel.
        RequireTestnic();
        const long Total = 16L << 20;
        const ushort Port = 5302;
        SetMtu(9000);
        try
        {
            DevmemNicState before = DevmemNicState.Capture(Ifname);
            using UdmabufMemory udmabuf = UdmabufMemory.Create(32 << 20, "setup-testnic-two");
            IPAddress server = IPAddress.Parse("10.99.0.1");
            using (DevmemRxSetup setup = DevmemRxSetup.Apply(udmabuf, new DevmemRxSetupOptions(Ifname) { Steering = new DevmemFlowSteering(server, Port) }))
            {
                Assert.True(setup.IsZeroCopy);
                using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                listener.Bind(new IPEndPoint(server, Port));
                listener.Listen(2);
                string send = $"yes \"$(printf '\\001\\002\\003\\004\\005\\006')\" | head -c {Total} | ip netns exec peer nc -N {server} {Port}";
                using Process s1 = Guest.Start("sh", "-c", send);
                using Socket c1 = listener.Accept();
                using Process s2 = Guest.Start("sh", "-c", send);
                using Socket c2 = listener.Accept();
                using DevmemSocket a = setup.Wrap(c1);
                using DevmemSocket b = setup.Wrap(c2);
                var fa = new DevmemFragment[128];
                var fb = new DevmemFragment[128];
                var linear = new byte[819200];
                var pa = new NcdevmemPattern(7);
                var pb = new NcdevmemPattern(7);
                DevmemReceiveResult ra = a.Receive(fa, linear);
                DevmemReceiveResult rb = b.Receive(fb, linear);
                Assert.True(ra.Fragments > 0 && rb.Fragments > 0, $"fragments: {ra.Fragments}, {rb.Fragments}");
                Assert.Equal(fa[0].Token, fb[0].Token);
                Assert.Throws<InvalidOperationException>(() => a.Release(fb.AsSpan(0, rb.Fragments)));
                Assert.Throws<InvalidOperationException>(() => b.Release(fa.AsSpan(0, ra.Fragments)));
                a.FlushReleases();
                b.FlushReleases();
                Assert.Equal(0, a.ReleaseCalls + b.ReleaseCalls);
                // Both drained at once: a flow nobody reads holds binding buffers, and the other would
                // stall once the NIC has none left (as ncdevmem's server would).
                Task<long> da = Task.Factory.StartNew(() => Drain(a, fa, ra, pa, udmabuf), TaskCreationOptions.LongRunning);
                Task<long> db = Task.Factory.StartNew(() => Drain(b, fb, rb, pb, udmabuf), TaskCreationOptions.LongRunning);
                long[] drained = await Task.WhenAll(da, db).WaitAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);
                long validated = drained.Sum();
                TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] two connections: {validated} bytes validated, {a.TokensFreed}+{b.TokensFreed} tokens freed");
                Assert.Equal((Total, 0L, Total, 0L), (pa.Bytes, pa.Errors, pb.Bytes, pb.Errors));
                Assert.Equal((0L, 0L, 0L, 0L), (a.ReleaseShortfall, b.ReleaseShortfall, a.OutstandingTokens, b.OutstandingTokens));
                c1.Dispose();
                c2.Dispose();
                Assert.True(s1.WaitForExit(60_000) && s2.WaitForExit(60_000), "the peer's netcat did not exit");
            }

            Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
        }
        finally
        {
            SetMtu(1500);
        }
    }

    // Validates the first receive's fragments and everything after, releasing as it goes.
    private static long Drain(DevmemSocket rx, DevmemFragment[] fragments, DevmemReceiveResult r, NcdevmemPattern pattern, DeviceMemory memory)
    {
        var linear = new byte[819200];
        while (!r.EndOfStream)
        {
            Assert.Equal(0, r.LinearBytes + r.UnsteeredBytes);
            memory.BeginCpuAccess(CpuAccess.Read);
            foreach (DevmemFragment f in fragments.AsSpan(0, r.Fragments))
            {
                pattern.Validate(memory.GetSpan((long)f.Offset, (int)f.Length));
            }

            memory.EndCpuAccess(CpuAccess.Read);
            rx.Release(fragments.AsSpan(0, r.Fragments));
            r = rx.Receive(fragments, linear);
        }

        rx.FlushReleases();
        return pattern.Bytes;
    }
}
