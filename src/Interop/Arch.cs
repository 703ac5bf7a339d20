using System.Runtime.InteropServices;

namespace Devmem.Interop;

// Every value in this assembly that differs between CPU architectures lives in this file, and the
// check that refuses to run on an architecture whose values have not been verified.
//
// Supported: x86_64 and arm64. Both use the kernel's generic uapi headers for everything declared
// here: asm-generic/socket.h (SOL_SOCKET, SO_*), asm-generic/ioctl.h (ioctl number encoding),
// asm-generic/errno.h (Errno.cs), asm-generic/mman-common.h (PROT_*, MAP_*), asm-generic/poll.h.
// They differ on (arch/{alpha,mips,parisc,powerpc,sparc}/include/uapi/asm/{socket,ioctl,errno}.h):
//   - socket.h: alpha and mips (SOL_SOCKET 0xFFFF, SO_* renumbered), parisc (SO_DEVMEM_* 0x404E..),
//     sparc (SO_DEVMEM_* 0x57..);
//   - ioctl.h: alpha, mips, powerpc and sparc (_IOC_SIZEBITS 13, _IOC_WRITE 4, ...);
//   - errno.h: alpha, mips, parisc, sparc.
// The ABI test (tests/Devmem.Abi.Tests) compiles the x86_64 values against Debian's x86_64 headers;
// arm64 is supported on the strength of its headers being the same generic files (its
// arch/arm64/include/uapi/asm/{socket,ioctl,errno,mman,poll}.h only include the asm-generic ones).
// Values that are the same on every architecture (MSG_*, AF_*) live with their area instead.

/// <summary>Which CPU architectures the declarations of this assembly were checked for.</summary>
internal static class LinuxArch
{
    /// <summary>The architectures whose uapi values match this assembly's (both use the generic headers).</summary>
    public static IReadOnlyList<Architecture> Supported { get; } = [Architecture.X64, Architecture.Arm64];

    /// <summary>True on Linux on x86_64 or arm64.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && IsSupportedArchitecture(RuntimeInformation.ProcessArchitecture);

    /// <summary>Whether this assembly's values are those of <paramref name="architecture"/>'s kernel headers.</summary>
    public static bool IsSupportedArchitecture(Architecture architecture) => architecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>
    /// Throws <see cref="PlatformNotSupportedException"/> with the reason unless <see cref="IsSupported"/>.
    /// <see cref="Libc"/> calls this before its first system call; applications should call it at start-up.
    /// </summary>
    public static void ThrowIfUnsupported()
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException(
                $"devmem TCP for .NET supports Linux on x86_64 and arm64 only; this is {RuntimeInformation.OSDescription} " +
                $"on {RuntimeInformation.ProcessArchitecture}. Socket option numbers (SOL_SOCKET, SO_DEVMEM_*), ioctl " +
                "numbers and errno values differ on other architectures (their kernel headers renumber them) and " +
                "have not been checked there.");
        }
    }
}

/// <summary>
/// Socket-level option numbers from <c>asm/socket.h</c> (generic: <c>include/uapi/asm-generic/socket.h</c>).
/// The <c>SCM_*</c> control-message types are aliases of the <c>SO_*</c> options of the same name.
/// </summary>
[UapiHeader("asm/socket.h")]
internal static class asm_socket
{
    public const int SOL_SOCKET = 1;

    public const int SO_REUSEADDR = 2;
    public const int SO_ERROR = 4;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int SO_REUSEPORT = 15;
    /// <summary>Bind the socket to a device (devmem TX: recommended by Documentation/networking/devmem.rst).</summary>
    public const int SO_BINDTODEVICE = 25;
    /// <summary>Allow MSG_ZEROCOPY sends (required for devmem TX).</summary>
    public const int SO_ZEROCOPY = 60;

    /// <summary>getsockopt-only name of the SCM_DEVMEM_LINEAR cmsg type.</summary>
    public const int SO_DEVMEM_LINEAR = 78;
    /// <summary>Name of the SCM_DEVMEM_DMABUF cmsg type.</summary>
    public const int SO_DEVMEM_DMABUF = 79;
    /// <summary>setsockopt(SOL_SOCKET, SO_DEVMEM_DONTNEED, dmabuf_token[n]): give fragments back; returns the number freed.</summary>
    public const int SO_DEVMEM_DONTNEED = 80;

    /// <summary>cmsg type: devmem payload that landed in the skb's linear part and was copied into the iov.</summary>
    public const int SCM_DEVMEM_LINEAR = SO_DEVMEM_LINEAR;
    /// <summary>cmsg type: devmem payload in the dma-buf (RX: a dmabuf_cmsg; TX: a u32 binding id).</summary>
    public const int SCM_DEVMEM_DMABUF = SO_DEVMEM_DMABUF;
}

