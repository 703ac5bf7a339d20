namespace Devmem;

/// <summary>Facts about this build of the library.</summary>
public static class DevmemInfo
{
    /// <summary>The Linux kernel version that introduced devmem TCP receive (bind-rx, SCM_DEVMEM_DMABUF).</summary>
    public static Version MinimumKernelRx { get; } = new(6, 12);

    /// <summary>The Linux kernel version that introduced devmem TCP transmit (bind-tx).</summary>
    public static Version MinimumKernelTx { get; } = new(6, 16);
}
