using System.Globalization;
using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Sys;
using static Devmem.Interop.linux_udmabuf;

namespace Devmem.Memory;

/// <summary>One page-aligned range of the memfd that a <see cref="UdmabufMemory"/> list is made of.</summary>
/// <param name="Offset">Offset in the memfd, a multiple of the page size.</param>
/// <param name="Size">Length, a non-zero multiple of the page size.</param>
public readonly record struct UdmabufRange(long Offset, long Size);

/// <summary>
/// A udmabuf: pages of a sealed memfd exported as a dma-buf by <c>/dev/udmabuf</c>
/// (drivers/dma-buf/udmabuf.c). The stand-in for device memory on machines without a GPU, as ncdevmem uses.
/// </summary>
/// <remarks>
/// Recipe (tools/testing/selftests/drivers/net/hw/ncdevmem.c, drivers/dma-buf/udmabuf.c): memfd_create(MFD_ALLOW_SEALING | MFD_CLOEXEC), F_ADD_SEALS
/// F_SEAL_SHRINK (required; a WRITE seal is refused), ftruncate, UDMABUF_CREATE (or _LIST) with
/// UDMABUF_FLAGS_CLOEXEC, mmap MAP_SHARED. Before the ioctl the total is checked against the module
/// parameter <c>/sys/module/udmabuf/parameters/size_limit_mb</c> (64 on 6.12 and 7.2, INT_MAX on 7.3),
/// because the kernel's answer to an oversized request is a bare EINVAL.
/// </remarks>
public sealed class UdmabufMemory : DeviceMemory
{
    /// <summary>The device node.</summary>
    public const string DevicePath = "/dev/udmabuf";

    /// <summary>The size limit module parameter, in MiB (mode 0644: root may change it at run time).</summary>
    public const string SizeLimitPath = "/sys/module/udmabuf/parameters/size_limit_mb";

    /// <summary>The list-length limit module parameter (1024 by default).</summary>
    public const string ListLimitPath = "/sys/module/udmabuf/parameters/list_limit";

    internal const string MissingDeviceHint =
        "this kernel has no udmabuf device: it was built without CONFIG_UDMABUF (or the module is not loaded: modprobe udmabuf)";

    private UdmabufMemory(long size, SafeDmabufHandle dmabuf, SafeMappingHandle mapping, SafeMemfdHandle memfd, string exporter, ulong inode, IReadOnlyList<UdmabufRange> ranges)
        : base(MemoryProviderKind.Udmabuf, size, dmabuf, mapping, memfd, exporter, inode)
    {
        Ranges = ranges;
    }

    /// <summary>The memfd ranges this dma-buf is made of, in dma-buf order.</summary>
    public IReadOnlyList<UdmabufRange> Ranges { get; }

    /// <summary>The memfd whose pages back this dma-buf (owned by this object; closed last by <see cref="DeviceMemory.Dispose()"/>).</summary>
    public SafeHandle MemfdHandle => Memfd!;

    /// <summary>The current <c>size_limit_mb</c> in bytes; null when the parameter is not readable (no udmabuf).</summary>
    public static long? ReadSizeLimit() => KernelFiles.ReadNumber(SizeLimitPath) is long mb ? mb * 1024 * 1024 : null;

    /// <summary>Creates a udmabuf of <paramref name="size"/> bytes (rounded up to a page) with UDMABUF_CREATE.</summary>
    /// <param name="size">Bytes; rounded up to the page size.</param>
    /// <param name="name">The memfd's name (shown as <c>/memfd:NAME</c> in /proc/PID/fd and maps).</param>
    /// <exception cref="DmabufException">No /dev/udmabuf, size over the limit, permission, or a kernel error.</exception>
    public static UdmabufMemory Create(long size, string name = "devmem-udmabuf") => Create(size, name, checkLimit: true);

    /// <summary>
    /// Creates a udmabuf from several ranges of one memfd of <paramref name="memfdSize"/> bytes with
    /// UDMABUF_CREATE_LIST: the dma-buf is the ranges concatenated in the order given.
    /// </summary>
    /// <param name="memfdSize">Size of the memfd (a page multiple) that the ranges lie in.</param>
    /// <param name="ranges">Page-aligned ranges, at most <c>list_limit</c> (1024) of them.</param>
    /// <param name="name">The memfd's name.</param>
    /// <exception cref="ArgumentException">A range is empty, unaligned or outside the memfd.</exception>
    /// <exception cref="DmabufException">No /dev/udmabuf, total over the limit, too many ranges, or a kernel error.</exception>
    public static UdmabufMemory CreateList(long memfdSize, IReadOnlyList<UdmabufRange> ranges, string name = "devmem-udmabuf") =>
        CreateList(memfdSize, ranges, name, checkLimit: true);

    internal static UdmabufMemory Create(long size, string name, bool checkLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        long rounded = Native.RoundUpToPage(size);
        return CreateList(rounded, [new UdmabufRange(0, rounded)], name, checkLimit);
    }

