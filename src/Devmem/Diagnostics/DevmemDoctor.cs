using System.Globalization;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Setup;
using Devmem.Sys;
using Devmem.Zcrx;

namespace Devmem.Diagnostics;

/// <summary>
/// Says whether devmem TCP receive can work on this host and on each network device, and what to fix
/// when not: kernel, netdev family and its devmem ops, dma-buf providers, CAP_NET_ADMIN; per device its
/// driver, DMA parent, queues, queue management API, header split, hds-thresh, ntuple, RSS, XDP and
/// queues already bound. Everything is read-only: the queue API is probed with a bind-rx that cannot
/// bind (no dma-buf, no such queue), and where that probe cannot tell (6.12's netdev_nl_bind_rx_doit in
/// net/core/netdev-genl.c looks at the fd first) the driver table answers (<see cref="DevmemDrivers"/>).
/// Checks run in the calling thread's network namespace. Beside devmem RX it reports io_uring zero-copy
/// receive (<see cref="DoctorReport.Zcrx"/>): the kernel is asked through a small io_uring (its probe of
/// IORING_OP_RECV_ZC) and a NODEV zcrx instance registered and closed at once; dma-buf areas are
/// judged by the kernel version.
/// </summary>
public static class DevmemDoctor
{
    private const int CapNetAdmin = 12; // linux/capability.h

    /// <summary>Examines the host and one device, or every device of the network namespace.</summary>
    /// <param name="ifname">The device, or null for all.</param>
    /// <returns>The report. Environment failures become failed checks, never exceptions.</returns>
    /// <exception cref="ArgumentException">No device named <paramref name="ifname"/> in this network namespace.</exception>
    public static DoctorReport Examine(string? ifname = null)
    {
        IReadOnlyList<NetworkLink> links = RouteLinks.Dump();
        if (ifname is not null)
        {
            links = links.Where(l => l.Name == ifname).ToList();
            if (links.Count == 0)
            {
                throw new ArgumentException($"no interface named '{ifname}' in this network namespace (see 'ip link').", nameof(ifname));
            }
        }

        NetdevClient? netdev = null;
        EthtoolClient? ethtool = null;
        try
        {
            string? netdevError = null;
            try
            {
                netdev = NetdevClient.Open();
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                netdevError = e.Message;
            }

            try
            {
                ethtool = EthtoolClient.Open();
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                // Per-device checks say "ethtool unavailable".
            }

            DoctorHostReport host = ExamineHost(netdev, netdevError);
            Version kernel = DevmemDrivers.ParseRelease(host.KernelRelease);
            var devices = links.Select(l => DoctorDeviceChecks.Examine(l, netdev, ethtool, kernel))
                .Select(d => d with { ZcrxCheck = ZcrxDeviceCheck(d) }).ToList();
            DoctorZcrxReport zcrx = ExamineZcrx(host, kernel);
            return new DoctorReport(host, zcrx, devices, ifname);
        }
        finally
        {
            netdev?.Dispose();
            ethtool?.Dispose();
        }
    }

    /// <summary>
    /// The short explanation of what this host lacks for zero copy (or where it is possible), for
    /// programs that fell back to copying, such as <c>ncdevmem --demo</c>. Never throws.
    /// </summary>
    /// <param name="ifname">One device, or null for all.</param>
    /// <returns>A few lines of text, without a trailing newline.</returns>
    public static string Explain(string? ifname = null)
    {
        try
        {
            return Examine(ifname).Explain();
        }
        catch (Exception e) when (IsEnvironment(e) || e is ArgumentException)
        {
            return "The devmem doctor could not examine this host: " + e.Message;
        }
    }

    internal static bool IsEnvironment(Exception e) =>
        e is IOException or UnauthorizedAccessException or NetlinkNotSupportedException or DmabufException or InvalidOperationException;

    // ---- host ------------------------------------------------------------------------------------

