using System.Globalization;
using Devmem.Interop;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Setup;
using Devmem.Sys;

namespace Devmem.Diagnostics;

/// <summary>
/// The doctor's checks of one network device, one method per check, run in the order the report lists
/// them: driver and parent device, queues, queue management API, header split and hds-thresh, ntuple,
/// RSS, XDP, queues already bound. Each reads what it needs (sysfs, netdev, ethtool, the link's
/// rtnetlink attributes) and turns what it cannot read into a check that says so; the facts it learns
/// go into the <see cref="DoctorInterfaceReport"/>.
/// </summary>
internal sealed class DoctorDeviceChecks
{
    private readonly NetworkLink _link;
    private readonly NetdevClient? _netdev;
    private readonly EthtoolClient? _ethtool;
    private readonly Version _kernel;
    private readonly List<DoctorCheck> _checks = [];
    private readonly string _name;

    // Facts, in the order the checks learn them.
    private string? _driver, _driverSource;
    private bool? _parent;
    private int _rx, _tx;
    private readonly List<DoctorRxQueueInUse> _bound = [];
    private EthtoolChannels? _channels;
    private QueueApiSupport _api;
    private string _apiSource = "";
    private EthtoolTcpDataSplit? _split;
    private uint? _hds;
    private bool? _ntupleSupported, _ntupleOn;
    private int? _rss;

    private DoctorDeviceChecks(NetworkLink link, NetdevClient? netdev, EthtoolClient? ethtool, Version kernel)
    {
        _link = link;
        _netdev = netdev;
        _ethtool = ethtool;
        _kernel = kernel;
        _name = link.Name;
    }

    /// <summary>Runs every check of <paramref name="link"/>; environment failures become checks, never exceptions.</summary>
    internal static DoctorInterfaceReport Examine(NetworkLink link, NetdevClient? netdev, EthtoolClient? ethtool, Version kernel)
    {
        var d = new DoctorDeviceChecks(link, netdev, ethtool, kernel);
        d.DriverAndParent();
        d.Queues();
        d.QueueApi();
        d.HeaderSplit();
        d.Ntuple();
        d.Rss();
        d.Xdp();
        d.BoundQueues();
        return new DoctorInterfaceReport(d._name, link.Ifindex, d._driver, d._driverSource, d._parent, d._rx, d._tx, d._channels, d._api, d._apiSource,
            d._split, d._hds, d._ntupleSupported, d._ntupleOn, d._rss, link.Xdp, d._bound, d._checks);
    }

    // Driver and parent: sysfs when /sys/class/net/NAME is this device (sysfs shows the network
    // namespace it was mounted in), else ETHTOOL_GDRVINFO, which also names the driver of a device
    // whose parent has no bound driver (testnic's platform device).
    private void DriverAndParent()
    {
        string sys = "/sys/class/net/" + _name;
        bool sysfsIsThisDevice = KernelFiles.ReadNumber(sys + "/ifindex") == _link.Ifindex;
        _parent = sysfsIsThisDevice ? Directory.Exists(sys + "/device") : null;
        if (sysfsIsThisDevice && _parent == true && LinkTarget(sys + "/device/driver") is string d)
        {
            _driver = d;
            _driverSource = "sysfs";
        }
        else if (_ethtool is not null)
        {
            try
            {
                (string drv, string bus) = _ethtool.GetDriverInfo(_name);
                if (drv.Length > 0)
                {
                    _driver = drv;
                    _driverSource = "ethtool";
                    _parent ??= bus.Length > 0;
                }
            }
            catch (EthtoolIoctlException)
            {
                // EOPNOTSUPP: no ethtool driver info at all (loopback).
            }
        }

        _checks.Add(_driver is not null
            ? new("driver", "driver", DoctorStatus.Pass, $"{_driver} ({(_driverSource == "sysfs" ? $"{sys}/device/driver" : "ethtool -i")})")
            : new("driver", "driver", DoctorStatus.NotApplicable, "none: a virtual device without a driver"));
        _checks.Add(_parent switch
        {
            true => new("parent-device", "parent (DMA) device", DoctorStatus.Pass, sysfsIsThisDevice ? $"{sys}/device → {LinkTarget(sys + "/device") ?? "?"}" : "ethtool reports a bus address"),
            false => new("parent-device", "parent (DMA) device", DoctorStatus.Fail, "none: the dma-buf is mapped for the NIC's DMA device, and a virtual device has none", "use a physical NIC whose driver supports devmem"),
            null => new("parent-device", "parent (DMA) device", DoctorStatus.NotApplicable, "cannot tell: sysfs shows another network namespace"),
        });
    }