    /// <summary>Refuses, before any call, <paramref name="rounded"/> bytes of 2 MiB huge pages when fewer are free (saying how to reserve them).</summary>
    internal static void RequireFreeHugePages(long rounded, string purpose)
    {
        long need = rounded / HugePageSize;
        long? free = KernelFiles.ReadNumber(HugePagesDir + "/free_hugepages");
        if (free is long f && f < need)
        {
            long total = KernelFiles.ReadNumber(HugePagesDir + "/nr_hugepages") ?? 0;
            throw DmabufException.Refused("memfd_create(MFD_HUGETLB | MFD_HUGE_2MB)",
                $"refused before the call: {FormatBytes(rounded)} for {purpose} needs {need} free 2 MiB huge pages; {f} of {total} reserved are free" +
                (total == 0 ? " (no huge pages are reserved)" : ""),
                $"reserve them, as root: echo {total - f + need} > {HugePagesDir}/nr_hugepages (or sysctl vm.nr_hugepages=N where 2 MiB is the default huge page size)");
        }
        if (free is null)
        {
            throw DmabufException.Refused("memfd_create(MFD_HUGETLB | MFD_HUGE_2MB)",
                $"refused before the call: this kernel has no 2 MiB huge pages ({HugePagesDir} is missing), and {purpose} needs them",
                "use a kernel with CONFIG_HUGETLBFS and 2 MiB huge pages");
        }
    }

    /// <summary>The huge page size of a hugetlb-backed udmabuf (<c>MFD_HUGE_2MB</c>).</summary>
    public const long HugePageSize = 2L * 1024 * 1024;

    internal const string HugePagesDir = "/sys/kernel/mm/hugepages/hugepages-2048kB";

    /// <summary>
    /// Creates a udmabuf whose every scatterlist entry starts and ends at a multiple of
    /// <paramref name="alignment"/> bytes, as bind-rx with an rx-page-size larger than the page size needs
    /// (net/core/devmem.c refuses entries "not aligned to niov size"). Up to the page size this is
    /// <see cref="Create(long, string)"/>; above it, up to <see cref="HugePageSize"/>, the memfd is
    /// hugetlb-backed (<c>MFD_HUGETLB | MFD_HUGE_2MB</c>, as the kernel's ncdevmem does for -b) and the size
    /// is rounded up to 2 MiB. That needs free 2 MiB huge pages (<c>/proc/sys/vm/nr_hugepages</c>).
    /// </summary>
    /// <param name="size">Bytes; rounded up to the page size, or to 2 MiB when hugetlb-backed.</param>
    /// <param name="alignment">A power of two, at most 2 MiB; 0 for none.</param>
    /// <param name="name">The memfd's name.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alignment"/> is not 0 or a power of two.</exception>
    /// <exception cref="DmabufException">Not enough free huge pages (with the fix), an alignment over 2 MiB, or what <see cref="Create(long, string)"/> throws.</exception>
    public static UdmabufMemory CreateAligned(long size, long alignment, string name = "devmem-udmabuf") => CreateAligned(size, alignment, name, checkLimit: true);

