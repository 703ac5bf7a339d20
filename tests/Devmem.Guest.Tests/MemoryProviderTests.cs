using System.Globalization;
using System.Text;
using Devmem.Interop;
using Devmem.Memory;

namespace Devmem.Guest.Tests;

// The memory providers against kernels that have udmabuf and the system dma-heap (Debian's 6.12 and
// newest, booted by scripts/vm/run.sh). Every answer here is the guest kernel's own. The tests share
// one collection: one of them lowers udmabuf's size_limit_mb for a moment, and nothing else may create
// a udmabuf meanwhile.
[Collection(UdmabufSerial.Name)]
[Tier(Tier.Guest)]
[Nic(Nic.Any)]
public sealed unsafe class MemoryProviderTests(ITestOutputHelper output)
{
    private static readonly long Page = Environment.SystemPageSize;
    private static string Kernel => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    private void Say(string line)
    {
        output.WriteLine($"[{Kernel}] {line}");
        Console.WriteLine($"[{Kernel}] {line}");
    }

    [Fact]
    public void Udmabuf_maps_writes_through_to_its_memfd_and_is_named_udmabuf_by_the_kernel()
    {
        Guest.Require();
        string name = "udmabuf-wt-" + Guid.NewGuid().ToString("N");
        using UdmabufMemory mem = UdmabufMemory.Create(1 << 20, name);
        FdInfo info = FdInfo.Read(mem.DmabufHandle);
        Say($"udmabuf: {mem}; fdinfo exp_name={info.ExporterName} size={info.Size} ino={info.Inode}");
        Assert.Equal(MemoryProviderKind.Udmabuf, mem.Kind);
        Assert.True(mem.IsDmabuf);
        Assert.Equal("udmabuf", mem.ExporterName);
        Assert.Equal("udmabuf", info.ExporterName);
        Assert.Equal(1 << 20, mem.Size);
        Assert.Equal(1 << 20, info.Size);
        Assert.Equal(info.Inode, mem.Inode);
        Assert.True(mem.HasCpuMapping);

        byte[] pattern = Pattern(100_000, seed: 5);
        mem.CopyFrom(Page + 17, pattern);
        // Through the memfd (pread on the memfd fd, not the mapping): the same bytes.
        byte[] viaMemfd = new byte[pattern.Length];
        fixed (byte* p = viaMemfd)
        {
            SysResult r = Libc.pread((int)mem.MemfdHandle.DangerousGetHandle(), p, (nuint)viaMemfd.Length, Page + 17);
            Assert.Equal(viaMemfd.Length, r.Value);
        }
        Assert.Equal(pattern, viaMemfd);
        byte[] back = new byte[pattern.Length];
        mem.CopyTo(Page + 17, back);
        Assert.Equal(pattern, back);

        // The hot-path view, bracketed by the sync ioctl like CopyTo does.
        mem.BeginCpuAccess(CpuAccess.Read);
        Assert.True(mem.GetSpan(Page + 17, pattern.Length).SequenceEqual(pattern));
        mem.EndCpuAccess(CpuAccess.Read);
        mem.BeginCpuAccess(CpuAccess.ReadWrite);
        mem.DangerousGetPointer()[0] = 0xA5;
        mem.EndCpuAccess(CpuAccess.ReadWrite);
        byte first;
        SysResult one = Libc.pread((int)mem.MemfdHandle.DangerousGetHandle(), &first, 1, 0);
        Assert.Equal(1, one.Value);
        Assert.Equal(0xA5, first);
    }

