using System.Diagnostics;
using Devmem.Memory;
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
/// are free; Dispose puts the value from before back. Two things can leave fewer free than asked, silently
/// (the write succeeds either way): huge pages still held by an earlier test's io_uring ring, whose
/// teardown runs after close (io_uring/io_uring.c, io_ring_exit_work) and unpins its area late, and
/// memory too fragmented to assemble 2 MiB pages, which compacting and dropping caches undoes.
/// </summary>
internal sealed class HugePageReservation : IDisposable
{
    private const string NrHugepages = "/proc/sys/vm/nr_hugepages";
    private readonly string _saved = File.ReadAllText(NrHugepages).Trim();
    private bool _changed;

    public void Set(int pages)
    {
        _changed = true;
        string value = pages.ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllText(NrHugepages, value);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        bool compacted = false;
        while (Free() < pages && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (!compacted && waited.Elapsed > TimeSpan.FromSeconds(2))
            {
                File.WriteAllText("/proc/sys/vm/drop_caches", "3");
                File.WriteAllText("/proc/sys/vm/compact_memory", "1");
                File.WriteAllText(NrHugepages, value);
                compacted = true;
            }
            Thread.Sleep(50);
        }
        long free = Free();
        Assert.True(free >= pages,
            $"vm.nr_hugepages={pages}: {free} huge pages free after 20 s (nr_hugepages {Count("nr_hugepages")}, " +
            $"surplus_hugepages {Count("surplus_hugepages")} in {UdmabufMemory.HugePagesDir}), even after compacting memory");
    }

    /// <summary>Free 2 MiB huge pages: the count the library checks before it makes huge-page memory.</summary>
    public static long Free() => Count("free_hugepages");

    private static long Count(string file) => KernelFiles.ReadNumber($"{UdmabufMemory.HugePagesDir}/{file}") ?? 0;

    public void Dispose()
    {
        if (_changed)
        {
            File.WriteAllText(NrHugepages, _saved);
        }
    }
}
