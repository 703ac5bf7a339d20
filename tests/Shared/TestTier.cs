using Xunit.v3;

namespace Devmem.TestSupport;

/// <summary>
/// What a test class needs in order to run, as the <c>tier</c> trait (README, "Test tiers"): select one
/// with the test executable's <c>-trait tier=pure</c>.
/// </summary>
internal enum Tier
{
    /// <summary><c>pure</c>: nothing outside the process (bytes built to the kernel's layout, parsers, round trips).</summary>
    Pure,

    /// <summary><c>abi</c>: gcc and the kernel's uapi headers (Debian's linux-libc-dev), no kernel.</summary>
    Abi,

    /// <summary><c>host-kernel</c>: the running kernel answers (syscalls, sockets, netlink, network namespaces, the CLIs).</summary>
    HostKernel,

    /// <summary><c>guest</c>: Debian's 6.12 and newest kernels in the qemu guests (scripts/vm/run.sh); skips elsewhere.</summary>
    Guest,
}

/// <summary>
/// The NIC a guest test class is written for, as the <c>nic</c> trait: the harness's
/// <c>scripts/vm/run.sh --nic</c>, or <c>any</c> for tests that do not depend on it.
/// </summary>
internal enum Nic
{
    /// <summary><c>any</c>: the NIC does not matter.</summary>
    Any,

    /// <summary><c>virtio</c>: qemu's virtio-net (no devmem support), the harness's default.</summary>
    Virtio,

    /// <summary><c>testnic</c>: the software devmem NIC (tests/testnic).</summary>
    Testnic,
}

/// <summary>The <c>tier</c> trait of every test in the class.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
internal sealed class TierAttribute(Tier tier) : Attribute, ITraitAttribute
{
    /// <summary>The trait's name.</summary>
    public const string Name = "tier";

    /// <summary>The trait's values, as the runner's <c>-trait</c> filter takes them.</summary>
    public static IReadOnlyDictionary<Tier, string> Values { get; } = new Dictionary<Tier, string>
    {
        [Tier.Pure] = "pure",
        [Tier.Abi] = "abi",
        [Tier.HostKernel] = "host-kernel",
        [Tier.Guest] = "guest",
    };

    public Tier Tier { get; } = tier;

    public IReadOnlyCollection<KeyValuePair<string, string>> GetTraits() => [new(Name, Values[Tier])];
}

/// <summary>The <c>nic</c> trait(s) of every test in a guest class: one per NIC its tests are written for.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
internal sealed class NicAttribute(params Nic[] nics) : Attribute, ITraitAttribute
{
    /// <summary>The trait's name.</summary>
    public const string Name = "nic";

    /// <summary>The trait's values, as the runner's <c>-trait</c> filter takes them.</summary>
    public static IReadOnlyDictionary<Nic, string> Values { get; } = new Dictionary<Nic, string>
    {
        [Nic.Any] = "any",
        [Nic.Virtio] = "virtio",
        [Nic.Testnic] = "testnic",
    };

    public IReadOnlyList<Nic> Nics { get; } = nics;

    public IReadOnlyCollection<KeyValuePair<string, string>> GetTraits() => [.. Nics.Select(n => new KeyValuePair<string, string>(Name, Values[n]))];
}
