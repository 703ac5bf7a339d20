using System.Text.RegularExpressions;

namespace Devmem.Guest.Tests;

/// <summary>The guest runs the Debian kernel the harness promised, with the dma-buf exporters the devmem tests use.</summary>
[Tier(Tier.Guest)]
[Nic(Nic.Any)]
public sealed partial class KernelTests(ITestOutputHelper output)
{
    // Debian's release strings: "6.12.117+deb13-amd64", "7.3.4+deb13-amd64" (debian/rules.real, flavour amd64).
    [GeneratedRegex(@"^(\d+)\.(\d+)\.\d+\+deb\d+-amd64$")]
    private static partial Regex DebianRelease();

    [Fact]
    public void Kernel_is_Debian_of_the_requested_series()
    {
        Guest.Require();
        // /proc/version: "Linux version RELEASE (debian-kernel@lists.debian.org) (gcc ...) #1 SMP ... Debian VERSION (DATE)".
        var version = File.ReadAllText("/proc/version").Trim();
        output.WriteLine(version);
        Console.WriteLine($"guest kernel: {version}");
        var release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

        Assert.Contains("debian-kernel@lists.debian.org", version, StringComparison.Ordinal);
        Assert.Contains(" Debian ", version, StringComparison.Ordinal);
        var m = DebianRelease().Match(release);
        Assert.True(m.Success, $"'{release}' is not a Debian amd64 kernel release");
        Assert.Equal(Guest.ResolvedRelease, release);
        var series = new Version(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        if (Guest.Series == "6.12")
        {
            Assert.Equal(new Version(6, 12), series);
        }
        else
        {
            Assert.Equal("latest", Guest.Series);
            Assert.True(series > new Version(6, 12), $"the newest Debian kernel should be newer than 6.12, got {release}");
        }
    }

    [Fact]
    public void Udmabuf_and_the_system_dma_heap_exist()
    {
        Guest.Require();
        // udmabuf is a misc device (drivers/dma-buf/udmabuf.c); the system heap a dma-heap
        // (drivers/dma-buf/heaps/system_heap.c). Both need CONFIG_UDMABUF / CONFIG_DMABUF_HEAPS_SYSTEM=y,
        // which the host kernel lacks: that is why these tests run in a guest.
        Assert.Matches(@"^10:\d+$", File.ReadAllText("/sys/class/misc/udmabuf/dev").Trim());
        Assert.Matches(@"^\d+:\d+$", File.ReadAllText("/sys/class/dma_heap/system/dev").Trim());
        foreach (var dev in new[] { "/dev/udmabuf", "/dev/dma_heap/system" })
        {
            // open(2) answered by the driver itself; a missing node would be FileNotFoundException.
            using var h = File.OpenHandle(dev, FileMode.Open, FileAccess.ReadWrite);
            Assert.False(h.IsInvalid, dev);
        }
    }
}