    [Fact]
    public void Sync_ioctl_needs_read_or_write_the_kernel_refuses_start_or_end_alone()
    {
        Guest.Require();
        using UdmabufMemory mem = UdmabufMemory.Create(Page);
        int fd = mem.DmabufHandle.DangerousGetFd();
        foreach (ulong flags in new[] { linux_dma_buf.DMA_BUF_SYNC_START, linux_dma_buf.DMA_BUF_SYNC_END })
        {
            var arg = new dma_buf_sync { flags = flags };
            SysResult r = Libc.ioctl(fd, linux_dma_buf.DMA_BUF_IOCTL_SYNC, &arg);
            Say($"DMA_BUF_IOCTL_SYNC flags={flags}: {r}");
            Assert.Equal(Errno.EINVAL, r.Errno);
        }
        foreach (ulong flags in new[] { linux_dma_buf.DMA_BUF_SYNC_START | linux_dma_buf.DMA_BUF_SYNC_RW, linux_dma_buf.DMA_BUF_SYNC_END | linux_dma_buf.DMA_BUF_SYNC_RW })
        {
            var arg = new dma_buf_sync { flags = flags };
            Assert.Equal(0, Libc.ioctl(fd, linux_dma_buf.DMA_BUF_IOCTL_SYNC, &arg).Value);
        }
    }

    [Fact]
    public void Udmabuf_over_the_size_limit_is_refused_clearly_before_the_call_and_the_kernel_agrees()
    {
        Guest.Require();
        string original = File.ReadAllText(UdmabufMemory.SizeLimitPath).Trim();
        Say($"{UdmabufMemory.SizeLimitPath} = {original} (6.12 and 7.2: 64; 7.3: INT_MAX)");
        try
        {
            File.WriteAllText(UdmabufMemory.SizeLimitPath, "2");
            Assert.Equal(2L * 1024 * 1024, UdmabufMemory.ReadSizeLimit());

            var e = Assert.Throws<DmabufException>(() => UdmabufMemory.Create(3 << 20));
            Say(e.Message);
            Assert.Equal("UDMABUF_CREATE", e.Operation);
            Assert.Equal(Errno.None, e.Errno);
            Assert.Contains("3 MiB is over udmabuf's limit of 2 MiB (/sys/module/udmabuf/parameters/size_limit_mb = 2)", e.Message, StringComparison.Ordinal);
            Assert.Contains("echo 3 > /sys/module/udmabuf/parameters/size_limit_mb", e.Hint, StringComparison.Ordinal);

            // Without the pre-check the kernel's own answer is a bare EINVAL: why the check exists.
            var k = Assert.Throws<DmabufException>(() => UdmabufMemory.Create(3 << 20, "over-limit", checkLimit: false));
            Say(k.Message);
            Assert.Equal(Errno.EINVAL, k.Errno);
            Assert.Contains("size_limit_mb (2 MiB now; asked 3 MiB)", k.Message, StringComparison.Ordinal);

            // Exactly the limit is allowed (udmabuf.c: pagecount > pglimit fails).
            using UdmabufMemory atLimit = UdmabufMemory.Create(2 << 20);
            Assert.Equal(2 << 20, atLimit.Size);

            var list = Assert.Throws<DmabufException>(() => UdmabufMemory.CreateList(4 << 20, [new(0, 2 << 20), new(2 << 20, Page)]));
            Assert.Equal("UDMABUF_CREATE_LIST", list.Operation);
        }
        finally
        {
            File.WriteAllText(UdmabufMemory.SizeLimitPath, original);
        }
        Assert.Equal(original, File.ReadAllText(UdmabufMemory.SizeLimitPath).Trim());
    }

    [Fact]
    public void Udmabuf_list_concatenates_its_ranges_in_order()
    {
        Guest.Require();
        using UdmabufMemory mem = UdmabufMemory.CreateList(4 * Page, [new(2 * Page, Page), new(0, Page), new(3 * Page, Page)]);
        Say($"UDMABUF_CREATE_LIST: {mem}; ranges {string.Join(", ", mem.Ranges)}");
        Assert.Equal(3 * Page, mem.Size);
        Assert.Equal("udmabuf", mem.ExporterName);
        Assert.Equal(3, mem.Ranges.Count);
        byte[][] pages = [Pattern((int)Page, 1), Pattern((int)Page, 2), Pattern((int)Page, 3)];
        for (int i = 0; i < 3; i++)
        {
            mem.CopyFrom(i * Page, pages[i]);
        }
        // dma-buf page i lands at memfd offset Ranges[i].Offset.
        int memfd = (int)mem.MemfdHandle.DangerousGetHandle();
        for (int i = 0; i < 3; i++)
        {
            byte[] got = new byte[Page];
            fixed (byte* p = got)
            {
                Assert.Equal(Page, Libc.pread(memfd, p, (nuint)Page, mem.Ranges[i].Offset).Value);
            }
            Assert.Equal(pages[i], got);
        }
    }

