using System.Text;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;

namespace Devmem.Diagnostics;

/// <summary>The outcome of one doctor check.</summary>
public enum DoctorStatus
{
    /// <summary>✓: fine for devmem RX.</summary>
    Pass,

    /// <summary>✗: makes devmem RX impossible until fixed.</summary>
    Fail,

    /// <summary>!: a problem or a missing extra that does not by itself stop devmem RX.</summary>
    Warn,

    /// <summary>–: does not apply here (the fact is absent, or the kernel cannot tell).</summary>
    NotApplicable,
}

/// <summary>One check: what was looked at, what was found, and the fix in one line.</summary>
/// <param name="Id">Stable identifier (used in the JSON), e.g. "queue-api".</param>
/// <param name="Title">Short human name, e.g. "queue management API".</param>
/// <param name="Status">The outcome.</param>
/// <param name="Detail">What was found, and where from (kernel reply, sysfs, driver table).</param>
/// <param name="Fix">What to do, in one line; null when nothing is to be done.</param>
public sealed record DoctorCheck(string Id, string Title, DoctorStatus Status, string Detail, string? Fix = null);

/// <summary>Whether a device has what bind-rx needs from its driver: the queue management API and a page pool that takes unreadable memory.</summary>
public enum QueueApiSupport
{
    /// <summary>Known to have it.</summary>
    Yes,

    /// <summary>Known not to have it.</summary>
    No,

    /// <summary>Neither the kernel (probe) nor the driver table can tell.</summary>
    Unknown,
}

/// <summary>One RX queue that already has a memory provider or an AF_XDP socket (netdev queue-get).</summary>
/// <param name="Id">The queue id.</param>
/// <param name="DmabufBindingId">The dma-buf binding id bound to it, if any.</param>
/// <param name="IoUring">True when io_uring zero-copy RX holds it.</param>
/// <param name="Xsk">True when an AF_XDP socket holds it.</param>
public sealed record DoctorRxQueueInUse(uint Id, uint? DmabufBindingId, bool IoUring, bool Xsk);

/// <summary>What the doctor found about the host: kernel, netdev family, dma-buf providers, privilege.</summary>
/// <param name="KernelRelease">uname -r.</param>
/// <param name="NetdevFamily">Whether the kernel has the netdev generic netlink family.</param>
/// <param name="NetdevOperations">The devmem-related netdev ops (bind-rx, bind-tx, napi-set, queue-create) and whether the kernel has each.</param>
/// <param name="RxPageSize">Whether bind-rx accepts rx-page-size (7.3+), from the op's policy; null when the kernel cannot tell.</param>
/// <param name="Udmabuf">Whether /dev/udmabuf exists.</param>
/// <param name="UdmabufSizeLimitBytes">udmabuf's size_limit_mb in bytes; null when not readable.</param>
/// <param name="DmaHeaps">The heaps under /dev/dma_heap.</param>
/// <param name="CudaDmabufDevices">CUDA devices that can export dma-bufs.</param>
/// <param name="CudaReason">What the CUDA probe found.</param>
/// <param name="CapNetAdmin">Whether the process has CAP_NET_ADMIN in its effective set.</param>
/// <param name="Checks">The host's checks, in order.</param>
public sealed record DoctorHostReport(
    string KernelRelease,
    bool NetdevFamily,
    IReadOnlyDictionary<string, bool> NetdevOperations,
    bool? RxPageSize,
    bool Udmabuf,
    long? UdmabufSizeLimitBytes,
    IReadOnlyList<string> DmaHeaps,
    IReadOnlyList<int> CudaDmabufDevices,
    string CudaReason,
    bool CapNetAdmin,
    IReadOnlyList<DoctorCheck> Checks)
{
    /// <summary>True when no host check failed.</summary>
    public bool DevmemRxPossible => Checks.All(c => c.Status != DoctorStatus.Fail);
}