/// <summary>
/// ioctl request number encoding, <c>asm/ioctl.h</c> (generic: <c>include/uapi/asm-generic/ioctl.h</c>):
/// <c>dir &lt;&lt; 30 | size &lt;&lt; 16 | type &lt;&lt; 8 | nr</c>. The one helper that encodes ioctl numbers.
/// </summary>
[UapiHeader("asm/ioctl.h")]
internal static class asm_ioctl
{
    public const int _IOC_NRBITS = 8;
    public const int _IOC_TYPEBITS = 8;
    public const int _IOC_SIZEBITS = 14;
    public const int _IOC_DIRBITS = 2;

    public const int _IOC_NRSHIFT = 0;
    public const int _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
    public const int _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
    public const int _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;

    public const uint _IOC_NONE = 0;
    public const uint _IOC_WRITE = 1;
    public const uint _IOC_READ = 2;

    /// <summary><c>_IOC(dir, type, nr, size)</c>; throws if a field does not fit its bits (the C macro would silently corrupt).</summary>
    public static uint _IOC(uint dir, char type, uint nr, uint size)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dir, (1u << _IOC_DIRBITS) - 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)type, (1u << _IOC_TYPEBITS) - 1, nameof(type));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nr, (1u << _IOC_NRBITS) - 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, (1u << _IOC_SIZEBITS) - 1);
        return (dir << _IOC_DIRSHIFT) | ((uint)type << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT);
    }

    /// <summary><c>_IO(type, nr)</c>: no argument.</summary>
    public static uint _IO(char type, uint nr) => _IOC(_IOC_NONE, type, nr, 0);

    /// <summary><c>_IOR(type, nr, T)</c>: the kernel writes a <typeparamref name="T"/>.</summary>
    public static unsafe uint _IOR<T>(char type, uint nr) where T : unmanaged => _IOC(_IOC_READ, type, nr, (uint)sizeof(T));

    /// <summary><c>_IOW(type, nr, T)</c>: the kernel reads a <typeparamref name="T"/>.</summary>
    public static unsafe uint _IOW<T>(char type, uint nr) where T : unmanaged => _IOC(_IOC_WRITE, type, nr, (uint)sizeof(T));

    /// <summary><c>_IOWR(type, nr, T)</c>: the kernel reads and writes a <typeparamref name="T"/>.</summary>
    public static unsafe uint _IOWR<T>(char type, uint nr) where T : unmanaged => _IOC(_IOC_READ | _IOC_WRITE, type, nr, (uint)sizeof(T));

    /// <summary><c>_IOC_DIR(nr)</c>.</summary>
    public static uint _IOC_DIR(uint nr) => (nr >> _IOC_DIRSHIFT) & ((1u << _IOC_DIRBITS) - 1);
    /// <summary><c>_IOC_TYPE(nr)</c>.</summary>
    public static uint _IOC_TYPE(uint nr) => (nr >> _IOC_TYPESHIFT) & ((1u << _IOC_TYPEBITS) - 1);
    /// <summary><c>_IOC_NR(nr)</c>.</summary>
    public static uint _IOC_NR(uint nr) => (nr >> _IOC_NRSHIFT) & ((1u << _IOC_NRBITS) - 1);
    /// <summary><c>_IOC_SIZE(nr)</c>.</summary>
    public static uint _IOC_SIZE(uint nr) => (nr >> _IOC_SIZESHIFT) & ((1u << _IOC_SIZEBITS) - 1);
}

/// <summary>
/// Socket types and their flags, glibc <c>bits/socket_type.h</c> (per architecture in glibc; mips swaps
/// SOCK_STREAM and SOCK_DGRAM, and SOCK_NONBLOCK/SOCK_CLOEXEC are O_NONBLOCK/O_CLOEXEC, which differ on
/// alpha, mips, parisc and sparc).
/// </summary>
[UapiHeader("sys/socket.h")]
internal static class sys_socket_type
{
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
}

/// <summary>
/// open(2)/fcntl(2) values from <c>asm/fcntl.h</c> (generic: <c>include/uapi/asm-generic/fcntl.h</c>).
/// Only values that arm64 shares with x86_64 are declared (arm64 renumbers O_DIRECTORY, O_NOFOLLOW,
/// O_DIRECT and O_LARGEFILE, arch/arm64/include/uapi/asm/fcntl.h).
/// </summary>
[UapiHeader("asm/fcntl.h")]
internal static class asm_fcntl
{
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_RDWR = 0x2;
    public const int O_ACCMODE = 0x3;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;

    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int FD_CLOEXEC = 1;
}

/// <summary>
/// eventfd(2) flags, glibc <c>sys/eventfd.h</c>: EFD_CLOEXEC and EFD_NONBLOCK are O_CLOEXEC and
/// O_NONBLOCK (the same on x86_64 and arm64; fs/eventfd.c).
/// </summary>
[UapiHeader("sys/eventfd.h")]
internal static class sys_eventfd
{
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;
}

/// <summary>mmap(2) protections and flags that differ by architecture, <c>asm/mman.h</c> (generic: <c>asm-generic/mman-common.h</c>).</summary>
[UapiHeader("asm/mman.h")]
internal static class asm_mman
{
    public const int PROT_NONE = 0x0;
    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;

    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_POPULATE = 0x8000;
}
