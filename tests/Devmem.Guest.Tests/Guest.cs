using System.Diagnostics;
using Devmem.Memory;
using Devmem.Netlink.Netdev;
using Devmem.Sys;

namespace Devmem.Guest.Tests;

/// <summary>
/// What the VM harness (scripts/vm/run.sh) tells a guest test: which kernel series it booted and
/// where the checkout is. Outside the harness every guest test skips with <see cref="NotInGuest"/>.
/// </summary>
internal static class Guest
{
    /// <summary>"6.12" or "latest": the --kernel the harness booted (DEVMEM_VM_KERNEL), or null on the host.</summary>
    public static string? Series { get; } = Environment.GetEnvironmentVariable("DEVMEM_VM_KERNEL");

    /// <summary>The kernel release the harness resolved from Debian's metapackage (DEVMEM_VM_KVER).</summary>
    public static string? ResolvedRelease { get; } = Environment.GetEnvironmentVariable("DEVMEM_VM_KVER");

    /// <summary>"virtio" or "testnic": the harness's --nic (DEVMEM_VM_NIC).</summary>
    public static string? Nic { get; } = Environment.GetEnvironmentVariable("DEVMEM_VM_NIC");

    /// <summary>The checkout (DEVMEM_ROOT), the guest's working directory.</summary>
    public static string Root { get; } = Environment.GetEnvironmentVariable("DEVMEM_ROOT") ?? Environment.CurrentDirectory;

    public const string NotInGuest =
        "not inside the VM harness (DEVMEM_VM_KERNEL is unset): these tests need Debian's 6.12 or newest kernel " +
        "under qemu; run them with scripts/vm/run.sh --kernel 6.12|latest -- EXE, as scripts/test.sh does";

    /// <summary>Skips the calling test on the host.</summary>
    public static void Require() => Assert.SkipWhen(Series is null, NotInGuest);

    /// <summary>
    /// Starts a program with its standard streams redirected (the caller reads and disposes), for programs
    /// a test talks to while they run; <see cref="ProcessRunner.Run"/> runs one to its end.
    /// </summary>
    public static Process Start(string file, params string[] args) => ProcessRunner.Start(file, args);
}

/// <summary>
/// vm.nr_hugepages for one test: <see cref="Set"/> reserves 2 MiB huge pages and waits until that many
/// are free; Dispose puts the value from before back. Three things can leave fewer free than asked, silently
/// (the write succeeds either way), each after an earlier test let its memory go:
/// <list type="bullet">
/// <item>The NIC's page pool keeps the dma-buf binding or the io_uring area, and with it every page of the
/// memory, until it has every buffer back (net/core/page_pool.c page_pool_release_retry; devmem's
/// mp_dmabuf_devmem_destroy, io_uring/zcrx.c io_pp_zc_destroy). A socket that consumed an skb on another
/// CPU than the one that built it parks the skb, buffers and all, on that CPU's defer list
/// (net/core/skbuff.c skb_attempt_defer_free), which is freed only when that CPU next runs NET_RX
/// (net/core/dev.c net_rx_action) or the list reaches half of net.core.skb_defer_max. On an idle guest
/// that CPU may never run it again: <see cref="SkbDeferLists.Flush"/> makes each CPU run it.</item>
/// <item>An io_uring ring's teardown runs after close (io_uring/io_uring.c io_ring_exit_work).</item>
/// <item>Memory too fragmented to assemble 2 MiB pages, which compacting and dropping caches undoes.</item>
/// </list>
/// </summary>
internal sealed class HugePageReservation : IDisposable
{
    private const string NrHugepages = "/proc/sys/vm/nr_hugepages";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly string _saved = File.ReadAllText(NrHugepages).Trim();
    private bool _changed;

    public void Set(int pages)
    {
        _changed = true;
        string value = pages.ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllText(NrHugepages, value);
        var waited = Stopwatch.StartNew();
        TimeSpan nextFlush = TimeSpan.FromSeconds(1);
        bool compacted = false;
        while (Free() < pages && waited.Elapsed < Patience)
        {
            if (waited.Elapsed > nextFlush)
            {
                SkbDeferLists.Flush();
                nextFlush = waited.Elapsed + TimeSpan.FromSeconds(5);
            }
            if (!compacted && waited.Elapsed > TimeSpan.FromSeconds(3))
            {
                File.WriteAllText("/proc/sys/vm/drop_caches", "3");
                File.WriteAllText("/proc/sys/vm/compact_memory", "1");
                File.WriteAllText(NrHugepages, value);
                compacted = true;
            }
            Thread.Sleep(50);
        }
        long free = Free();
        if (free >= pages)
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(1))
            {
                TestContext.Current.SendDiagnosticMessage($"vm.nr_hugepages={pages}: {waited.Elapsed.TotalSeconds:F1} s until that many were free");
            }
            return;
        }
        Assert.Fail(
            $"vm.nr_hugepages={pages}: {free} huge pages free after {Patience.TotalSeconds:F0} s (nr_hugepages {Count("nr_hugepages")}, " +
            $"surplus_hugepages {Count("surplus_hugepages")} in {UdmabufMemory.HugePagesDir}), even after flushing each CPU's skb " +
            $"defer list and compacting memory; page pools still holding buffers: {PoolsHoldingBuffers()}");
    }

    /// <summary>Free 2 MiB huge pages: the count the library checks before it makes huge-page memory.</summary>
    public static long Free() => Count("free_hugepages");

    /// <summary>The page pools with buffers out (page-pool-get), which keep their memory pinned.</summary>
    private static string PoolsHoldingBuffers()
    {
        try
        {
            using NetdevClient netdev = NetdevClient.Open();
            string[] pools = [.. netdev.GetPagePools()
                .Where(p => p.Inflight > 0)
                .Select(p => $"pool {p.Id} (ifindex {p.Ifindex?.ToString() ?? "gone"}, " +
                    (p.DmabufId is uint d ? $"dma-buf binding {d}" : p.HasIoUring ? "io_uring area" : "host pages") +
                    $", {p.Inflight} in flight, detached {(p.DetachTime is ulong t ? $"at {t} s" : "no")})")];
            return pools.Length == 0 ? "none" : string.Join("; ", pools);
        }
        catch (DevmemIOException e)
        {
            return $"(page-pool-get failed: {e.Message})";
        }
    }

    private static long Count(string file) => KernelFiles.ReadNumber($"{UdmabufMemory.HugePagesDir}/{file}") ?? 0;

    public void Dispose()
    {
        if (_changed)
        {
            File.WriteAllText(NrHugepages, _saved);
        }
    }
}

/// <summary>
/// Runs NET_RX once on every CPU, which frees the skbs parked on its defer list (net/core/dev.c
/// net_rx_action calls skb_defer_free_flush first): a connection attempt over loopback from a process
/// pinned to the CPU queues the SYN to that CPU's backlog (net/core/dev.c enqueue_to_backlog) and
/// raises NET_RX there. Nothing listens on the port: the attempt is refused at once.
/// </summary>
internal static class SkbDeferLists
{
    public static void Flush()
    {
        for (int cpu = 0; cpu < Environment.ProcessorCount; cpu++)
        {
            ProcessResult nc = ProcessRunner.Run("taskset", ["-c", cpu.ToString(System.Globalization.CultureInfo.InvariantCulture), "nc", "-z", "-w", "1", "127.0.0.1", "9"]);
            Assert.True(nc.ExitCode is 0 or 1, $"taskset -c {cpu} nc -z 127.0.0.1 9: exit {nc.ExitCode}: {nc.Stderr}");
        }
    }
}
