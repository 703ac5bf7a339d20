using Devmem.Interop;
using MonoStat = Mono.Unix.Native.Stat;
using MonoSyscall = Mono.Unix.Native.Syscall;
using static Devmem.Interop.asm_mman;
using static Devmem.Interop.linux_fcntl;
using static Devmem.Interop.linux_memfd;
using static Devmem.Interop.linux_mman;

namespace Devmem.Tests.Interop;

// The udmabuf backing-memory recipe against the host kernel (memfd, seals, ftruncate, mmap), and statx
// checked against Mono.Unix's fstat, an independent implementation (its own native shim, libMono.Unix.so).
[Tier(Tier.HostKernel)]
public unsafe class MemoryTests
{
    private static int NewMemfd(uint flags)
    {
        byte* name = stackalloc byte[] { (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0 };
        SysResult r = Libc.memfd_create(name, flags);
        Assert.False(r.IsError, r.ToString());
        return r.Int32;
    }

    [Fact]
    public void A_sealed_memfd_refuses_to_shrink_and_maps_shared()
    {
        const int size = 2 * 4096;
        int fd = NewMemfd(MFD_ALLOW_SEALING | MFD_CLOEXEC);
        try
        {
            Assert.False(Libc.ftruncate(fd, size).IsError);
            Assert.False(Libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK).IsError);
            SysResult seals = Libc.fcntl(fd, F_GET_SEALS, 0);
            Assert.Equal(F_SEAL_SHRINK, (int)seals.Value & F_SEAL_SHRINK);
            Assert.Equal(Errno.EPERM, Libc.ftruncate(fd, 4096).Errno);

            SysResult map = Libc.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            Assert.False(map.IsError, map.ToString());
            var p = (byte*)map.Value;
            p[4096 + 7] = 0x5A;
            byte back = 0;
            Assert.Equal(1, Libc.pread(fd, &back, 1, 4096 + 7).Value);
            Assert.Equal(0x5A, back);
            Assert.False(Libc.munmap(p, size).IsError);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    [Fact]
    public void Without_MFD_ALLOW_SEALING_seals_are_refused()
    {
        int fd = NewMemfd(MFD_CLOEXEC);
        try
        {
            Assert.Equal(Errno.EPERM, Libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK).Errno);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    [Fact]
    public void statx_agrees_with_Mono_Unix_fstat()
    {
        int fd = NewMemfd(MFD_CLOEXEC);
        try
        {
            Assert.False(Libc.ftruncate(fd, 12345).IsError);
            statx st;
            SysResult r = Libc.fstatx(fd, linux_stat.STATX_BASIC_STATS, &st);
            Assert.False(r.IsError, r.ToString());
            Assert.Equal(0, MonoSyscall.fstat(fd, out MonoStat mono));
            Assert.Equal(mono.st_ino, st.stx_ino);
            Assert.Equal((long)mono.st_size, (long)st.stx_size);
            Assert.Equal((uint)mono.st_mode, st.stx_mode);
            Assert.Equal(sys_stat.S_IFREG, st.stx_mode & sys_stat.S_IFMT);
            Assert.Equal(Errno.EBADF, Libc.fstatx(-1, linux_stat.STATX_INO, &st).Errno);
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
