using System.Diagnostics;
using System.Globalization;
using System.Net;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Setup;
using Devmem.Testing;

namespace Devmem.Guest.Tests;

/// <summary>
/// DevmemRxSetup's rollback under faults, on the software devmem NIC (tests/testnic) in Debian's 6.12 and
/// newest kernels: testnic's fault knobs (debugfs, docs/testnic.md) make one setup step fail after the
/// checks passed (header split, hds-thresh, RSS, the flow rule, bind-rx's queue restart, the page pool of
/// the bound queue), and the NIC must be exactly as it was, with no binding, no journal and no kernel
/// report. One more case makes an undo fail too: it must be reported and kept in the journal.
/// </summary>
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Testnic)]
public sealed class RollbackFaultGuestTests
{
    private const string Ifname = "eth0";
    private const string KnobDir = "/sys/kernel/debug/testnic/eth0";

    private static readonly string[] Knobs =
    [
        "fail_queue_mem_alloc", "fail_page_pool_alloc", "fail_queue_stop", "fail_queue_start",
        "fail_rings_set", "fail_rss_set", "fail_ntuple_insert", "fail_ntuple_delete",
    ];

    private static int Eth0 => int.Parse(File.ReadAllText("/sys/class/net/eth0/ifindex").Trim(), CultureInfo.InvariantCulture);

    private static string JournalPath => Path.Combine(DevmemSetupJournal.Directory, $"{Ifname}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.journal");

    // A 5-tuple rule: the setup retries destination-only when the NIC refuses it, so a flow-rule fault
    // must fail both inserts.
    private static DevmemRxSetupOptions Options() => new(Ifname)
    {
        Steering = new DevmemFlowSteering(IPAddress.Parse("10.99.0.1"), 5302, IPAddress.Parse("10.99.0.2"), 5302),
    };

    private static void RequireKnobs()
    {
        Guest.Require();
        Assert.SkipUnless(Guest.Nic == "testnic", $"these need the software devmem NIC's fault knobs (scripts/vm/run.sh --nic testnic); the harness booted --nic {Guest.Nic}");
        Assert.True(Directory.Exists(KnobDir), $"{KnobDir} is missing: testnic has fault knobs and the harness mounts debugfs (scripts/vm/guest.sh)");
    }

    /// <summary>Arms KNOB: let SKIP calls through, then fail COUNT calls with ERRNO (docs/testnic.md).</summary>
    private static void Arm(string knob, int count, Errno errno, int skip = 0)
    {
        using var f = new FileStream(Path.Combine(KnobDir, knob), FileMode.Open, FileAccess.Write);
        f.Write(System.Text.Encoding.ASCII.GetBytes($"{count} {(int)errno} {skip}\n"));
    }

    private static string Knob(string knob) => File.ReadAllText(Path.Combine(KnobDir, knob)).Trim();

    private static void DisarmAll()
    {
        foreach (string k in Knobs)
        {
            Arm(k, 0, Errno.EIO);
        }
    }

    private static string Dmesg()
    {
        ProcessResult p = ProcessRunner.Run("dmesg", []);
        Assert.Equal(0, p.ExitCode);
        return p.Stdout;
    }

    /// <summary>The kernel's reports (WARN, BUG, Oops, call traces) in its log, as the harness's splat check finds them.</summary>
    private static string[] KernelReports(string dmesg) =>
        [.. dmesg.Split('\n').Where(l => l.Contains("WARNING:", StringComparison.Ordinal) || l.Contains("BUG:", StringComparison.Ordinal)
            || l.Contains("Oops", StringComparison.Ordinal) || l.Contains("Call Trace:", StringComparison.Ordinal))];

    private static void AssertNoBinding()
    {
        using NetdevClient netdev = NetdevClient.Open();
        foreach (NetdevQueueInfo q in netdev.GetQueues(Eth0).Where(q => q.Type == NetdevQueueType.Rx))
        {
            Assert.True(q.DmabufId is null, $"RX queue {q.Id} still has dma-buf binding {q.DmabufId}");
        }
    }