/// <summary>What the doctor found about one network device.</summary>
/// <param name="Name">Interface name.</param>
/// <param name="Ifindex">Interface index.</param>
/// <param name="Driver">The driver's name; null for a device without one (loopback).</param>
/// <param name="DriverSource">"sysfs" (the parent device's driver link) or "ethtool" (ETHTOOL_GDRVINFO); null without a driver.</param>
/// <param name="ParentDevice">Whether the device has a parent device (a DMA device); null when sysfs cannot tell (another network namespace).</param>
/// <param name="RxQueues">RX queues (netdev queue-get).</param>
/// <param name="TxQueues">TX queues (netdev queue-get).</param>
/// <param name="Channels">ethtool channels, or null when the driver has none.</param>
/// <param name="QueueApi">Whether the driver has what bind-rx needs.</param>
/// <param name="QueueApiSource">"probe", "driver-table" or "probe+driver-table".</param>
/// <param name="TcpDataSplit">Header split state (ethtool rings); null when the driver has no ring parameters.</param>
/// <param name="HdsThreshold">hds-thresh; null when not reported.</param>
/// <param name="NtupleSupported">Whether the device has ntuple flow steering (feature rx-ntuple-filter, ethtool's "ntuple-filters"); null when unknown.</param>
/// <param name="NtupleEnabled">Whether it is on; null when unknown.</param>
/// <param name="RssTableSize">RSS indirection table size; null when unknown, 0 for none.</param>
/// <param name="Xdp">XDP attach state (rtnetlink IFLA_XDP).</param>
/// <param name="BoundQueues">RX queues that already have a memory provider or AF_XDP socket.</param>
/// <param name="Checks">The device's checks, in order.</param>
public sealed record DoctorInterfaceReport(
    string Name,
    int Ifindex,
    string? Driver,
    string? DriverSource,
    bool? ParentDevice,
    int RxQueues,
    int TxQueues,
    EthtoolChannels? Channels,
    QueueApiSupport QueueApi,
    string QueueApiSource,
    EthtoolTcpDataSplit? TcpDataSplit,
    uint? HdsThreshold,
    bool? NtupleSupported,
    bool? NtupleEnabled,
    int? RssTableSize,
    XdpAttachMode Xdp,
    IReadOnlyList<DoctorRxQueueInUse> BoundQueues,
    IReadOnlyList<DoctorCheck> Checks)
{
    /// <summary>True when no check of this device failed (the host's are not included).</summary>
    public bool DeviceReady => Checks.All(c => c.Status != DoctorStatus.Fail);

    /// <summary>
    /// Whether io_uring zcrx can take a queue of this device, concluded from the device's checks: zcrx
    /// needs from the NIC what devmem RX needs (net/core/netdev_rx_queue.c <c>netif_mp_open_rxq</c>:
    /// queue API, header split, hds-thresh 0, no XDP, a free queue; io_uring/zcrx.c: a DMA device).
    /// Null on a report not made by <see cref="DevmemDoctor.Examine"/>.
    /// </summary>
    public DoctorCheck? ZcrxCheck { get; init; }
}

/// <summary>What the doctor found about io_uring zero-copy receive (zcrx) on the host, asked of the kernel.</summary>
/// <param name="IoUringDisabled">/proc/sys/kernel/io_uring_disabled (0, 1 or 2); null where absent (before 6.6).</param>
/// <param name="IoUringGroup">/proc/sys/kernel/io_uring_group; null where absent.</param>
/// <param name="IoUring">Whether this process could create an io_uring as zcrx needs it (io_uring_setup with SINGLE_ISSUER and DEFER_TASKRUN).</param>
/// <param name="RecvZc">Whether the kernel has IORING_OP_RECV_ZC (IORING_REGISTER_PROBE, 6.15+); null when it could not be asked.</param>
/// <param name="DmabufAreas">Whether zcrx takes dma-buf areas (6.16+), by kernel version; null when there is no zcrx to ask.</param>
/// <param name="NoDevice">Whether the kernel registered a zcrx instance without a NIC (ZCRX_REG_NODEV, 7.2+); null when it could not be asked.</param>
/// <param name="Checks">The zcrx checks, in order.</param>
public sealed record DoctorZcrxReport(
    string? IoUringDisabled,
    string? IoUringGroup,
    bool IoUring,
    bool? RecvZc,
    bool? DmabufAreas,
    bool? NoDevice,
    IReadOnlyList<DoctorCheck> Checks)
{
    /// <summary>True when no zcrx host check failed.</summary>
    public bool ZcrxRxPossible => Checks.All(c => c.Status != DoctorStatus.Fail);
}

/// <summary>Everything <see cref="DevmemDoctor.Examine"/> found.</summary>
public sealed class DoctorReport
{
    internal DoctorReport(DoctorHostReport host, DoctorZcrxReport zcrx, IReadOnlyList<DoctorInterfaceReport> interfaces, string? ifname)
    {
        Host = host;
        Zcrx = zcrx;
        Interfaces = interfaces;
        Ifname = ifname;
    }

    /// <summary>The JSON schema version of <see cref="ToJson"/> (docs/doctor.md).</summary>
    public const int SchemaVersion = 1;

    /// <summary>The host's report.</summary>
    public DoctorHostReport Host { get; }

    /// <summary>What the host's kernel answered about io_uring zero-copy receive (zcrx).</summary>
    public DoctorZcrxReport Zcrx { get; }

    /// <summary>The devices examined: the one asked for, or all of the network namespace.</summary>
    public IReadOnlyList<DoctorInterfaceReport> Interfaces { get; }

    /// <summary>The interface asked for, or null for all.</summary>
    public string? Ifname { get; }

    /// <summary>Whether devmem RX is possible on this device (host and device checks all pass).</summary>
    /// <param name="device">One of <see cref="Interfaces"/>.</param>
    /// <returns>true if possible.</returns>
    public bool IsPossibleOn(DoctorInterfaceReport device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return Host.DevmemRxPossible && device.DeviceReady;
    }

