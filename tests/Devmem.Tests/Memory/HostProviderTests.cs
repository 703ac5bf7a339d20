using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;
using Devmem.Memory;

namespace Devmem.Tests.Memory;

// The memory providers against the host kernel (6.18 here): it has no udmabuf and no dma-heaps, so
// their errors are the kernel's real answers; host memory (memfd) works end to end. Tests that depend
// on a device being absent skip, naming it, on a machine that has it (the guest tests cover that side).
[Tier(Tier.HostKernel)]
public unsafe class HostProviderTests(ITestOutputHelper output)
{
    [Fact]
    public void Udmabuf_without_dev_udmabuf_names_the_missing_kernel_config()
    {
        if (File.Exists(UdmabufMemory.DevicePath))
        {
            Assert.Skip($"{UdmabufMemory.DevicePath} exists on this machine: the missing-device error cannot be produced here");
        }
        var e = Assert.Throws<DmabufException>(() => UdmabufMemory.Create(1 << 20));
        output.WriteLine(e.Message);
        Assert.Equal("open /dev/udmabuf", e.Operation);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal(2, (int)e.Errno);
        Assert.Equal("ENOENT", e.ErrnoName);
        Assert.Contains("CONFIG_UDMABUF", e.Hint, StringComparison.Ordinal);
        Assert.StartsWith("open /dev/udmabuf: ENOENT (2): No such file or directory.", e.Message, StringComparison.Ordinal);
        Assert.Contains("Hint: this kernel has no udmabuf device: it was built without CONFIG_UDMABUF", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Udmabuf_list_without_dev_udmabuf_fails_the_same_way_and_leaks_nothing()
    {
        if (File.Exists(UdmabufMemory.DevicePath))
        {
            Assert.Skip($"{UdmabufMemory.DevicePath} exists on this machine");
        }
        string name = ProcFd.UniqueName("udmabuf-missing");
        long page = Environment.SystemPageSize;
        var e = Assert.Throws<DmabufException>(() => UdmabufMemory.CreateList(4 * page, [new(0, page), new(2 * page, page)], name));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Empty(ProcFd.FdsLinkingTo(name));
    }

    [Fact]
    public void Udmabuf_list_ranges_are_checked_before_the_kernel_is_asked()
    {
        long page = Environment.SystemPageSize;
        Assert.Throws<ArgumentException>(() => UdmabufMemory.CreateList(4 * page, [new(1, page)]));
        Assert.Throws<ArgumentException>(() => UdmabufMemory.CreateList(4 * page, [new(0, page + 1)]));
        Assert.Throws<ArgumentException>(() => UdmabufMemory.CreateList(4 * page, [new(3 * page, 2 * page)]));
        Assert.Throws<ArgumentException>(() => UdmabufMemory.CreateList(4 * page, []));
        Assert.Throws<ArgumentException>(() => UdmabufMemory.CreateList(4 * page + 1, [new(0, page)]));
    }

    [Fact]
    public void Dma_heap_without_dev_dma_heap_names_the_missing_kernel_config()
    {
        if (Directory.Exists(DmaHeapMemory.HeapDirectory))
        {
            Assert.Skip($"{DmaHeapMemory.HeapDirectory} exists on this machine: the missing-heap error cannot be produced here");
        }
        var e = Assert.Throws<DmabufException>(() => DmaHeapMemory.Allocate(1 << 20));
        output.WriteLine(e.Message);
        Assert.Equal("open /dev/dma_heap/system", e.Operation);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains("CONFIG_DMABUF_HEAPS", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Host_memory_round_trips_writes_through_to_its_memfd_and_reports_its_inode()
    {
        string name = ProcFd.UniqueName("host-e2e");
        using HostMemory mem = HostMemory.Create(10_000, name);
        long page = Environment.SystemPageSize;
        Assert.Equal((10_000 + page - 1) / page * page, mem.Size);
        Assert.Equal(MemoryProviderKind.HostMemory, mem.Kind);
        Assert.False(mem.IsDmabuf);
        Assert.Null(mem.ExporterName);
        Assert.True(mem.HasCpuMapping);
        Assert.Throws<InvalidOperationException>(() => mem.DmabufHandle);

        byte[] pattern = new byte[5000];
        for (int i = 0; i < pattern.Length; i++)
        {
            pattern[i] = (byte)(i * 7 + 3);
        }
        mem.CopyFrom(1234, pattern);
        byte[] back = new byte[pattern.Length];
        mem.CopyTo(1234, back);
        Assert.Equal(pattern, back);
        Assert.True(mem.GetSpan(1234, pattern.Length).SequenceEqual(pattern));
        Assert.Equal(pattern[0], mem.DangerousGetPointer()[1234]);

        // Write-through: the memfd itself (read with pread, not through the mapping) has the bytes.
        byte[] viaFd = new byte[pattern.Length];
        int memfd = (int)mem.MemfdHandle.DangerousGetHandle();
        fixed (byte* p = viaFd)
        {
            SysResult r = Libc.pread(memfd, p, (nuint)viaFd.Length, 1234);
            Assert.Equal(viaFd.Length, r.Value);
        }
        Assert.Equal(pattern, viaFd);

        // Inode from statx, checked against the kernel's other account of the same fd (fdinfo "ino:").
        FdInfo info = FdInfo.Read(mem.MemfdHandle);
        output.WriteLine($"{mem}; fdinfo:\n{info.Text}");
        Assert.NotNull(info.Inode);
        Assert.Equal(info.Inode!.Value, mem.Inode);
        Assert.False(info.IsDmabuf);
        Assert.Contains($"/memfd:{name}", new FileInfo($"/proc/self/fd/{memfd}").LinkTarget, StringComparison.Ordinal);
    }

    [Fact]
    public void Anonymous_host_memory_is_a_private_mapping_without_a_file_and_dispose_unmaps_it()
    {
        long page = Environment.SystemPageSize;
        HostMemory mem = HostMemory.CreateAnonymous((36 * page) + 5);
        Assert.Equal(37 * page, mem.Size);
        Assert.Equal(MemoryProviderKind.HostMemory, mem.Kind);
        Assert.True(mem.HasCpuMapping);
        Assert.Equal(0UL, mem.Inode);
        var noFd = Assert.Throws<InvalidOperationException>(() => mem.MemfdHandle);
        Assert.Contains("no memfd", noFd.Message, StringComparison.Ordinal);

        byte[] pattern = [.. Enumerable.Range(0, 3000).Select(i => (byte)(i * 5 + 1))];
        mem.CopyFrom(4000, pattern);
        Assert.True(mem.GetSpan(4000, pattern.Length).SequenceEqual(pattern));

        // The kernel's account (/proc/self/maps): private (p), read/write, no file (inode 0, no path).
        string start = ((ulong)mem.DangerousGetPointer()).ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "-";
        string? line = File.ReadLines("/proc/self/maps").FirstOrDefault(l => l.StartsWith(start, StringComparison.Ordinal));
        output.WriteLine(line ?? "(no mapping)");
        Assert.NotNull(line);
        string[] f = line!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("rw-p", f[1]);
        Assert.Equal("0", f[4]);
        Assert.True(f.Length == 5, $"an anonymous mapping has no path: {line}");

        mem.Dispose();
        Assert.DoesNotContain(File.ReadLines("/proc/self/maps"), l => l.StartsWith(f[0] + " ", StringComparison.Ordinal)); // that exact range (an odd size: nothing else maps it)
        Assert.Throws<ObjectDisposedException>(() => mem.GetSpan(0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => HostMemory.CreateAnonymous(0));
    }

    [Fact]
    public void Copies_are_bounds_checked()
    {
        using HostMemory mem = HostMemory.Create(4096);
        long size = mem.Size;
        Assert.Throws<ArgumentOutOfRangeException>(() => mem.CopyFrom(size - 1, new byte[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => mem.CopyTo(-1, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => mem.CopyTo(size + 1, Span<byte>.Empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => mem.GetSpan(size, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => mem.GetSpan(long.MaxValue, 1));
        mem.CopyFrom(size - 2, new byte[] { 1, 2 });
        mem.CopyTo(size, Span<byte>.Empty);
        Assert.Equal(2, mem.GetSpan(size - 1, 1)[0]);
    }

    [Fact]
    public void Dispose_unmaps_and_closes_every_fd_and_later_use_throws_ObjectDisposedException()
    {
        string name = ProcFd.UniqueName("host-dispose");
        HostMemory mem = HostMemory.Create(3 * 4096, name);
        Assert.Single(ProcFd.FdsLinkingTo(name));
        Assert.NotEmpty(ProcFd.MappingsOf(name));

        mem.Dispose();
        Assert.Empty(ProcFd.FdsLinkingTo(name));
        Assert.Empty(ProcFd.MappingsOf(name));
        Assert.True(mem.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => mem.CopyFrom(0, new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => mem.CopyTo(0, new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => mem.GetSpan(0, 1));
        Assert.Throws<ObjectDisposedException>(() => mem.DmabufHandle);
        Assert.Throws<ObjectDisposedException>(() => mem.BeginCpuAccess(CpuAccess.Read));
        mem.Dispose(); // twice is fine
    }

    [Fact]
    public void Importing_a_fd_that_is_not_a_dma_buf_is_refused_and_ownership_is_respected()
    {
        string name = ProcFd.UniqueName("import-memfd");
        using HostMemory host = HostMemory.Create(4096, name);

        // Duplicate: the caller's fd stays open, the import's dup is closed again.
        var e = Assert.Throws<DmabufException>(() => ImportedDmabufMemory.Import(host.MemfdHandle, DmabufOwnership.Duplicate));
        output.WriteLine(e.Message);
        Assert.Equal(Errno.None, e.Errno);
        Assert.Contains("not a dma-buf", e.Message, StringComparison.Ordinal);
        Assert.Contains("has no exp_name line", e.Message, StringComparison.Ordinal);
        Assert.Contains($"/memfd:{name}", e.Message, StringComparison.Ordinal);
        Assert.False(host.MemfdHandle.IsClosed);
        Assert.Single(ProcFd.FdsLinkingTo(name));

        // Take (raw fd): the import owns it from the call on and closes it on failure.
        string taken = ProcFd.UniqueName("import-take");
        byte[] n = Encoding.UTF8.GetBytes(taken + "\0");
        SysResult fd;
        fixed (byte* p = n)
        {
            fd = Libc.memfd_create(p, linux_memfd.MFD_CLOEXEC);
        }
        Assert.False(fd.IsError, fd.ToString());
        Assert.Single(ProcFd.FdsLinkingTo(taken));
        Assert.Throws<DmabufException>(() => ImportedDmabufMemory.DangerousImport(fd.Int32, DmabufOwnership.Take));
        Assert.Empty(ProcFd.FdsLinkingTo(taken));

        // A closed fd is the kernel's EBADF.
        var bad = Assert.Throws<DmabufException>(() => ImportedDmabufMemory.DangerousImport(int.MaxValue - 1, DmabufOwnership.Duplicate));
        Assert.Equal(Errno.EBADF, bad.Errno);
    }

    [Fact]
    public void Cuda_absent_is_a_clear_result_not_an_exception()
    {
        if (NativeLibrary.TryLoad(LibCuda.SoName, out nint h))
        {
            NativeLibrary.Free(h);
            Assert.Skip($"{LibCuda.SoName} is installed here: the no-CUDA answer cannot be produced (the GPU check is docs/hardware.md)");
        }
        CudaAvailability a = CudaDriver.Probe();
        output.WriteLine(a.ToString());
        Assert.False(a.IsAvailable);
        Assert.Equal("no CUDA: libcuda.so.1 not found (no NVIDIA driver installed)", a.Reason);
        Assert.Equal(0, a.DeviceCount);
        var e = Assert.Throws<DmabufException>(() => CudaMemory.Allocate(1 << 20));
        Assert.Contains("no CUDA: libcuda.so.1 not found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_fails_listing_each_providers_reason_and_never_picks_host_memory()
    {
        if (File.Exists(UdmabufMemory.DevicePath) || Directory.Exists(DmaHeapMemory.HeapDirectory))
        {
            Assert.Skip("this machine has udmabuf or a dma-heap, so auto selection succeeds here (the guest tests check that)");
        }
        var log = new ListLogger();
        ProviderSelection s = MemoryProviders.Select(1 << 20, new MemoryProviderOptions { Logger = log });
        output.WriteLine(s.Describe());
        Assert.Null(s.Memory);
        Assert.Null(s.Chosen);
        Assert.Equal([MemoryProviderKind.Cuda, MemoryProviderKind.Udmabuf, MemoryProviderKind.DmaHeap], s.Candidates.Select(c => c.Kind));
        Assert.Equal([ProviderOutcome.Skipped, ProviderOutcome.Skipped, ProviderOutcome.Skipped], s.Candidates.Select(c => c.Outcome));
        Assert.Contains("CUDA", s.Candidates[0].Reason, StringComparison.Ordinal);
        Assert.Contains("CONFIG_UDMABUF", s.Candidates[1].Reason, StringComparison.Ordinal);
        Assert.Contains("CONFIG_DMABUF_HEAPS", s.Candidates[2].Reason, StringComparison.Ordinal);
        Assert.Equal(3, log.Entries.Count);
        Assert.All(log.Entries.Take(3), l => Assert.Contains("skipped", l.Message, StringComparison.Ordinal));

        var e = Assert.Throws<DmabufException>(() => MemoryProviders.Auto(1 << 20));
        output.WriteLine(e.Message);
        Assert.Contains("Cuda: Skipped:", e.Message, StringComparison.Ordinal);
        Assert.Contains("Udmabuf: Skipped: open /dev/udmabuf: ENOENT", e.Message, StringComparison.Ordinal);
        Assert.Contains("DmaHeap: Skipped: open /dev/dma_heap/system: ENOENT", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("HostMemory", e.Message, StringComparison.Ordinal);
        Assert.Contains("Fallback = DevmemFallback.Copy", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void DmabufException_message_has_step_errno_name_number_and_hint()
    {
        var e = DmabufException.Syscall("UDMABUF_CREATE", Errno.EINVAL, "check the size", "64 MiB in 1 range(s)");
        Assert.Equal("UDMABUF_CREATE: EINVAL (22): Invalid argument. 64 MiB in 1 range(s). Hint: check the size", e.Message);
        Assert.Equal(22, e.HResult);
        var pre = DmabufException.Refused("UDMABUF_CREATE", "refused before the call");
        Assert.Equal("UDMABUF_CREATE: refused before the call.", pre.Message);
        Assert.Equal("", pre.ErrnoName);
    }
}