    // knob, calls to fail, errno, the step that must report it, whether hds-thresh must be the only change.
    [Theory]
    [InlineData("fail_rings_set", 1, "EBUSY", DevmemSetupStep.HeaderSplit, false)]
    [InlineData("fail_rings_set", 1, "ERANGE", DevmemSetupStep.HeaderSplit, true)]
    [InlineData("fail_rss_set", 1, "EIO", DevmemSetupStep.Rss, false)]
    [InlineData("fail_ntuple_insert", 2, "ENOSPC", DevmemSetupStep.FlowRule, false)]
    [InlineData("fail_queue_mem_alloc", 1, "ENOMEM", DevmemSetupStep.BindRx, false)]
    [InlineData("fail_page_pool_alloc", 1, "ENOMEM", DevmemSetupStep.BindRx, false)]
    [InlineData("fail_queue_stop", 1, "EBUSY", DevmemSetupStep.BindRx, false)]
    [InlineData("fail_queue_start", 1, "EIO", DevmemSetupStep.BindRx, false)]
    public void A_fault_at_a_step_undoes_the_steps_before_it_and_leaves_the_NIC_as_it_was(string knob, int count, string errnoName, DevmemSetupStep step, bool hdsThreshOnly)
    {
        RequireKnobs();
        Errno errno = Enum.Parse<Errno>(errnoName);
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings original = ethtool.GetRings(Ifname);
        try
        {
            if (hdsThreshOnly)
            {
                // hds-thresh is in the rings message from 6.13 (ETHTOOL_A_RINGS_HDS_THRESH).
                Assert.SkipWhen(original.HdsThresh is null, $"kernel {Guest.ResolvedRelease} reports no hds-thresh, so the setup never sets it");
                ethtool.SetRings(Ifname, new EthtoolRingsSettings(TcpDataSplit: EthtoolTcpDataSplit.Enabled, HdsThresh: 128));
            }

            using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "fault");
            DevmemNicState before = DevmemNicState.Capture(Ifname);
            string[] reportsBefore = KernelReports(Dmesg());
            Arm(knob, count, errno);

            DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(udmabuf, Options()));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] {knob}: {e.Message}");
            Assert.Equal(step, e.Step);
            Assert.Equal(errno, e.Errno);
            Assert.StartsWith($"{DevmemSetupException.StepName(step)} on {Ifname}: ", e.Message, StringComparison.Ordinal);
            Assert.Contains(errnoName, e.Message, StringComparison.Ordinal);

            // The knob fired (and only as often as armed), in the driver operation it names.
            string dmesg = Dmesg();
            Assert.Equal($"0 {(int)errno} 0", Knob(knob));
            Assert.Contains($"{knob}: injected error -{(int)errno}", dmesg, StringComparison.Ordinal);

            Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
            AssertNoBinding();
            Assert.False(File.Exists(JournalPath), $"the journal {JournalPath} outlived a complete undo");
            Assert.Equal(reportsBefore, KernelReports(dmesg));

            if (step == DevmemSetupStep.BindRx)
            {
                // The driver is consistent after the failed queue restart: the same setup now binds, and
                // undoes.
                using (DevmemRxSetup setup = DevmemRxSetup.Apply(udmabuf, Options()))
                {
                    Assert.True(setup.IsZeroCopy);
                    Assert.Equal(setup.BindingId, DevmemNicState.Capture(Ifname).BoundQueues[setup.Queues[0]]);
                }

                Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
                Assert.Equal(reportsBefore, KernelReports(Dmesg()));
            }
        }
        finally
        {
            DisarmAll();
            ethtool.RestoreRings(Ifname, original);
        }
    }

    [Fact]
    public void A_failed_undo_is_reported_and_stays_in_the_journal_with_only_what_was_not_undone()
    {
        RequireKnobs();
        using EthtoolClient ethtool = EthtoolClient.Open();
        EthtoolRings original = ethtool.GetRings(Ifname);
        DevmemNicState before = DevmemNicState.Capture(Ifname);
        EthtoolRss rssBefore = ethtool.GetRss(Ifname);
        try
        {
            using UdmabufMemory udmabuf = UdmabufMemory.Create(4 << 20, "fault-undo");
            string[] reportsBefore = KernelReports(Dmesg());
            // The flow rule fails (both tries); undoing RSS (the second RSS set) fails; undoing header split works.
            Arm("fail_ntuple_insert", 2, Errno.ENOSPC);
            Arm("fail_rss_set", 1, Errno.EIO, skip: 1);

            AggregateException e = Assert.Throws<AggregateException>(() => DevmemRxSetup.Apply(udmabuf, Options()));
            TestContext.Current.SendDiagnosticMessage($"[{Guest.ResolvedRelease}] {e.Message}");
            Assert.Contains($"Undoing the steps before it also failed; the NIC may be left configured (the journal {JournalPath} keeps what was not undone: the next setup on {Ifname} undoes it once this process has ended).", e.Message, StringComparison.Ordinal);
            Assert.Collection(e.InnerExceptions,
                x =>
                {
                    var s = Assert.IsType<DevmemSetupException>(x);
                    Assert.Equal((DevmemSetupStep.FlowRule, Errno.ENOSPC), (s.Step, s.Errno));
                },
                x =>
                {
                    var s = Assert.IsType<DevmemSetupException>(x);
                    Assert.Equal((DevmemSetupStep.Undo, Errno.EIO), (s.Step, s.Errno));
                    Assert.StartsWith($"undo on {Ifname}: cannot RSS indirection table back as it was: ", s.Message, StringComparison.Ordinal);
                });
            Assert.Equal("0 5 0", Knob("fail_rss_set"));

            // What was undone is as before; what was not is still on the NIC (the RSS table spread below the
            // devmem queue), and it is in the journal, alone: the next setup must not undo again what
            // was already undone.
            DevmemNicState after = DevmemNicState.Capture(Ifname);
            Assert.Equal(before.Rings!.ToString(), after.Rings!.ToString());
            Assert.Equal(before.FlowRules.Count, after.FlowRules.Count);
            Assert.NotEqual(before.RssIndirection, after.RssIndirection);
            AssertNoBinding();
            string[] journal = File.ReadAllLines(JournalPath);
            Assert.Equal(2, journal.Length);
            Assert.StartsWith($"pid {Environment.ProcessId.ToString(CultureInfo.InvariantCulture)} ", journal[0], StringComparison.Ordinal);
            Assert.Equal($"rss {string.Join(',', rssBefore.Indirection)}", journal[1]);

            // The record does its job once its process is gone: recovery (as the next process's setup
            // runs it) restores the table and removes the journal.
            using (Process gone = Guest.Start("true"))
            {
                gone.WaitForExit();
                File.WriteAllLines(JournalPath, [$"pid {gone.Id.ToString(CultureInfo.InvariantCulture)} 0", journal[1]]);
            }

            IReadOnlyList<string> recovered = DevmemSetupJournal.RecoverAbandoned(ethtool, Ifname, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            Assert.Equal("RSS indirection table restored", Assert.Single(recovered).Split(" (left by")[0]);
            Assert.False(File.Exists(JournalPath));
            Assert.Equal(before.ToString(), DevmemNicState.Capture(Ifname).ToString());
            Assert.Equal(reportsBefore, KernelReports(Dmesg()));
        }
        finally
        {
            DisarmAll();
            File.Delete(JournalPath);
            ethtool.RestoreRings(Ifname, original);
            ethtool.RestoreRssIndirection(Ifname, rssBefore);
        }
    }
}