    private static DoctorHostReport ExamineHost(NetdevClient? netdev, string? netdevError)
    {
        var checks = new List<DoctorCheck>();
        string release = KernelFiles.KernelRelease;
        Version kernel = DevmemDrivers.ParseRelease(release);
        checks.Add(kernel >= DevmemInfo.MinimumKernelRx
            ? new("kernel", "kernel", DoctorStatus.Pass, $"Linux {release} (devmem RX needs {DevmemInfo.MinimumKernelRx}, TX {DevmemInfo.MinimumKernelTx})")
            : new("kernel", "kernel", DoctorStatus.Fail, $"Linux {release}: devmem RX needs {DevmemInfo.MinimumKernelRx} or newer", $"boot Linux {DevmemInfo.MinimumKernelRx}+ built with CONFIG_NET_DEVMEM"));

        var ops = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool? rxPageSize = null;
        if (netdev is null)
        {
            checks.Add(new("netdev-family", "netdev netlink family", DoctorStatus.Fail, netdevError ?? "not available", "Linux 6.12+ (the netdev family is 6.3+, bind-rx 6.12)"));
        }
        else
        {
            checks.Add(new("netdev-family", "netdev netlink family", DoctorStatus.Pass, $"id {netdev.Family.Id}, {netdev.Family.Operations.Count} operations"));
            foreach ((string op, string since, bool needed, string use) in (ReadOnlySpan<(string, string, bool, string)>)[
                ("bind-rx", "6.12", true, "devmem RX"), ("bind-tx", "6.16", false, "devmem TX"),
                ("napi-set", "6.13", false, "NAPI tuning"), ("queue-create", "7.0", false, "queue leasing to netkit")])
            {
                bool has = netdev.Supports(op);
                ops[op] = has;
                checks.Add(has
                    ? new(op, $"netdev {op}", DoctorStatus.Pass, $"the kernel has {op} ({use})")
                    : new(op, $"netdev {op}", needed ? DoctorStatus.Fail : DoctorStatus.Warn, $"the kernel lacks {op} ({use}; Linux {since}+)",
                        needed ? "boot Linux 6.12+ built with CONFIG_NET_DEVMEM" : $"Linux {since}+ for {use}"));
            }

            if (ops["bind-rx"])
            {
                try
                {
                    rxPageSize = netdev.GetBindRxPolicy()?.Contains(Interop.Netdev.NETDEV_A_DMABUF_RX_PAGE_SIZE);
                }
                catch (Exception e) when (IsEnvironment(e))
                {
                    rxPageSize = null;
                }

                checks.Add(rxPageSize switch
                {
                    true => new("rx-page-size", "bind-rx rx-page-size", DoctorStatus.Pass, "bind-rx's policy accepts rx-page-size (niov larger than a page)"),
                    false => new("rx-page-size", "bind-rx rx-page-size", DoctorStatus.Warn, "bind-rx's policy has no rx-page-size: fragments are at most one page", "Linux 7.3+ and a driver with rx-page-size (bnxt_en, mlx5_core) for larger niovs"),
                    null => new("rx-page-size", "bind-rx rx-page-size", DoctorStatus.NotApplicable, "cannot tell: the kernel does not answer per-op policy queries (nlctrl getpolicy)"),
                });
            }
        }

        // dma-buf providers: the devices that make them, without allocating anything.
        bool udmabuf = File.Exists(UdmabufMemory.DevicePath);
        long? limit = UdmabufMemory.ReadSizeLimit();
        List<string> heaps = Directory.Exists(DmaHeapMemory.HeapDirectory)
            ? Directory.GetFiles(DmaHeapMemory.HeapDirectory).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToList()
            : [];
        (IReadOnlyList<int> cudaDevices, string cudaReason) = CudaDriver.ProbeDmabufExport();
        bool anyProvider = udmabuf || heaps.Count > 0 || cudaDevices.Count > 0;
        checks.Add(udmabuf
            ? new("udmabuf", "udmabuf", DoctorStatus.Pass, $"{UdmabufMemory.DevicePath}, buffers up to {(limit is long l ? UdmabufMemory.FormatBytes(l) : "? (size_limit_mb unreadable)")}")
            : new("udmabuf", "udmabuf", anyProvider ? DoctorStatus.Warn : DoctorStatus.Fail,
                $"no {UdmabufMemory.DevicePath}{(anyProvider ? "" : ", and no other dma-buf provider: nothing to bind")}",
                "modprobe udmabuf, or a kernel built with CONFIG_UDMABUF"));
        checks.Add(heaps.Count > 0
            ? new("dma-heap", "dma-heaps", DoctorStatus.Pass, $"{DmaHeapMemory.HeapDirectory}: {string.Join(", ", heaps)}")
            : new("dma-heap", "dma-heaps", DoctorStatus.Warn, $"no {DmaHeapMemory.HeapDirectory}", "a kernel built with CONFIG_DMABUF_HEAPS_SYSTEM (optional when udmabuf works)"));
        checks.Add(cudaDevices.Count > 0
            ? new("cuda", "CUDA dma-buf export", DoctorStatus.Pass, cudaReason)
            : new("cuda", "CUDA dma-buf export", DoctorStatus.Warn, cudaReason, "for GPU memory: an NVIDIA GPU (Turing+) with the open kernel modules and CUDA 11.7+"));

        bool cap = HasCapability(CapNetAdmin);
        checks.Add(cap
            ? new("cap-net-admin", "CAP_NET_ADMIN", DoctorStatus.Pass, "effective (bind-rx and NIC setup need it)")
            : new("cap-net-admin", "CAP_NET_ADMIN", DoctorStatus.Fail, "not in the effective set (/proc/self/status CapEff): bind-rx answers EPERM", "run as root, or: sudo setcap cap_net_admin+ep PROGRAM"));

        return new DoctorHostReport(release, netdev is not null, ops, rxPageSize, udmabuf, limit, heaps, cudaDevices, cudaReason, cap, checks);
    }

