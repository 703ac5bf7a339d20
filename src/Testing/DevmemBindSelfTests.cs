using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Setup;

namespace Devmem.Testing;

/// <summary>The outcome of one bind self-test.</summary>
public enum SelfTestOutcome
{
    /// <summary>The kernel answered as devmem requires.</summary>
    Passed,

    /// <summary>The kernel answered otherwise.</summary>
    Failed,

    /// <summary>Not run: the NIC cannot bind at all (the reason says why).</summary>
    Skipped,
}

/// <summary>One bind self-test's result.</summary>
/// <param name="Name">What was tested.</param>
/// <param name="Outcome">Passed, failed or skipped.</param>
/// <param name="Detail">What the kernel answered (its errno and message), or why it was skipped.</param>
public sealed record SelfTestResult(string Name, SelfTestOutcome Outcome, string Detail);

/// <summary>
/// The kernel ncdevmem's bind self-tests (run without -s/-c; <c>run_devmem_tests</c> in
/// tools/testing/selftests/drivers/net/hw/ncdevmem.c, 7.x), through this library: with RSS kept off the
/// queues and header split on, bind-rx with empty queue nests must be refused; with header split off,
/// bind-rx must be refused; with it on, bind-rx must succeed; while bound, lowering the channel count
/// below the bound queues must be refused. Everything changed is undone afterwards, exactly.
/// </summary>
public static class DevmemBindSelfTests
{
    private static readonly string[] Names =
    [
        "bind-rx with empty queue nests is refused",
        "bind-rx with header split off is refused",
        "bind-rx with header split on succeeds",
        "lowering the channel count below a bound queue is refused",
    ];

    /// <summary>Every self-test skipped with one reason (when nothing can be run, e.g. no dma-buf provider).</summary>
    /// <param name="reason">Why.</param>
    /// <returns>The results.</returns>
    public static IReadOnlyList<SelfTestResult> Skip(string reason) => [.. Names.Select(n => new SelfTestResult(n, SelfTestOutcome.Skipped, reason))];

    /// <summary>Runs the self-tests on <paramref name="interfaceName"/> with <paramref name="memory"/> (a dma-buf).</summary>
    /// <param name="interfaceName">The interface.</param>
    /// <param name="memory">The dma-buf to bind.</param>
    /// <param name="startQueue">First queue; null: half the RX queues, as ncdevmem (start = count = rxq/2).</param>
    /// <param name="queueCount">Queue count; null: as ncdevmem.</param>
    /// <param name="rxPageSize">
    /// rx-page-size sent with every bind-rx (7.3+), as the kernel's ncdevmem does with -b; null sends none (PAGE_SIZE).
    /// A NIC without support for it refuses the binding that must succeed, so that test fails.
    /// </param>
    /// <returns>Each test's result, in order. When the NIC cannot bind at all, one skipped result per test, with the reason.</returns>
    /// <exception cref="DevmemSetupException">Undoing the changes failed (the NIC may be left configured).</exception>
    public static IReadOnlyList<SelfTestResult> Run(string interfaceName, DeviceMemory memory, uint? startQueue = null, uint? queueCount = null, uint? rxPageSize = null)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        ArgumentNullException.ThrowIfNull(memory);
        string[] names = Names;
        var results = new List<SelfTestResult>();
        uint start, count;
        int ifindex;
        EthtoolChannels channels;
        using EthtoolClient ethtool = EthtoolClient.Open();
        using NetdevClient netdev = NetdevClient.Open();
        try
        {
            (ifindex, _) = DevmemRxSetup.CheckInterface(interfaceName);
            if (!memory.IsDmabuf)
            {
                throw DevmemSetupException.Refused(DevmemSetupStep.Check, interfaceName, $"{memory.Kind} memory is not a dma-buf");
            }

            channels = ethtool.GetChannels(interfaceName);
            uint rxq = (channels.RxCount ?? 0) + (channels.CombinedCount ?? 0);
            start = startQueue ?? rxq / 2;
            count = queueCount ?? rxq / 2;
            if (rxq < 2 || count == 0 || start == 0 || start + count > rxq)
            {
                throw DevmemSetupException.Refused(DevmemSetupStep.Check, interfaceName, $"queues {start}..{start + count - 1} do not fit {rxq} RX queues with one left for RSS");
            }
        }
        catch (Exception e) when (e is DevmemSetupException or NetlinkException or EthtoolIoctlException)
        {
            return Skip(e.Message);
        }