    // Queues: netdev queue-get, and ethtool channels for the counts the driver reports.
    private void Queues()
    {
        string? queueError = null;
        if (_netdev is not null)
        {
            try
            {
                foreach (NetdevQueueInfo q in Retry(() => _netdev.GetQueues(_link.Ifindex)))
                {
                    if (q.Type == NetdevQueueType.Rx)
                    {
                        _rx++;
                        if (q.DmabufId is not null || q.HasIoUring || q.HasXsk)
                        {
                            _bound.Add(new DoctorRxQueueInUse(q.Id, q.DmabufId, q.HasIoUring, q.HasXsk));
                        }
                    }
                    else
                    {
                        _tx++;
                    }
                }
            }
            catch (Exception e) when (DevmemDoctor.IsEnvironment(e))
            {
                queueError = e.Message;
            }
        }

        _channels = Ethtool(e => e.GetChannels(_name), out _); // none: the driver reports no channels (EOPNOTSUPP)
        EthtoolChannels? channels = _channels;
        string channelText = channels is null ? "ethtool channels: none" :
            $"ethtool channels: rx {Opt(channels.RxCount)}, tx {Opt(channels.TxCount)}, combined {Opt(channels.CombinedCount)} (max {Opt(channels.CombinedMax ?? channels.RxMax)})";
        _checks.Add(queueError is not null
            ? new("queues", "queues", DoctorStatus.Fail, "netdev queue-get failed: " + queueError)
            : _rx switch
            {
                0 => new("queues", "queues", DoctorStatus.Fail, $"no RX queue (netdev queue-get); {channelText}", "a NIC with RX queues"),
                1 => new("queues", "queues", DoctorStatus.Warn, $"1 RX, {_tx} TX (netdev queue-get); {channelText}: the bound queue would take all traffic",
                    $"ethtool -L {_name} rx 2 (or combined 2) to keep other flows off the devmem queue"),
                _ => new("queues", "queues", DoctorStatus.Pass, $"{_rx} RX, {_tx} TX (netdev queue-get); {channelText}"),
            });
    }

    // Header split and hds-thresh (ethtool rings).
    private void HeaderSplit()
    {
        string? ringsError = "the ethtool netlink family is not available";
        if (Ethtool(e => e.GetRings(_name), out Exception? error) is { } rings)
        {
            _split = rings.TcpDataSplit ?? EthtoolTcpDataSplit.Unknown;
            _hds = rings.HdsThresh;
        }
        else if (error is not null)
        {
            ringsError = error is NetlinkException n ? n.ErrnoName : error.Message;
        }

        _checks.Add(_split switch
        {
            EthtoolTcpDataSplit.Enabled => new("header-split", "header split", DoctorStatus.Pass, "tcp-data-split enabled (ethtool rings)"),
            EthtoolTcpDataSplit.Disabled => new("header-split", "header split", DoctorStatus.Fail, "tcp-data-split disabled (ethtool rings): bind-rx refuses",
                $"ethtool -G {_name} tcp-data-split on"),
            EthtoolTcpDataSplit.Unknown => new("header-split", "header split", DoctorStatus.Fail, "tcp-data-split not reported (unknown/auto): the driver may not support header split",
                $"ethtool -G {_name} tcp-data-split on (\"not supported\" means the NIC cannot)"),
            _ => new("header-split", "header split", DoctorStatus.Fail, $"no ring parameters ({ringsError}): no header split", "a NIC whose driver supports tcp-data-split"),
        });
        _checks.Add(_hds switch
        {
            0 => new("hds-thresh", "hds-thresh", DoctorStatus.Pass, "0 (ethtool rings)"),
            uint h => new("hds-thresh", "hds-thresh", DoctorStatus.Fail, $"{h}: bind-rx needs 0 (\"hds-thresh is not zero\")", $"ethtool -G {_name} hds-thresh 0"),
            null => new("hds-thresh", "hds-thresh", DoctorStatus.NotApplicable, "not reported (before Linux 6.14, or the driver has none)"),
        });
    }

