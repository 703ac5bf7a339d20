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
using Devmem.Validation;

namespace Devmem.Guest.Tests;

/// <summary>
/// Our own netlink client against the software devmem NIC (tests/testnic, scripts/vm/run.sh --nic
/// testnic) in Debian's 6.12 and newest kernels: bind-rx through the library binds a queue, disposing
/// the binding unbinds, and header split off is refused in each kernel's way. The testnic emulates only
/// the NIC's DMA (docs/testnic.md); this proves the kernel path, not hardware.
/// </summary>
[Collection(UdmabufSerial.Name)]
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

    private static void SetMtu(int mtu)
    {
        foreach (string[] args in (string[][])[["link", "set", "eth0", "mtu", $"{mtu}"], ["-n", "peer", "link", "set", "eth1", "mtu", $"{mtu}"]])
        {
            using Process ip = Guest.Start("ip", args);
            ip.WaitForExit();
            Assert.True(ip.ExitCode == 0, $"ip {string.Join(' ', args)}: {ip.StandardError.ReadToEnd()}");
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