    // ---- io_uring zcrx ----------------------------------------------------------------------------

    /// <summary>
    /// The kernel's answers about zcrx (<see cref="ZcrxProbe"/>): an io_uring as zcrx needs it (not
    /// disabled by io_uring_disabled), IORING_OP_RECV_ZC, dma-buf areas (by version), NODEV (registered
    /// and closed), and CAP_NET_ADMIN, which registering needs.
    /// </summary>
    private static DoctorZcrxReport ExamineZcrx(DoctorHostReport host, Version kernel)
    {
        ZcrxProbeResult p = ZcrxProbe.Run(kernel);
        string release = host.KernelRelease;
        string sysctl = p.IoUringDisabled switch
        {
            null => "/proc/sys/kernel/io_uring_disabled absent (before 6.6)",
            "1" => $"/proc/sys/kernel/io_uring_disabled is 1 (root and group {p.IoUringGroup ?? "?"} only, /proc/sys/kernel/io_uring_group)",
            string v => $"/proc/sys/kernel/io_uring_disabled is {v}",
        };
        var checks = new List<DoctorCheck>();
        const string IoUringTitle = "io_uring";
        checks.Add(p.RingError switch
        {
            null => new("io-uring", IoUringTitle, DoctorStatus.Pass, $"io_uring_setup works (SINGLE_ISSUER, DEFER_TASKRUN, 32-byte CQEs); {sysctl}"),
            ZcrxException { Unsupported: ZcrxUnsupportedReason.NoIoUring } e => new("io-uring", IoUringTitle, DoctorStatus.Fail,
                $"io_uring_setup: {e.Errno.Describe()}: the kernel has no io_uring", "a kernel built with CONFIG_IO_URING"),
            ZcrxException { Unsupported: ZcrxUnsupportedReason.IoUringDisabled } e => new("io-uring", IoUringTitle, DoctorStatus.Fail,
                $"io_uring is disabled: io_uring_setup: {e.Errno.Describe()}; {sysctl}", e.Hint),
            ZcrxException { Unsupported: ZcrxUnsupportedReason.KernelTooOld } e => new("io-uring", IoUringTitle, DoctorStatus.Fail,
                $"io_uring_setup refused the ring zcrx needs: {e.Errno.Describe()}: zcrx needs 6.15", "boot Linux 6.15+"),
            DevmemIOException e => new("io-uring", IoUringTitle, DoctorStatus.Fail, CliLine(e.Message), e.Hint),
        });
        const string RecvZcTitle = "io_uring RECV_ZC";
        checks.Add(p.RecvZc switch
        {
            true => new("recv-zc", RecvZcTitle, DoctorStatus.Pass, "the kernel has IORING_OP_RECV_ZC (IORING_REGISTER_PROBE)"),
            false => new("recv-zc", RecvZcTitle, DoctorStatus.Fail, $"Linux {release} has io_uring but no IORING_OP_RECV_ZC (IORING_REGISTER_PROBE): zcrx needs 6.15", "boot Linux 6.15+"),
            null when p.RingError is not null => new("recv-zc", RecvZcTitle, DoctorStatus.NotApplicable, "cannot tell: no io_uring to probe"),
            null => new("recv-zc", RecvZcTitle, DoctorStatus.Fail, "IORING_REGISTER_PROBE failed: cannot tell whether the kernel has IORING_OP_RECV_ZC"),
        });
        const string DmabufTitle = "zcrx dma-buf areas";
        checks.Add(p.DmabufAreas switch
        {
            true => new("zcrx-dmabuf", DmabufTitle, DoctorStatus.Pass, $"Linux {release} takes dma-buf areas (6.16+; by kernel version, not asked)"),
            false => new("zcrx-dmabuf", DmabufTitle, DoctorStatus.Warn, $"Linux {release}: host memory areas only, dma-buf areas need 6.16 (by kernel version, not asked)", "Linux 6.16+ for zcrx into a dma-buf (GPU memory, udmabuf)"),
            null => new("zcrx-dmabuf", DmabufTitle, DoctorStatus.NotApplicable, "no zcrx here"),
        });
        const string NodevTitle = "zcrx without a NIC";
        checks.Add((p.RecvZc, p.NoDevice) switch
        {
            (true, true) => new("zcrx-nodev", NodevTitle, DoctorStatus.Pass, $"ZCRX_REG_NODEV: {p.NoDeviceDetail}"),
            (true, false) => new("zcrx-nodev", NodevTitle, DoctorStatus.Warn, $"the kernel refused ZCRX_REG_NODEV ({p.NoDeviceDetail}): zcrx without a NIC needs 7.2", "Linux 7.2+ for zcrx without a NIC (ZcrxOptions.NoDevice; a copy, not zero copy)"),
            (true, null) => new("zcrx-nodev", NodevTitle, DoctorStatus.Warn, "cannot tell: " + CliLine(p.NoDeviceDetail)),
            _ => new("zcrx-nodev", NodevTitle, DoctorStatus.NotApplicable, "no zcrx here"),
        });
        checks.Add(host.Checks.Single(c => c.Id == "cap-net-admin") with
        {
            Detail = host.CapNetAdmin ? "effective (registering a zcrx instance needs it)" : "not in the effective set (/proc/self/status CapEff): IORING_REGISTER_ZCRX_IFQ answers EPERM",
        });
        return new DoctorZcrxReport(p.IoUringDisabled, p.IoUringGroup, p.RingError is null, p.RecvZc, p.DmabufAreas, p.NoDevice, checks);
    }

