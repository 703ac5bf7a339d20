using Devmem.Interop;
using static Devmem.Interop.asm_socket;
using static Devmem.Interop.sys_socket;
using static Devmem.Interop.sys_socket_type;

namespace Devmem.Tests.Interop;

// The syscall layer against the host kernel: results and errno as the kernel gives them.
[Tier(Tier.HostKernel)]
public unsafe class LibcTests
{
    [Fact]
    public void Errno_is_captured_right_after_a_failing_call()
    {
        SysResult r = Libc.close(-1);
        Assert.True(r.IsError);
        Assert.Equal(-1, r.Value);
        Assert.Equal(Errno.EBADF, r.Errno);
    }

    [Fact]
    public void Each_wrapper_reports_its_own_errno_not_a_stale_one()
    {
        // EBADF first, then a call that fails differently: the second result must not carry EBADF.
        Assert.Equal(Errno.EBADF, Libc.close(-1).Errno);
        SysResult s = Libc.socket(AF_INET, SOCK_STREAM, 17); // IPPROTO_UDP over a stream: net/ipv4/af_inet.c inet_create
        Assert.True(s.IsError);
        Assert.Equal(Errno.EPROTONOSUPPORT, s.Errno);
    }

    [Fact]
    public void A_socket_is_created_and_closed_and_setsockopt_reports_its_value()
    {
        SysResult s = Libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        Assert.False(s.IsError, s.ToString());
        int fd = s.Int32;
        try
        {
            int one = 1;
            SysResult set = Libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(int));
            Assert.Equal(0, set.Value);
            int got = 0;
            uint len = sizeof(int);
            SysResult get = Libc.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &got, &len);
            Assert.False(get.IsError, get.ToString());
            Assert.Equal(1, got);
            Assert.Equal((uint)sizeof(int), len);
        }
        finally
        {
            Assert.False(Libc.close(fd).IsError);
        }
    }

    [Fact]
    public void poll_reports_errno_too()
    {
        // Tmds.LibC's poll has no SetLastError; ours must capture EINVAL for nfds above RLIMIT_NOFILE.
        pollfd p = default;
        SysResult r = Libc.poll(&p, nuint.MaxValue / 16, 0);
        Assert.True(r.IsError);
        Assert.Equal(Errno.EINVAL, r.Errno);
    }
}

[Tier(Tier.Pure)]
public class LinuxArchTests
{
    [Fact]
    public void Only_the_architectures_whose_headers_were_checked_are_supported()
    {
        Assert.True(LinuxArch.IsSupported); // the test hosts are x86_64 Linux
        Assert.True(LinuxArch.IsSupportedArchitecture(System.Runtime.InteropServices.Architecture.Arm64));
        foreach (var other in new[] { System.Runtime.InteropServices.Architecture.Arm, System.Runtime.InteropServices.Architecture.S390x,
                     System.Runtime.InteropServices.Architecture.Ppc64le, System.Runtime.InteropServices.Architecture.LoongArch64,
                     System.Runtime.InteropServices.Architecture.RiscV64, System.Runtime.InteropServices.Architecture.X86 })
        {
            Assert.False(LinuxArch.IsSupportedArchitecture(other));
        }
        LinuxArch.ThrowIfUnsupported(); // does not throw here
    }
}
