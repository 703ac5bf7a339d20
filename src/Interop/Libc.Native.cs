using System.Runtime.InteropServices;

namespace Devmem.Interop;

internal static unsafe partial class Libc
{
    /// <summary>
    /// This assembly's own P/Invokes, for calls Tmds.LibC 0.5.0 does not declare usefully:
    /// <list type="bullet">
    /// <item><c>poll</c>: Tmds.LibC declares it without <c>SetLastError</c>, so EINTR could not be seen.</item>
    /// <item><c>ioctl</c>: Tmds.LibC types the request as <c>int</c>; C's is <c>unsigned long</c> and
    /// numbers such as DMA_HEAP_IOCTL_ALLOC (0xC0184800) do not fit an int.</item>
    /// <item><c>sendmsg</c>/<c>recvmsg</c>: they take this assembly's ABI-checked <see cref="msghdr"/>
    /// (Tmds.LibC's is a different type), on the receive hot path.</item>
    /// <item><c>syscall</c>: io_uring_setup, io_uring_enter and io_uring_register have no glibc wrapper
    /// (nor a Tmds.LibC one). glibc's <c>syscall</c> is variadic; on x86_64 and arm64 it is written in
    /// assembly and reads its arguments from the integer registers, so a fixed six-argument signature
    /// passes them as the variadic call would.</item>
    /// <item><c>statx</c>: fstat's <c>struct stat</c> differs between x86_64 and arm64, and Tmds.LibC's
    /// fstat goes through glibc's <c>__fxstat</c>, a compatibility symbol since glibc 2.33; statx's
    /// struct is the same on every architecture.</item>
    /// </list>
    /// </summary>
    internal static partial class Native
    {
        [LibraryImport(LibraryNames.Libc, EntryPoint = "poll", SetLastError = true)]
        [UapiHeader("poll.h")]
        internal static partial int poll(pollfd* fds, nuint nfds, int timeout);

        [LibraryImport(LibraryNames.Libc, EntryPoint = "ioctl", SetLastError = true)]
        [UapiHeader("sys/ioctl.h")]
        internal static partial int ioctl(int fd, nuint request, void* arg);

        [LibraryImport(LibraryNames.Libc, EntryPoint = "sendmsg", SetLastError = true)]
        [UapiHeader("sys/socket.h")]
        internal static partial nint sendmsg(int fd, msghdr* msg, int flags);

        [LibraryImport(LibraryNames.Libc, EntryPoint = "recvmsg", SetLastError = true)]
        [UapiHeader("sys/socket.h")]
        internal static partial nint recvmsg(int fd, msghdr* msg, int flags);

        [LibraryImport(LibraryNames.Libc, EntryPoint = "syscall", SetLastError = true)]
        [UapiHeader("unistd.h")]
        internal static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

        [LibraryImport(LibraryNames.Libc, EntryPoint = "statx", SetLastError = true)]
        [UapiHeader("sys/stat.h")]
        internal static partial int statx(int dirfd, byte* pathname, int flags, uint mask, statx* statxbuf);
    }
}
