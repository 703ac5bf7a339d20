using System.Diagnostics;

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