    /// <summary>
    /// zcrx on a NIC queue needs from the device exactly what devmem RX needs (the memory-provider path
    /// net/core/netdev_rx_queue.c <c>netif_mp_open_rxq</c>: queue API, header split, hds-thresh 0, no XDP,
    /// a free queue; io_uring/zcrx.c: a DMA device; flow steering to the queue): the device's own checks decide.
    /// </summary>
    internal static DoctorCheck ZcrxDeviceCheck(DoctorInterfaceReport d)
    {
        const string Title = "io_uring zcrx";
        DoctorCheck? blocker = d.Checks.FirstOrDefault(c => c.Status == DoctorStatus.Fail && c.Id == "queue-api") ??
            d.Checks.FirstOrDefault(c => c.Status == DoctorStatus.Fail);
        return blocker is null
            ? new("zcrx", Title, DoctorStatus.Pass, "the device passes what a zcrx queue needs, the same as devmem RX (queue API, DMA device, header split, hds-thresh 0, no XDP, a free RX queue)")
            : new("zcrx", Title, DoctorStatus.Fail, $"not possible, for the same reason as devmem RX: {blocker.Title}: {blocker.Detail}", blocker.Fix);
    }

    private static string CliLine(string s) => s.ReplaceLineEndings(" ");

    /// <summary>Whether bit <paramref name="capability"/> is in CapEff of /proc/self/status (proc(5)).</summary>
    internal static bool HasCapability(int capability)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal) &&
                    ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong caps))
                {
                    return (caps & (1UL << capability)) != 0;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return false;
    }
}