        uint[] queues = [.. Enumerable.Range((int)start, (int)count).Select(i => (uint)i)];
        EthtoolRings rings = ethtool.GetRings(interfaceName);
        EthtoolRss rss = ethtool.GetRss(interfaceName);
        var undo = new List<Exception>();
        try
        {
            // ethtool -X IF equal START; header split on (hds-thresh 0 where reported).
            ethtool.SetRssIndirection(interfaceName, EthtoolRss.Equal(rss.Indirection.Count, start));
            SetSplit(ethtool, interfaceName, rings, on: true);

            results.Add(Refused(names[0], () => netdev.BindRxEmptyQueueNests(ifindex, memory.DmabufHandle, (int)count, rxPageSize)));

            // ncdevmem "turns header split off" by setting it UNKNOWN (the driver default) — testnic and
            // real NICs then have it off.
            SetSplit(ethtool, interfaceName, rings, on: false);
            results.Add(Refused(names[1], () => netdev.BindRx(ifindex, memory.DmabufHandle, queues, rxPageSize)));

            SetSplit(ethtool, interfaceName, rings, on: true);
            DmabufBinding? binding = null;
            try
            {
                binding = netdev.BindRx(ifindex, memory.DmabufHandle, queues, rxPageSize);
                results.Add(new(names[2], SelfTestOutcome.Passed, $"binding {binding.Id} on queue{(count == 1 ? "" : "s")} {string.Join(',', queues)}"));
                // ncdevmem: configure_channels(start, start): rx = tx = START, below the bound queues.
                results.Add(Refused(names[3], () => ethtool.SetChannels(interfaceName, channels.CombinedCount is > 0
                    ? new EthtoolChannelsSettings(CombinedCount: start)
                    : new EthtoolChannelsSettings(RxCount: start, TxCount: start))));
            }
            catch (Exception e) when (e is NetlinkException)
            {
                results.Add(new(names[2], SelfTestOutcome.Failed, e.Message));
                results.Add(new(names[3], SelfTestOutcome.Skipped, "nothing was bound"));
            }
            finally
            {
                binding?.Dispose();
            }
        }
        finally
        {
            Try(undo, () => ethtool.RestoreChannels(interfaceName, channels));
            Try(undo, () => ethtool.RestoreRings(interfaceName, rings));
            Try(undo, () => ethtool.RestoreRssIndirection(interfaceName, rss));
        }

        if (undo.Count > 0)
        {
            throw DevmemSetupException.From(DevmemSetupStep.Undo, interfaceName, "cannot restore the NIC after the self-tests", undo[0]);
        }

        return results;
    }

    private static void SetSplit(EthtoolClient ethtool, string ifname, EthtoolRings before, bool on) =>
        ethtool.SetRings(ifname, new EthtoolRingsSettings(
            TcpDataSplit: on ? EthtoolTcpDataSplit.Enabled : EthtoolTcpDataSplit.Unknown,
            HdsThresh: on && before.HdsThresh is not null ? 0 : null));

    private static SelfTestResult Refused(string name, Func<object> action)
    {
        try
        {
            object made = action();
            (made as IDisposable)?.Dispose();
            return new(name, SelfTestOutcome.Failed, "the kernel accepted it");
        }
        catch (NetlinkException e)
        {
            return new(name, SelfTestOutcome.Passed, $"refused: {e.ErrnoName}{(e.KernelMessage is null ? "" : $" \"{e.KernelMessage}\"{NetlinkException.TruncationNote(e.KernelMessage)}")}");
        }
        catch (EthtoolIoctlException e)
        {
            return new(name, SelfTestOutcome.Passed, $"refused: {e.Errno.Name()}");
        }
    }

    private static SelfTestResult Refused(string name, Action action) => Refused(name, () =>
    {
        action();
        return new object();
    });

    private static void Try(List<Exception> failures, Action a)
    {
        try
        {
            a();
        }
        catch (Exception e) when (e is NetlinkException or EthtoolIoctlException)
        {
            failures.Add(e);
        }
    }
}
