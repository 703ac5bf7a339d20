using System.Globalization;
using Devmem.Sys;

namespace Devmem.Setup;

/// <summary>What is known, without asking the NIC, about a driver's devmem RX support on a kernel.</summary>
public enum DriverRxSupport
{
    /// <summary>The driver is not in the table: the kernel has to answer (it does so safely from 6.15 on).</summary>
    Unknown,

    /// <summary>The driver has no queue management API on this kernel: bind-rx cannot succeed.</summary>
    NoQueueApi,

    /// <summary>The driver has a queue management API but no page pool for unreadable memory on this kernel: bind-rx ends in ENODATA.</summary>
    NoUnreadablePool,

    /// <summary>The driver supports devmem RX on this kernel (given header split and a free queue).</summary>
    Supported,

    /// <summary>The project's software test NIC (tests/testnic): the kernel's devmem path with emulated DMA. It proves no hardware.</summary>
    TestNic,
}

/// <summary>
/// Which drivers can do devmem RX (from grepping Debian's 6.12.117 and 7.x kernel sources under
/// <c>drivers/</c> for <c>queue_mgmt_ops</c> and <c>PP_FLAG_ALLOW_UNREADABLE_NETMEM</c>), and the kernel
/// versions where asking the kernel is safe.
/// </summary>
/// <remarks>
/// Why a table at all: 6.12's <c>netdev_nl_bind_rx_doit</c> attaches and maps the dma-buf to the netdev's
/// parent device (<c>net_devmem_bind_dmabuf</c>) before it looks for the queue API, so a driver without
/// one gets a dma-buf attached to a device that cannot DMA it; for virtio_net that is a kernel WARN in
/// <c>__dma_map_sg_attrs</c> (a panic with <c>panic_on_warn</c>). Since the netdev instance-lock work
/// (upstream 6.15, inferred from the 7.x source: <c>netdev_need_ops_lock</c> is checked right after the
/// device lookup) the kernel refuses first with EOPNOTSUPP, so from there on the kernel is asked.
/// </remarks>
public static class DevmemDrivers
{
    /// <summary>The first kernel whose bind-rx checks the queue API before it touches the dma-buf (inferred, see remarks).</summary>
    public static Version SafeBindCheckKernel { get; } = new(6, 15);

    /// <summary>The newest kernel the table was checked against (Debian's 7.3.4); for newer kernels a "no queue API" entry may be stale, so the kernel is asked.</summary>
    public static Version LastCheckedKernel { get; } = new(7, 3);

    /// <summary>The kernel this process runs on (from <c>/proc/sys/kernel/osrelease</c>), as major.minor.</summary>
    public static Version RunningKernel { get; } = ParseRelease(KernelFiles.KernelRelease);

    /// <summary>Looks <paramref name="driver"/> up for <paramref name="kernel"/>.</summary>
    /// <param name="driver">The driver's name as ETHTOOL_GDRVINFO reports it.</param>
    /// <param name="kernel">The kernel version (major.minor).</param>
    /// <returns>What the table says.</returns>
    public static DriverRxSupport Lookup(string? driver, Version kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        bool k612 = kernel < new Version(6, 13);
        bool k7 = kernel >= new Version(7, 0);
        DriverRxSupport known = driver switch
        {
            "testnic" => DriverRxSupport.TestNic,
            "bnxt_en" or "gve" when k612 => DriverRxSupport.NoUnreadablePool,
            "bnxt_en" or "gve" or "mlx5_core" or "fbnic" when k7 => DriverRxSupport.Supported,
            "virtio_net" or "veth" or "loopback" or "e1000" or "e1000e" or "igb" or "ixgbe" or "tun" or "bridge" or "bonding" or "dummy" or "macvlan" or "ipvlan" or "vxlan" or "geneve" or "wireguard"
                => DriverRxSupport.NoQueueApi,
            "mlx5_core" or "fbnic" or "bnge" or "netdevsim" when k612 => DriverRxSupport.NoQueueApi,
            "bnge" when k7 => DriverRxSupport.NoQueueApi,
            _ => DriverRxSupport.Unknown,
        };
        return known == DriverRxSupport.NoQueueApi && kernel > LastCheckedKernel ? DriverRxSupport.Unknown : known;
    }

    /// <summary>
    /// Whether to send bind-rx for <paramref name="driver"/> on <paramref name="kernel"/> at all: not
    /// when the table knows the driver has no queue API (nothing to gain, and a WARN on 6.12); for a
    /// driver the table does not know, only where the kernel checks the queue API before attaching the
    /// dma-buf.
    /// </summary>
    /// <param name="driver">The driver's name.</param>
    /// <param name="kernel">The kernel version.</param>
    /// <returns>True when bind-rx may be sent.</returns>
    public static bool KernelMayBeAsked(string? driver, Version kernel) => Lookup(driver, kernel) switch
    {
        DriverRxSupport.NoQueueApi => false,
        DriverRxSupport.Unknown => kernel >= SafeBindCheckKernel,
        _ => true,
    };

    /// <summary>"6.12.117+deb13-amd64" → 6.12.</summary>
    /// <param name="release">A kernel release string.</param>
    /// <returns>Its major.minor, or 0.0 when it cannot be read.</returns>
    public static Version ParseRelease(string release)
    {
        ArgumentNullException.ThrowIfNull(release);
        string[] parts = release.Split('.', 3);
        if (parts.Length >= 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major))
        {
            string minor = new([.. parts[1].TakeWhile(char.IsAsciiDigit)]);
            if (int.TryParse(minor, NumberStyles.None, CultureInfo.InvariantCulture, out int m))
            {
                return new Version(major, m);
            }
        }

        return new Version(0, 0);
    }
}