    // ntuple (ethtool features): flow steering puts the devmem flow on the bound queue.
    private void Ntuple()
    {
        if (Ethtool(e => e.GetFeatures(_name), out Exception? error) is { } f)
        {
            _ntupleSupported = f.Supports(EthtoolFeatures.Ntuple);
            _ntupleOn = f.Active.Contains(EthtoolFeatures.Ntuple);
        }

        _checks.Add((_ntupleSupported, _ntupleOn) switch
        {
            (true, true) => new("ntuple", "ntuple flow steering", DoctorStatus.Pass, "on (ethtool features: rx-ntuple-filter)"),
            (true, _) => new("ntuple", "ntuple flow steering", DoctorStatus.Warn, "supported but off (rx-ntuple-filter): flow rules may be refused", $"ethtool -K {_name} ntuple on"),
            (false, _) => new("ntuple", "ntuple flow steering", DoctorStatus.Fail, "not supported (no rx-ntuple-filter feature): a devmem flow cannot be steered to the bound queue", "a NIC with ntuple flow steering"),
            _ => new("ntuple", "ntuple flow steering", DoctorStatus.Warn, "unknown: " + (error?.Message ?? "ethtool unavailable")),
        });
    }

    // RSS: the indirection table keeps other flows off the bound queue.
    private void Rss()
    {
        _rss = Ethtool(e => e.GetRss(_name), out _)?.Indirection.Count;
        _checks.Add(_rss switch
        {
            > 0 => new("rss", "RSS", DoctorStatus.Pass, $"indirection table of {_rss} entries (ethtool rss)"),
            _ => new("rss", "RSS", DoctorStatus.Warn, _rss == 0 ? "no RSS indirection table" : "no RSS (ethtool rss-get refused)",
                "without RSS other flows cannot be kept off the bound queue (they would get EFAULT)"),
        });
    }

    private void Xdp() =>
        _checks.Add(_link.Xdp == XdpAttachMode.None
            ? new("xdp", "XDP", DoctorStatus.Pass, "no XDP program attached (rtnetlink IFLA_XDP)")
            : new("xdp", "XDP", DoctorStatus.Fail, $"XDP program {Opt(_link.XdpProgramId)} attached ({DoctorJson.Xdp(_link.Xdp)}): bind-rx refuses with EEXIST",
                $"ip link set dev {_name} {(_link.Xdp switch { XdpAttachMode.Generic => "xdpgeneric", XdpAttachMode.Offload => "xdpoffload", _ => "xdp" })} off"));

    private void BoundQueues()
    {
        string boundText = string.Join(", ", _bound.Select(b => $"{b.Id} ({(b.DmabufBindingId is uint id ? $"dma-buf binding {id}" : b.IoUring ? "io_uring" : "AF_XDP")})"));
        _checks.Add(_bound.Count == 0
            ? new("bound-queues", "queues already bound", DoctorStatus.Pass, _rx > 0 ? "none (netdev queue-get)" : "none")
            : _bound.Count >= _rx
                ? new("bound-queues", "queues already bound", DoctorStatus.Fail, $"every RX queue is taken: {boundText}", "close the program holding the binding (it ends with its netlink socket)")
                : new("bound-queues", "queues already bound", DoctorStatus.Warn, $"RX queue(s) {boundText} taken; the others are free", "bind another queue, or close the program holding the binding"));
    }

    // One ethtool read: null when there is no ethtool client (error null) or the read failed for a
    // reason of the environment (error set).
    private T? Ethtool<T>(Func<EthtoolClient, T> read, out Exception? error) where T : class
    {
        error = null;
        if (_ethtool is null)
        {
            return null;
        }

        try
        {
            return read(_ethtool);
        }
        catch (Exception e) when (DevmemDoctor.IsEnvironment(e))
        {
            error = e;
            return null;
        }
    }

    // Queue management API: probe, then the driver table.
    private void QueueApi()
    {
        (_api, _apiSource, DoctorCheck check) = QueueApiCheck(_link, _netdev, _driver, _kernel);
        _checks.Add(check);
    }

    private static (QueueApiSupport, string, DoctorCheck) QueueApiCheck(NetworkLink link, NetdevClient? netdev, string? driver, Version kernel)
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
            catch (Exception e) when (DevmemDoctor.IsEnvironment(e))
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

    // One line on what the drivers table says (Devmem.Setup.DevmemDrivers: drivers/ of Debian's 6.12 and
    // 7.x sources grepped for queue_mgmt_ops and PP_FLAG_ALLOW_UNREADABLE_NETMEM), with the conditions of
    // the drivers that support devmem RX only in some configurations.
    private static string DriverNote(string? driver, DriverRxSupport support, Version kernel)
    {
        if (driver is null)
        {
            return "a device without a driver (loopback) has no queue management API";
        }

        return support switch
        {
            DriverRxSupport.TestNic => "testnic is the Devmem project's software test NIC: it proves the kernel path, not hardware",
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
