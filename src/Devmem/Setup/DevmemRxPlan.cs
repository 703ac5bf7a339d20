using System.Globalization;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;

namespace Devmem.Setup;

/// <summary>
/// The check step of <see cref="DevmemRxSetup"/>: what the kernel would trip over, found before anything
/// on the NIC changes, and the choice of RX queues. Nothing here changes the NIC; the queue choice and
/// the memory check are pure (they take what was read and the options), the rest reads the kernel.
/// </summary>
internal static class DevmemRxPlan
{
    internal const string NeedsDevmemNic = "devmem RX needs a NIC whose driver supports it (bnxt_en, gve, mlx5_core, fbnic on 7.x kernels)";

    /// <summary>
    /// The interface exists in this network namespace, has a parent device, and its driver is not known
    /// to lack a queue management API (nor unknown on a kernel that attaches the dma-buf before it checks).
    /// </summary>
    /// <returns>Its ifindex and driver name.</returns>
    /// <exception cref="DevmemSetupException">At <see cref="DevmemSetupStep.Check"/>, saying why.</exception>
    internal static (int Ifindex, string? Driver) CheckInterface(EthtoolClient ethtool, string ifname)
    {
        int ifindex = GetInterfaceIndex(ethtool, ifname);
        (string? driver, string busInfo) = TryDriver(ethtool, ifname);
        if (!HasParentDevice(ifname, ifindex, busInfo))
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname,
                $"{ifname} has no parent device (a virtual interface{(driver is null ? "" : $", driver {driver}")}): a dma-buf cannot be attached to it",
                NeedsDevmemNic, DevmemFallbackKind.NoParentDevice);
        }

        Version kernel = DevmemDrivers.RunningKernel;
        if (!DevmemDrivers.KernelMayBeAsked(driver, kernel))
        {
            string what = DevmemDrivers.Lookup(driver, kernel) == DriverRxSupport.NoQueueApi
                ? $"driver {driver} has no queue management API: devmem RX is not possible on this NIC"
                : $"driver {driver ?? "(none reported)"} is not known to have a queue management API, and kernel {kernel} attaches the dma-buf before it checks (a kernel WARN for a device that cannot DMA it), so bind-rx is not attempted";
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, what, NeedsDevmemNic, DevmemFallbackKind.UnsupportedDriver);
        }

        return (ifindex, driver);
    }

    /// <summary>The ifindex of <paramref name="interfaceName"/> in the calling thread's network namespace.</summary>
    /// <exception cref="DevmemSetupException">The name is not valid, or there is no such interface.</exception>
    internal static int GetInterfaceIndex(EthtoolClient ethtool, string interfaceName)
    {
        if (InterfaceNames.Problem(interfaceName) is { } problem)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, interfaceName, $"not a valid interface name ({problem})");
        }

        try
        {
            return ethtool.GetInterfaceIndex(interfaceName);
        }
        catch (EthtoolIoctlException e) when (e.Errno == Interop.Errno.ENODEV)
        {
            throw DevmemSetupException.From(DevmemSetupStep.Check, interfaceName, "no such interface in this network namespace", e,
                "list the interfaces with 'ip link' (or DevmemDoctor.Examine())");
        }
    }

    /// <summary>
    /// The RX queues to bind: <see cref="DevmemRxSetupOptions.QueueCount"/> (default 1) from
    /// <see cref="DevmemRxSetupOptions.StartQueue"/> (default: the last ones, as ncdevmem), within the
    /// RX and combined channels, and above queue 0 while RSS must keep ordinary traffic below them.
    /// </summary>
    /// <exception cref="DevmemSetupException">At <see cref="DevmemSetupStep.Check"/>: out of range, or queue 0.</exception>
    internal static uint[] ChooseQueues(string ifname, EthtoolChannels channels, DevmemRxSetupOptions options)
    {
        uint rxq = (channels.RxCount ?? 0) + (channels.CombinedCount ?? 0);
        uint count = options.QueueCount ?? 1;
        uint start = options.StartQueue ?? (rxq > count ? rxq - count : 0);
        if (count == 0 || start + count > rxq)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname,
                $"RX queues {start}..{start + count - 1} are out of range: {ifname} has {rxq} (rx {channels.RxCount ?? 0} + combined {channels.CombinedCount ?? 0})",
                $"choose a start queue and count within 0..{(rxq == 0 ? 0 : rxq - 1)}");
        }

        if (start == 0 && !options.SkipConfiguration)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname,
                $"RX queue 0 cannot be a devmem queue while RSS must keep ordinary traffic on the queues below the first devmem queue ({ifname} has {rxq} RX queues)",
                rxq < 2 ? "devmem RX needs at least 2 RX queues: raise them (ethtool -L)" : "choose a start queue of 1 or more");
        }

        return [.. Enumerable.Range((int)start, (int)count).Select(i => (uint)i)];
    }

    /// <summary>No queue of <paramref name="queues"/> has a dma-buf bound already (netdev queue-get).</summary>
    /// <exception cref="DevmemSetupException">At <see cref="DevmemSetupStep.Check"/>: EEXIST for a bound queue.</exception>
    internal static void CheckQueuesFree(NetdevClient netdev, string ifname, int ifindex, IReadOnlyList<uint> queues)
    {
        foreach (uint q in queues)
        {
            uint? bound = DevmemRxSteps.Run(DevmemSetupStep.Check, ifname, $"cannot read RX queue {q}", () => netdev.GetQueue(ifindex, NetdevQueueType.Rx, q).DmabufId);
            if (bound is uint other)
            {
                throw DevmemSetupException.Failed(DevmemSetupStep.Check, ifname, $"RX queue {q} already has a dma-buf bound (binding {other})", Interop.Errno.EEXIST,
                    "another process holds it; choose other queues (-t/-q) or stop that process");
            }
        }
    }

    /// <summary>For <see cref="DevmemRxEngine.Zcrx"/>: one queue (an instance registers one), and memory the kernel can use as an area.</summary>
    internal static void CheckZcrx(DeviceMemory memory, IReadOnlyList<uint> queues, string ifname)
    {
        if (queues.Count != 1)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, $"a zcrx instance registers on one RX queue; {queues.Count} were asked for",
                "set QueueCount = 1 (or leave it unset)", null);
        }

        if (!memory.IsDmabuf && !memory.HasCpuMapping)
        {
            throw DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, $"{memory.Kind} memory is neither a dma-buf nor mapped here, so it cannot be a zcrx area",
                "give host memory (HostMemory) or a dma-buf", null);
        }
    }

    /// <summary>
    /// The memory is a dma-buf. Checked last: a configuration error found before it (queues out of
    /// range or taken) is reported as such even when there is no dma-buf, and is never a reason to fall back.
    /// </summary>
    /// <param name="memory">The memory to bind.</param>
    /// <param name="noProvider">Why no dma-buf provider worked, when the setup made the memory and got host memory.</param>
    /// <param name="ifname">The interface, for the message.</param>
    /// <exception cref="DevmemSetupException">Not a dma-buf (<see cref="DevmemFallbackKind.NoDmabufProvider"/> or <see cref="DevmemFallbackKind.NotDmabuf"/>).</exception>
    internal static void CheckMemory(DeviceMemory memory, string? noProvider, string ifname)
    {
        if (memory.IsDmabuf)
        {
            return;
        }

        throw noProvider is not null
            ? DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, noProvider,
                "zero copy needs a dma-buf provider: a kernel with CONFIG_UDMABUF or CONFIG_DMABUF_HEAPS_SYSTEM, or an NVIDIA GPU; or set Fallback = DevmemFallback.Copy",
                DevmemFallbackKind.NoDmabufProvider)
            : DevmemSetupException.Refused(DevmemSetupStep.Check, ifname, $"{memory.Kind} memory is not a dma-buf, so the NIC cannot be bound to it",
                "zero copy needs a dma-buf provider (udmabuf, a dma-heap or a CUDA GPU)", DevmemFallbackKind.NotDmabuf);
    }

    /// <summary>
    /// Whether the netdev has a parent device (what a dma-buf is attached to): sysfs's <c>device</c>
    /// link when sysfs shows this namespace (its ifindex file matches), else the bus address the driver
    /// reports (virtual devices report none).
    /// </summary>
    private static bool HasParentDevice(string ifname, int ifindex, string busInfo)
    {
        string sys = $"/sys/class/net/{ifname}";
        try
        {
            if (File.Exists($"{sys}/ifindex") && int.Parse(File.ReadAllText($"{sys}/ifindex").Trim(), CultureInfo.InvariantCulture) == ifindex)
            {
                return Directory.Exists($"{sys}/device");
            }
        }
        catch (IOException)
        {
        }

        return busInfo.Length > 0;
    }

    private static (string? Driver, string BusInfo) TryDriver(EthtoolClient ethtool, string ifname)
    {
        try
        {
            (string d, string bus) = ethtool.GetDriverInfo(ifname);
            return (d.Length == 0 ? null : d, bus);
        }
        catch (EthtoolIoctlException)
        {
            return (null, "");
        }
    }
}
