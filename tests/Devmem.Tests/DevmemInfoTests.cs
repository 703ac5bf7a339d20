namespace Devmem.Tests;

[Tier(Tier.Pure)]
public class DevmemInfoTests
{
    [Fact]
    public void Kernel_versions_are_those_of_the_devmem_patches()
    {
        Assert.Equal(new Version(6, 12), DevmemInfo.MinimumKernelRx);
        Assert.Equal(new Version(6, 16), DevmemInfo.MinimumKernelTx);
    }
}