    [Fact]
    public void Dma_heap_system_allocates_a_dma_buf_named_system()
    {
        Guest.Require();
        using DmaHeapMemory mem = DmaHeapMemory.Allocate((1 << 20) + 1);
        FdInfo info = FdInfo.Read(mem.DmabufHandle);
        Say($"dma-heap: {mem}; fdinfo exp_name={info.ExporterName} size={info.Size}");
        Assert.Equal(MemoryProviderKind.DmaHeap, mem.Kind);
        Assert.Equal("system", mem.ExporterName);
        Assert.Equal("system", info.ExporterName);
        Assert.Equal((1 << 20) + Page, mem.Size); // len rounded up to a page (dma-heap.c)
        Assert.Equal(info.Inode, mem.Inode);
        byte[] pattern = Pattern(50_000, 9);
        mem.CopyFrom(mem.Size - pattern.Length, pattern);
        byte[] back = new byte[pattern.Length];
        mem.CopyTo(mem.Size - pattern.Length, back);
        Assert.Equal(pattern, back);

        var e = Assert.Throws<DmabufException>(() => DmaHeapMemory.Allocate(Page, "no-such-heap"));
        Say(e.Message);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains("no heap named 'no-such-heap' (present: system", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Import_by_dup_and_by_take_sees_the_same_dma_buf()
    {
        Guest.Require();
        using UdmabufMemory original = UdmabufMemory.Create(4 * Page);
        using (ImportedDmabufMemory dup = ImportedDmabufMemory.Import(original.DmabufHandle, DmabufOwnership.Duplicate))
        {
            Say($"import (dup): {dup}");
            Assert.Equal(MemoryProviderKind.Imported, dup.Kind);
            Assert.Equal("udmabuf", dup.ExporterName);
            Assert.Equal(original.Inode, dup.Inode);
            Assert.Equal(original.Size, dup.Size);
            Assert.Null(dup.MappingError);
            Assert.NotEqual(original.DmabufHandle.DangerousGetFd(), dup.DmabufHandle.DangerousGetFd());
            byte[] pattern = Pattern(1000, 4);
            dup.CopyFrom(100, pattern);
            byte[] back = new byte[pattern.Length];
            original.CopyTo(100, back);
            Assert.Equal(pattern, back);
        }
        Assert.False(original.DmabufHandle.IsClosed);

        // Take: the caller's handle (here a borrowed view of the original's fd, dup'ed into one the
        // caller owns) is disposed by the import; the import's own copy lives on.
        using var borrowed = new SafeDmabufHandle(original.DmabufHandle.DangerousGetFd(), ownsHandle: false);
        SysResult copy = Libc.fcntl(borrowed.DangerousGetFd(), linux_fcntl.F_DUPFD_CLOEXEC, 0);
        Assert.False(copy.IsError, copy.ToString());
        var callers = new SafeDmabufHandle(copy.Int32, ownsHandle: true);
        using ImportedDmabufMemory took = ImportedDmabufMemory.Import(callers, DmabufOwnership.Take);
        Assert.True(callers.IsClosed);
        Assert.Equal(original.Inode, took.Inode);
        Assert.Equal(2, FdsWithInode(original.Inode).Count); // the original's fd and the import's
    }

    [Fact]
    public void Auto_picks_udmabuf_and_says_why_cuda_was_skipped()
    {
        Guest.Require();
        ProviderSelection s = MemoryProviders.Select(1 << 20);
        using DeviceMemory mem = s.Memory!;
        Say("auto:\n" + s.Describe());
        Assert.Equal(MemoryProviderKind.Udmabuf, s.Chosen);
        Assert.Equal("udmabuf", mem.ExporterName);
        Assert.Equal(ProviderOutcome.Skipped, s.Candidates[0].Outcome);
        Assert.Contains("no CUDA", s.Candidates[0].Reason, StringComparison.Ordinal);
        Assert.Equal(ProviderOutcome.Chosen, s.Candidates[1].Outcome);
        Assert.Equal(ProviderOutcome.NotTried, s.Candidates[2].Outcome);
        Assert.Equal(3, s.Candidates.Count);
    }

    [Fact]
    public void Dispose_closes_the_dma_buf_and_memfd_and_unmaps()
    {
        Guest.Require();
        string name = "udmabuf-dispose-" + Guid.NewGuid().ToString("N");
        UdmabufMemory mem = UdmabufMemory.Create(2 * Page, name);
        ulong ino = mem.Inode;
        Assert.Single(FdsWithInode(ino));
        Assert.Single(FdsLinkingTo(name));
        // The mapping is found by its start address and device:inode: inode numbers of these pseudo
        // file systems are small and repeat (seen: inode 2 on device 00:01 for unrelated shmem mappings).
        string mapping = MappingKey(mem);
        Assert.Single(MapsWithKey(mapping));
        mem.Dispose();
        Assert.Empty(FdsWithInode(ino));
        Assert.Empty(FdsLinkingTo(name));
        Assert.Empty(MapsWithKey(mapping));
        Assert.Throws<ObjectDisposedException>(() => mem.DmabufHandle);
        Assert.Throws<ObjectDisposedException>(() => mem.CopyTo(0, new byte[1]));
    }

    private static byte[] Pattern(int length, int seed)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < b.Length; i++)
        {
            b[i] = (byte)(i * 31 + seed);
        }
        return b;
    }

