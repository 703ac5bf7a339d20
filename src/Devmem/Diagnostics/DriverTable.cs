namespace Devmem.Diagnostics;

/// <summary>What a driver offers bind-rx, as the kernel source says (kernel-api.md §7).</summary>
internal enum DriverRx
{
    /// <summary>Queue API and a page pool that takes unreadable memory.</summary>
    Yes,

    /// <summary>Yes, under a condition the note names.</summary>
    Conditional,

    /// <summary>Queue API, but page pools without PP_FLAG_ALLOW_UNREADABLE_NETMEM: bind-rx ends in ENODATA.</summary>
    NoUnreadablePool,

    /// <summary>No queue management API: bind-rx EOPNOTSUPP.</summary>
    NoQueueApi,

    /// <summary>Not in the table: no in-tree queue API, unless the driver is out of tree or newer than the table.</summary>
    Unlisted,
}

/// <summary>
/// The driver table, from grepping the kernel's drivers/ for <c>queue_mgmt_ops</c>,
/// <c>PP_FLAG_ALLOW_UNREADABLE_NETMEM</c> and <c>netmem_tx</c> in Debian's 6.12.117 and 7.x sources
/// (kernel-api.md §7). Kernels between 6.12 and 7.0 were not checked: they get the 7.x row, said so.
/// </summary>
internal static class DriverTable
{
    private const string TestnicNote = "the project's software test NIC (tests/testnic): proves the kernel path, not hardware";

    // Driver names as sysfs and ethtool -i spell them.
    private static readonly Dictionary<string, (DriverRx Rx, string Note)> s_612 = new(StringComparer.Ordinal)
    {
        ["bnxt_en"] = (DriverRx.NoUnreadablePool, "bnxt_en has queue ops in 6.12 but no unreadable page pool (bind-rx ENODATA)"),
        ["gve"] = (DriverRx.NoUnreadablePool, "gve has queue ops in 6.12 but no unreadable page pool (bind-rx ENODATA)"),
        ["testnic"] = (DriverRx.Yes, TestnicNote),
    };

    private static readonly Dictionary<string, (DriverRx Rx, string Note)> s_7x = new(StringComparer.Ordinal)
    {
        ["bnxt_en"] = (DriverRx.Conditional, "bnxt_en: when BNXT_SUPPORTS_QUEUE_API holds (PF, ntuple VNIC, firmware VNIC_RE_FLUSH), else EOPNOTSUPP"),
        ["gve"] = (DriverRx.Conditional, "gve: with the DQO queue format and header split"),
        ["mlx5_core"] = (DriverRx.Conditional, "mlx5_core: while SHAMPO (HW-GRO header-data split) is active, else bind-rx ENODATA"),
        ["fbnic"] = (DriverRx.Yes, "fbnic supports devmem RX"),
        ["testnic"] = (DriverRx.Yes, TestnicNote),
        ["netdevsim"] = (DriverRx.NoUnreadablePool, "netdevsim has queue ops but plain page pools (bind-rx ENODATA)"),
        ["bnge"] = (DriverRx.NoQueueApi, "bnge sets the page-pool flag but has no queue ops"),
        ["netkit"] = (DriverRx.NoQueueApi, "netkit only leases queues (queue-create): bind on the physical device"),
    };

    /// <summary>Looks a driver up for the running kernel.</summary>
    /// <param name="driver">The driver's name, or null for a device without one.</param>
    /// <param name="kernel">The running kernel's major.minor.</param>
    /// <returns>The verdict and a one-line note citing where it comes from.</returns>
    public static (DriverRx Rx, string Note) Lookup(string? driver, Version kernel)
    {
        if (driver is null)
        {
            return (DriverRx.NoQueueApi, "a device without a driver (loopback) has no queue management API");
        }

        bool six12 = kernel < new Version(6, 13);
        string between = !six12 && kernel < new Version(7, 0) ? $" (table checked on 6.12 and 7.x; {kernel} lies between, 7.x row used)" : "";
        if ((six12 ? s_612 : s_7x).TryGetValue(driver, out (DriverRx Rx, string Note) e))
        {
            return (e.Rx, e.Note + between);
        }

        if (six12)
        {
            // No in-tree 6.12 driver sets PP_FLAG_ALLOW_UNREADABLE_NETMEM (kernel-api.md §7).
            return (DriverRx.NoQueueApi, $"no in-tree driver of Linux 6.12 can take a dma-buf ({driver} included); devmem RX drivers are bnxt_en, gve, mlx5_core and fbnic on 7.x");
        }

        // Every in-tree driver with queue_mgmt_ops is listed above (grep of the 7.3 drivers/), so an
        // unlisted one has none, unless it is out of tree or newer than the table: Unlisted says so.
        return (DriverRx.Unlisted, $"{driver} has no queue_mgmt_ops among the kernel's own drivers (7.3 source){between}");
    }
}