    /// <summary>Devmem RX is possible on the interface asked for, or (without one) on some interface.</summary>
    public bool DevmemRxPossible => Interfaces.Any(IsPossibleOn);

    /// <summary>Whether io_uring zcrx is possible on this device (the zcrx host checks and the device's checks all pass).</summary>
    /// <param name="device">One of <see cref="Interfaces"/>.</param>
    /// <returns>true if possible.</returns>
    public bool IsZcrxPossibleOn(DoctorInterfaceReport device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return Zcrx.ZcrxRxPossible && device.ZcrxCheck?.Status == DoctorStatus.Pass;
    }

    /// <summary>io_uring zcrx on a NIC queue is possible on the interface asked for, or (without one) on some interface.</summary>
    public bool ZcrxRxPossible => Interfaces.Any(IsZcrxPossibleOn);

    /// <summary>
    /// A short explanation of io_uring zcrx here: where it is possible, or each failed zcrx host check,
    /// then each device's reason, with its fix; and whether zcrx without a NIC (NODEV) works.
    /// </summary>
    /// <returns>The text, lines separated by '\n', without a trailing newline.</returns>
    public string ExplainZcrx()
    {
        var sb = new StringBuilder();
        if (ZcrxRxPossible)
        {
            sb.Append("io_uring zcrx is possible on: ").AppendJoin(", ", Interfaces.Where(IsZcrxPossibleOn).Select(i => i.Name)).Append('.');
        }
        else
        {
            sb.Append(Ifname is null ? "io_uring zcrx is not possible on this host:" : $"io_uring zcrx is not possible on {Ifname}:");
            foreach (DoctorCheck c in Zcrx.Checks.Where(c => c.Status == DoctorStatus.Fail))
            {
                Line(sb, "host", c);
            }

            if (Zcrx.ZcrxRxPossible)
            {
                const int MaxDevices = 4;
                foreach (DoctorInterfaceReport d in Interfaces.Take(MaxDevices))
                {
                    if (d.ZcrxCheck is { Status: DoctorStatus.Fail } c)
                    {
                        Line(sb, d.Name, c);
                    }
                }

                if (Interfaces.Count > MaxDevices)
                {
                    sb.Append("\n  (and ").Append(Interfaces.Count - MaxDevices).Append(" more interfaces)");
                }
            }
        }

        if (Zcrx.NoDevice == true)
        {
            sb.Append("\nio_uring zcrx without a NIC (ZCRX_REG_NODEV, a copy) works on this kernel.");
        }

        return sb.ToString();
    }

    /// <summary>
    /// A short explanation (a few lines): where zero copy is possible, or what this host lacks for it —
    /// each failed host check, then the first failed check of each device, with its fix.
    /// </summary>
    /// <returns>The text, lines separated by '\n', without a trailing newline.</returns>
    public string Explain()
    {
        var sb = new StringBuilder();
        if (DevmemRxPossible)
        {
            sb.Append("Zero copy (devmem TCP RX) is possible on: ").AppendJoin(", ", Interfaces.Where(IsPossibleOn).Select(i => i.Name)).Append('.');
            return sb.ToString();
        }

        sb.Append(Ifname is null ? "Zero copy (devmem TCP RX) is not possible on this host:" : $"Zero copy (devmem TCP RX) is not possible on {Ifname}:");
        foreach (DoctorCheck c in Host.Checks.Where(c => c.Status == DoctorStatus.Fail))
        {
            Line(sb, "host", c);
        }

        const int MaxDevices = 4;
        foreach (DoctorInterfaceReport d in Interfaces.Take(MaxDevices))
        {
            // The queue API first: it is the reason that no setting can change.
            if ((d.Checks.FirstOrDefault(c => c.Status == DoctorStatus.Fail && c.Id == "queue-api") ??
                 d.Checks.FirstOrDefault(c => c.Status == DoctorStatus.Fail)) is DoctorCheck c)
            {
                Line(sb, d.Name, c);
            }
        }

        if (Interfaces.Count > MaxDevices)
        {
            sb.Append("\n  (and ").Append(Interfaces.Count - MaxDevices).Append(" more interfaces)");
        }

        if (Interfaces.Count == 0)
        {
            sb.Append("\n  no network interface in this network namespace");
        }

        return sb.ToString();
    }

    private static void Line(StringBuilder sb, string where, DoctorCheck c)
    {
        sb.Append("\n  ").Append(where).Append(": ").Append(c.Title).Append(": ").Append(c.Detail);
        if (c.Fix is not null)
        {
            sb.Append(" (fix: ").Append(c.Fix).Append(')');
        }
    }

    /// <summary>The report as JSON, in the stable schema documented in docs/doctor.md (version <see cref="SchemaVersion"/>).</summary>
    /// <returns>Indented JSON text.</returns>
    public string ToJson() => DoctorJson.Write(this);
}