    internal static UdmabufMemory CreateAligned(long size, long alignment, string name, bool checkLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (alignment < 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "the alignment must be 0 or a power of two");
        }
        if (alignment <= Native.PageSize)
        {
            return Create(size, name, checkLimit);
        }
        if (alignment > HugePageSize)
        {
            throw DmabufException.Refused("UDMABUF_CREATE",
                $"refused before the call: a udmabuf's entries can be aligned to at most {FormatBytes(HugePageSize)} (2 MiB huge pages), not {FormatBytes(alignment)}",
                "ask for an rx-page-size of 2 MiB or less");
        }
        long rounded = checked((size + HugePageSize - 1) / HugePageSize * HugePageSize);
        RequireFreeHugePages(rounded, $"a udmabuf aligned to {FormatBytes(alignment)}");
        return CreateList(rounded, [new UdmabufRange(0, rounded)], name, checkLimit, linux_memfd.MFD_HUGETLB | linux_memfd.MFD_HUGE_2MB);
    }

    internal static unsafe UdmabufMemory CreateList(long memfdSize, IReadOnlyList<UdmabufRange> ranges, string name, bool checkLimit, uint hugeFlags = 0)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memfdSize);
        if (ranges.Count == 0)
        {
            throw new ArgumentException("at least one range is needed", nameof(ranges));
        }
        if (!Native.IsPageAligned(memfdSize))
        {
            throw new ArgumentException($"the memfd size {memfdSize} is not a multiple of the page size ({Native.PageSize})", nameof(memfdSize));
        }
        long total = 0;
        foreach (UdmabufRange r in ranges)
        {
            // udmabuf.c udmabuf_create: EINVAL for unaligned offset/size; say which range instead.
            if (r.Size <= 0 || r.Offset < 0 || !Native.IsPageAligned(r.Offset) || !Native.IsPageAligned(r.Size) || r.Offset > memfdSize - r.Size)
            {
                throw new ArgumentException($"range (offset {r.Offset}, size {r.Size}) must be non-empty, page-aligned ({Native.PageSize}) and inside the {memfdSize}-byte memfd", nameof(ranges));
            }
            total = checked(total + r.Size);
        }
        bool list = ranges.Count > 1;
        string step = list ? "UDMABUF_CREATE_LIST" : "UDMABUF_CREATE";

        if (checkLimit)
        {
            CheckLimits(step, total, ranges.Count);
        }

        using SafeDeviceFileHandle device = Native.OpenDevice(DevicePath, MissingDeviceHint);
        SafeMemfdHandle memfd = Native.CreateMemfd(name, linux_memfd.MFD_ALLOW_SEALING | hugeFlags, memfdSize, linux_fcntl.F_SEAL_SHRINK);
        SafeDmabufHandle? dmabuf = null;
        SafeMappingHandle? mapping = null;
        try
        {
            dmabuf = new SafeDmabufHandle();
            SysResult r;
            using (FdLease memfdRef = Syscalls.Enter(memfd))
            {
                uint memfdNumber = (uint)memfdRef.Fd;
                if (!list)
                {
                    var create = new udmabuf_create { memfd = memfdNumber, flags = UDMABUF_FLAGS_CLOEXEC, offset = (ulong)ranges[0].Offset, size = (ulong)ranges[0].Size };
                    r = Syscalls.Ioctl(device, UDMABUF_CREATE, &create);
                }
                else
                {
                    // struct udmabuf_create_list { flags, count, list[] }: header then the items, one buffer.
                    int bytes = sizeof(udmabuf_create_list) + ranges.Count * sizeof(udmabuf_create_item);
                    byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
                    try
                    {
                        var head = (udmabuf_create_list*)buffer;
                        head->flags = UDMABUF_FLAGS_CLOEXEC;
                        head->count = (uint)ranges.Count;
                        var items = (udmabuf_create_item*)(buffer + sizeof(udmabuf_create_list));
                        for (int i = 0; i < ranges.Count; i++)
                        {
                            items[i] = new udmabuf_create_item { memfd = memfdNumber, offset = (ulong)ranges[i].Offset, size = (ulong)ranges[i].Size };
                        }
                        r = Syscalls.Ioctl(device, UDMABUF_CREATE_LIST, buffer);
                    }
                    finally
                    {
                        NativeMemory.Free(buffer);
                    }
                }
            }
            if (r.IsError)
            {
                throw DmabufException.Syscall(step, r.Errno, CreateHint(r.Errno, total), $"{total} bytes in {ranges.Count} range(s)");
            }
            dmabuf.Own(r.Int32);

            FdInfo info = FdInfo.Read(dmabuf);
            long size = info.Size ?? total;
            mapping = Native.Map(dmabuf, size, "udmabuf");
            return new UdmabufMemory(size, dmabuf, mapping, memfd, info.ExporterName ?? "udmabuf", Native.Inode(dmabuf), [.. ranges]);
        }
        catch
        {
            mapping?.Dispose();
            dmabuf?.Dispose();
            memfd.Dispose();
            throw;
        }
    }

    private static void CheckLimits(string step, long total, int count)
    {
        long? limitMb = KernelFiles.ReadNumber(SizeLimitPath);
        if (limitMb is long mb && total > mb * 1024 * 1024)
        {
            throw DmabufException.Refused(step,
                $"refused before the call: {FormatBytes(total)} is over udmabuf's limit of {mb} MiB ({SizeLimitPath} = {mb}); the kernel would answer EINVAL",
                $"raise the limit (as root: echo {(total + 1024 * 1024 - 1) / (1024 * 1024)} > {SizeLimitPath}, or boot with udmabuf.size_limit_mb=N), or ask for less");
        }
        long? listLimit = KernelFiles.ReadNumber(ListLimitPath);
        if (listLimit is long max && count > max)
        {
            throw DmabufException.Refused(step,
                $"refused before the call: {count} ranges is over udmabuf's list_limit of {max} ({ListLimitPath}); the kernel would answer EINVAL",
                "use fewer, larger ranges, or raise list_limit");
        }
    }

    private static string? CreateHint(Errno errno, long total) => errno switch
    {
        Errno.EINVAL => $"udmabuf refuses a total above size_limit_mb ({(ReadSizeLimit() is long l ? (l / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) + " MiB now" : "unreadable")}; asked {FormatBytes(total)}), unaligned ranges, and a memfd without F_SEAL_SHRINK or with a WRITE seal",
        Errno.EBADFD => "the memfd is neither shmem nor hugetlb",
        Errno.ENOMEM => "not enough memory to pin the memfd's pages",
        Errno.ENOTTY => $"{DevicePath} is not the udmabuf misc device",
        _ => null,
    };

    internal static string FormatBytes(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : $"{bytes} bytes";
}