    /// <summary>
    /// dma-buf fds whose fdinfo "ino:" is <paramref name="ino"/> (a dma-buf's link target is not unique).
    /// Only dma-bufs (fdinfo has "exp_name:"): inode numbers are per file system, so the memfd behind a
    /// udmabuf (shmem) can have the same number as the dma-buf itself — seen intermittently in both kernels.
    /// </summary>
    private static List<string> FdsWithInode(ulong ino)
    {
        var found = new List<string>();
        foreach (string f in Directory.GetFiles("/proc/self/fdinfo"))
        {
            try
            {
                string[] lines = File.ReadAllLines(f);
                if (lines.Any(l => l == "ino:\t" + ino.ToString(CultureInfo.InvariantCulture))
                    && lines.Any(l => l.StartsWith("exp_name:", StringComparison.Ordinal)))
                {
                    found.Add(f);
                }
            }
            catch (IOException)
            {
            }
        }
        return found;
    }

    private static List<string> FdsLinkingTo(string text) =>
        Directory.GetFileSystemEntries("/proc/self/fd")
            .Where(e =>
            {
                try
                {
                    return new FileInfo(e).LinkTarget?.Contains(text, StringComparison.Ordinal) == true;
                }
                catch (IOException)
                {
                    return false;
                }
            })
            .ToList();

    /// <summary>Lines of /proc/self/maps whose inode column (the 5th) is <paramref name="ino"/>.</summary>
    /// <summary>"start dev inode" of the memory's CPU mapping, from /proc/self/maps.</summary>
    private static unsafe string MappingKey(DeviceMemory mem)
    {
        string start = ((ulong)mem.DangerousGetPointer()).ToString("x", CultureInfo.InvariantCulture);
        string line = Assert.Single(File.ReadAllLines("/proc/self/maps"), l => l.StartsWith(start + "-", StringComparison.Ordinal));
        string[] p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return $"{start} {p[3]} {p[4]}";
    }

    private static List<string> MapsWithKey(string key)
    {
        string[] k = key.Split(' ');
        return File.ReadAllLines("/proc/self/maps")
            .Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: >= 5 } p
                && p[0].StartsWith(k[0] + "-", StringComparison.Ordinal) && p[3] == k[1] && p[4] == k[2])
            .ToList();
    }

    private static List<string> MapsWithInode(ulong ino) =>
        File.ReadAllLines("/proc/self/maps")
            .Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: >= 5 } p && p[4] == ino.ToString(CultureInfo.InvariantCulture))
            .ToList();
}

/// <summary>Tests that create udmabufs run one at a time (one of them changes the size limit).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class UdmabufSerial
{
    /// <summary>The collection's name.</summary>
    public const string Name = "udmabuf";
}
