using System.Globalization;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Setup;

namespace Devmem.Diagnostics;

/// <summary>
/// Says whether devmem TCP receive can work on this host and on each network device, and what to fix
/// when not: kernel, netdev family and its devmem ops, dma-buf providers, CAP_NET_ADMIN; per device its
/// driver, DMA parent, queues, queue management API, header split, hds-thresh, ntuple, RSS, XDP and
/// queues already bound. Everything is read-only: the queue API is probed with a bind-rx that cannot
/// bind (no dma-buf, no such queue), and where that probe cannot tell (6.12 looks at the fd first) the
/// driver table answers (kernel-api.md §7). Checks run in the calling thread's network namespace.
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
            var devices = links.Select(l => ExamineDevice(l, netdev, ethtool, kernel)).ToList();
            return new DoctorReport(host, devices, ifname);
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

    private static bool IsEnvironment(Exception e) =>
        e is IOException or UnauthorizedAccessException or NetlinkNotSupportedException or DmabufException or InvalidOperationException;

    // ---- host ------------------------------------------------------------------------------------

    private static DoctorHostReport ExamineHost(NetdevClient? netdev, string? netdevError)
    {
        var checks = new List<DoctorCheck>();
        string release = KernelRelease();
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

    private static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Environment.OSVersion.Version.ToString();
        }
    }

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

    // ---- devices ---------------------------------------------------------------------------------

    private static DoctorInterfaceReport ExamineDevice(NetworkLink link, NetdevClient? netdev, EthtoolClient? ethtool, Version kernel)
    {
        var checks = new List<DoctorCheck>();
        string name = link.Name;

        // Driver and parent: sysfs when /sys/class/net/NAME is this device (sysfs shows the network
        // namespace it was mounted in), else ETHTOOL_GDRVINFO, which also names the driver of a device
        // whose parent has no bound driver (testnic's platform device).
        string sys = "/sys/class/net/" + name;
        bool sysfsIsThisDevice = ReadInt(sys + "/ifindex") == link.Ifindex;
        bool? parent = sysfsIsThisDevice ? Directory.Exists(sys + "/device") : null;
        string? driver = null, driverSource = null;
        if (sysfsIsThisDevice && parent == true && LinkTarget(sys + "/device/driver") is string d)
        {
            driver = d;
            driverSource = "sysfs";
        }
        else if (ethtool is not null)
        {
            try
            {
                (string drv, string bus) = ethtool.GetDriverInfo(name);
                if (drv.Length > 0)
                {
                    driver = drv;
                    driverSource = "ethtool";
                    parent ??= bus.Length > 0;
                }
            }
            catch (EthtoolIoctlException)
            {
                // EOPNOTSUPP: no ethtool driver info at all (loopback).
            }
        }

        checks.Add(driver is not null
            ? new("driver", "driver", DoctorStatus.Pass, $"{driver} ({(driverSource == "sysfs" ? $"{sys}/device/driver" : "ethtool -i")})")
            : new("driver", "driver", DoctorStatus.NotApplicable, "none: a virtual device without a driver"));
        checks.Add(parent switch
        {
            true => new("parent-device", "parent (DMA) device", DoctorStatus.Pass, sysfsIsThisDevice ? $"{sys}/device → {LinkTarget(sys + "/device") ?? "?"}" : "ethtool reports a bus address"),
            false => new("parent-device", "parent (DMA) device", DoctorStatus.Fail, "none: the dma-buf is mapped for the NIC's DMA device, and a virtual device has none", "use a physical NIC whose driver supports devmem"),
            null => new("parent-device", "parent (DMA) device", DoctorStatus.NotApplicable, "cannot tell: sysfs shows another network namespace"),
        });

        // Queues: netdev queue-get, and ethtool channels for the counts the driver reports.
        int rx = 0, tx = 0;
        var bound = new List<DoctorRxQueueInUse>();
        EthtoolChannels? channels = null;
        string? queueError = null;
        if (netdev is not null)
        {
            try
            {
                foreach (NetdevQueueInfo q in Retry(() => netdev.GetQueues(link.Ifindex)))
                {
                    if (q.Type == NetdevQueueType.Rx)
                    {
                        rx++;
                        if (q.DmabufId is not null || q.HasIoUring || q.HasXsk)
                        {
                            bound.Add(new DoctorRxQueueInUse(q.Id, q.DmabufId, q.HasIoUring, q.HasXsk));
                        }
                    }
                    else
                    {
                        tx++;
                    }
                }
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                queueError = e.Message;
            }
        }

        if (ethtool is not null)
        {
            try
            {
                channels = ethtool.GetChannels(name);
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                channels = null; // EOPNOTSUPP: the driver reports no channels
            }
        }

        string channelText = channels is null ? "ethtool channels: none" :
            $"ethtool channels: rx {Opt(channels.RxCount)}, tx {Opt(channels.TxCount)}, combined {Opt(channels.CombinedCount)} (max {Opt(channels.CombinedMax ?? channels.RxMax)})";
        checks.Add(queueError is not null
            ? new("queues", "queues", DoctorStatus.Fail, "netdev queue-get failed: " + queueError)
            : rx switch
            {
                0 => new("queues", "queues", DoctorStatus.Fail, $"no RX queue (netdev queue-get); {channelText}", "a NIC with RX queues"),
                1 => new("queues", "queues", DoctorStatus.Warn, $"1 RX, {tx} TX (netdev queue-get); {channelText}: the bound queue would take all traffic",
                    $"ethtool -L {name} rx 2 (or combined 2) to keep other flows off the devmem queue"),
                _ => new("queues", "queues", DoctorStatus.Pass, $"{rx} RX, {tx} TX (netdev queue-get); {channelText}"),
            });

        // Queue management API: probe, then the driver table.
        (QueueApiSupport api, string apiSource, DoctorCheck apiCheck) = QueueApi(link, netdev, driver, kernel);
        checks.Add(apiCheck);

        // Header split and hds-thresh (ethtool rings).
        EthtoolTcpDataSplit? split = null;
        uint? hds = null;
        string? ringsError = null;
        if (ethtool is not null)
        {
            try
            {
                EthtoolRings rings = ethtool.GetRings(name);
                split = rings.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown;
                hds = rings.HdsThresh;
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                ringsError = e is NetlinkException n ? n.ErrnoName : e.Message;
            }
        }
        else
        {
            ringsError = "the ethtool netlink family is not available";
        }

        checks.Add(split switch
        {
            EthtoolTcpDataSplit.Enabled => new("header-split", "header split", DoctorStatus.Pass, "tcp-data-split enabled (ethtool rings)"),
            EthtoolTcpDataSplit.Disabled => new("header-split", "header split", DoctorStatus.Fail, "tcp-data-split disabled (ethtool rings): bind-rx refuses",
                $"ethtool -G {name} tcp-data-split on"),
            EthtoolTcpDataSplit.Unknown => new("header-split", "header split", DoctorStatus.Fail, "tcp-data-split not reported (unknown/auto): the driver may not support header split",
                $"ethtool -G {name} tcp-data-split on (\"not supported\" means the NIC cannot)"),
            _ => new("header-split", "header split", DoctorStatus.Fail, $"no ring parameters ({ringsError}): no header split", "a NIC whose driver supports tcp-data-split"),
        });
        checks.Add(hds switch
        {
            0 => new("hds-thresh", "hds-thresh", DoctorStatus.Pass, "0 (ethtool rings)"),
            uint h => new("hds-thresh", "hds-thresh", DoctorStatus.Fail, $"{h}: bind-rx needs 0 (\"hds-thresh is not zero\")", $"ethtool -G {name} hds-thresh 0"),
            null => new("hds-thresh", "hds-thresh", DoctorStatus.NotApplicable, "not reported (before Linux 6.14, or the driver has none)"),
        });

        // ntuple (ethtool features): flow steering puts the devmem flow on the bound queue.
        bool? ntupleSupported = null, ntupleOn = null;
        string? featuresError = null;
        if (ethtool is not null)
        {
            try
            {
                EthtoolFeatures f = ethtool.GetFeatures(name);
                ntupleSupported = f.Supports(EthtoolFeatures.Ntuple);
                ntupleOn = f.Active.Contains(EthtoolFeatures.Ntuple);
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                featuresError = e.Message;
            }
        }

        checks.Add((ntupleSupported, ntupleOn) switch
        {
            (true, true) => new("ntuple", "ntuple flow steering", DoctorStatus.Pass, "on (ethtool features: rx-ntuple-filter)"),
            (true, _) => new("ntuple", "ntuple flow steering", DoctorStatus.Warn, "supported but off (rx-ntuple-filter): flow rules may be refused", $"ethtool -K {name} ntuple on"),
            (false, _) => new("ntuple", "ntuple flow steering", DoctorStatus.Fail, "not supported (no rx-ntuple-filter feature): a devmem flow cannot be steered to the bound queue", "a NIC with ntuple flow steering"),
            _ => new("ntuple", "ntuple flow steering", DoctorStatus.Warn, "unknown: " + (featuresError ?? "ethtool unavailable")),
        });

        // RSS: the indirection table keeps other flows off the bound queue.
        int? rss = null;
        if (ethtool is not null)
        {
            try
            {
                rss = ethtool.GetRss(name).Indirection.Count;
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                rss = null;
            }
        }

        checks.Add(rss switch
        {
            > 0 => new("rss", "RSS", DoctorStatus.Pass, $"indirection table of {rss} entries (ethtool rss)"),
            _ => new("rss", "RSS", DoctorStatus.Warn, rss == 0 ? "no RSS indirection table" : "no RSS (ethtool rss-get refused)",
                "without RSS other flows cannot be kept off the bound queue (they would get EFAULT)"),
        });

        checks.Add(link.Xdp == XdpAttachMode.None
            ? new("xdp", "XDP", DoctorStatus.Pass, "no XDP program attached (rtnetlink IFLA_XDP)")
            : new("xdp", "XDP", DoctorStatus.Fail, $"XDP program {Opt(link.XdpProgramId)} attached ({DoctorJson.Xdp(link.Xdp)}): bind-rx refuses with EEXIST",
                $"ip link set dev {name} {(link.Xdp switch { XdpAttachMode.Generic => "xdpgeneric", XdpAttachMode.Offload => "xdpoffload", _ => "xdp" })} off"));

        string boundText = string.Join(", ", bound.Select(b => $"{b.Id} ({(b.DmabufBindingId is uint id ? $"dma-buf binding {id}" : b.IoUring ? "io_uring" : "AF_XDP")})"));
        checks.Add(bound.Count == 0
            ? new("bound-queues", "queues already bound", DoctorStatus.Pass, rx > 0 ? "none (netdev queue-get)" : "none")
            : bound.Count >= rx
                ? new("bound-queues", "queues already bound", DoctorStatus.Fail, $"every RX queue is taken: {boundText}", "close the program holding the binding (it ends with its netlink socket)")
                : new("bound-queues", "queues already bound", DoctorStatus.Warn, $"RX queue(s) {boundText} taken; the others are free", "bind another queue, or close the program holding the binding"));

        return new DoctorInterfaceReport(name, link.Ifindex, driver, driverSource, parent, rx, tx, channels, api, apiSource, split, hds,
            ntupleSupported, ntupleOn, rss, link.Xdp, bound, checks);
    }

    private static (QueueApiSupport, string, DoctorCheck) QueueApi(NetworkLink link, NetdevClient? netdev, string? driver, Version kernel)
    {
        const string Id = "queue-api", Title = "queue management API";
        const string FixNic = "use a NIC whose driver supports devmem RX (bnxt_en, gve, mlx5_core, fbnic on Linux 7.x)";
        DriverRxSupport table = driver is null ? DriverRxSupport.NoQueueApi : DevmemDrivers.Lookup(driver, kernel);
        string note = DriverNote(driver, table, kernel);
        string who = driver ?? link.Name;

        // The probe (NetdevClient.ProbeBindRx): only 6.15+ kernels answer it before the fd.
        NetlinkException? refusal = null;
        string? probeProblem = null;
        if (netdev is null || !netdev.Supports("bind-rx"))
        {
            probeProblem = "the kernel has no bind-rx";
        }
        else
        {
            try
            {
                refusal = netdev.ProbeBindRx(link.Ifindex);
                probeProblem = refusal is null ? "the probe was accepted (not expected; its socket is closed, so nothing stays bound)" : null;
            }
            catch (Exception e) when (IsEnvironment(e))
            {
                probeProblem = e.Message;
            }
        }

        if (refusal is { Errno: Errno.EOPNOTSUPP, BadAttribute: ".ifindex" })
        {
            return (QueueApiSupport.No, "probe", new(Id, Title, DoctorStatus.Fail,
                $"{who}: the kernel refuses the device before looking at any dma-buf (bind-rx probe: EOPNOTSUPP on .ifindex): no queue management API", FixNic));
        }

        if (refusal is { Errno: Errno.EINVAL, BadAttribute: string bad } && bad.StartsWith(".queues", StringComparison.Ordinal))
        {
            // The device passed the kernel's first gate (netdev_need_ops_lock: queue API, or an
            // instance-locked driver); the table says whether its page pool takes dma-buf memory.
            string probe = "the kernel accepts the device (bind-rx probe reached the queue list)";
            return table switch
            {
                DriverRxSupport.Supported or DriverRxSupport.TestNic => (QueueApiSupport.Yes, "probe+driver-table", new(Id, Title, DoctorStatus.Pass, $"{probe}; {note}")),
                DriverRxSupport.NoUnreadablePool => (QueueApiSupport.No, "probe+driver-table", new(Id, Title, DoctorStatus.Fail, $"{probe}, but {note}", FixNic)),
                DriverRxSupport.NoQueueApi => (QueueApiSupport.No, "probe+driver-table", new(Id, Title, DoctorStatus.Fail, $"{probe} (instance lock), but {note}", FixNic)),
                _ => (QueueApiSupport.Unknown, "probe", new(Id, Title, DoctorStatus.Warn,
                    $"{probe}, but {note}: whether its queues take a dma-buf shows only at bind-rx")),
            };
        }

        if (refusal is { Errno: Errno.ENODEV })
        {
            return (QueueApiSupport.Unknown, "probe", new(Id, Title, DoctorStatus.Fail, "the device is not present (bind-rx probe: ENODEV)", "bring the device back (driver loaded, not detached)"));
        }

        // Not answerable without a real dma-buf: 6.12 checks XDP and the fd first (EEXIST, EBADF), an
        // unprivileged probe gets EPERM. The driver table answers instead.
        string why = refusal switch
        {
            null => $"no probe ({probeProblem})",
            { Errno: Errno.EPERM } => "the bind-rx probe needs CAP_NET_ADMIN (EPERM)",
            { Errno: Errno.EEXIST } => $"the bind-rx probe stopped at the XDP check (EEXIST{(refusal.KernelMessage is string x ? $" \"{x}\"" : "")})",
            { Errno: Errno.EBADF or Errno.EINVAL } => $"the bind-rx probe cannot tell on this kernel ({refusal.ErrnoName}: it takes the dma-buf fd before it looks at the queue API, and a real dma-buf would bind)",
            _ => $"the bind-rx probe cannot tell ({refusal.ErrnoName}{(refusal.KernelMessage is string m ? $" \"{m}\"" : "")})",
        };
        return table switch
        {
            DriverRxSupport.Supported or DriverRxSupport.TestNic => (QueueApiSupport.Yes, "driver-table", new(Id, Title, DoctorStatus.Pass, $"known from driver table: {note}; {why}")),
            DriverRxSupport.Unknown when kernel >= DevmemDrivers.SafeBindCheckKernel =>
                (QueueApiSupport.Unknown, "driver-table", new(Id, Title, DoctorStatus.Warn, $"{note}; {why}", refusal?.Errno == Errno.EPERM ? "run as root to let the probe ask the kernel" : null)),
            _ => (QueueApiSupport.No, "driver-table", new(Id, Title, DoctorStatus.Fail, $"known from driver table: {note}; {why}", FixNic)),
        };
    }

    // One line on what the drivers table (Devmem.Setup.DevmemDrivers, kernel-api.md §7) says, with
    // the conditions §7 names for the drivers that support devmem RX only in some configurations.
    private static string DriverNote(string? driver, DriverRxSupport support, Version kernel)
    {
        if (driver is null)
        {
            return "a device without a driver (loopback) has no queue management API";
        }

        return support switch
        {
            DriverRxSupport.TestNic => "testnic is the project's software test NIC (tests/testnic): it proves the kernel path, not hardware",
            DriverRxSupport.Supported => driver switch
            {
                "bnxt_en" => "bnxt_en supports devmem RX when BNXT_SUPPORTS_QUEUE_API holds (PF, ntuple VNIC, firmware VNIC_RE_FLUSH), else EOPNOTSUPP",
                "gve" => "gve supports devmem RX with the DQO queue format and header split",
                "mlx5_core" => "mlx5_core supports devmem RX while SHAMPO (HW-GRO header-data split) is active, else bind-rx ENODATA",
                _ => $"{driver} supports devmem RX on Linux {kernel}",
            },
            DriverRxSupport.NoUnreadablePool => $"{driver} has queue ops but no page pool for unreadable memory on Linux {kernel} (bind-rx ends in ENODATA)",
            DriverRxSupport.NoQueueApi => $"{driver} has no queue management API on Linux {kernel}",
            _ => kernel < new Version(6, 13)
                ? $"{driver} is not in the driver table, and no in-tree driver of Linux 6.12 sets PP_FLAG_ALLOW_UNREADABLE_NETMEM"
                : $"{driver} is not in the driver table",
        };
    }

    private static T Retry<T>(Func<T> dump)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return dump();
            }
            catch (NetlinkDumpInterruptedException) when (attempt < 3)
            {
            }
        }
    }

    private static int? ReadInt(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is string t ? Path.GetFileName(t) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Opt<T>(T? v) where T : struct => v is T x ? string.Format(CultureInfo.InvariantCulture, "{0}", x) : "-";
}
