namespace Devmem.Interop;

// The socket API as user space sees it: glibc's <sys/socket.h> (struct msghdr and struct cmsghdr are
// glibc's, the kernel's own are not in uapi), the CMSG_* macros, and the MSG_* flags, which are the
// same on every architecture (kernel include/linux/socket.h; glibc bits/socket.h).
// Architecture-specific socket values (SOL_SOCKET, SO_*, SOCK_*) are in Arch.cs. The socket error queue
// (linux/errqueue.h) and poll(2) (poll.h) follow below, one file for the area.

/// <summary>Address families, message flags and option levels of <c>&lt;sys/socket.h&gt;</c>.</summary>
[UapiHeader("sys/socket.h")]
internal static class sys_socket
{
    public const int AF_UNSPEC = 0;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int AF_NETLINK = 16;

    public const int SOL_NETLINK = 270;

    public const int SHUT_RD = 0;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

    public const int MSG_PEEK = 0x2;
    /// <summary>recvmsg: control data was discarded for lack of space (never set for devmem cmsgs, which are not truncated).</summary>
    public const int MSG_CTRUNC = 0x8;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_WAITALL = 0x100;
    /// <summary>recvmsg: read the socket's error queue (zerocopy completions, sock_extended_err).</summary>
    public const int MSG_ERRQUEUE = 0x2000;
    public const int MSG_NOSIGNAL = 0x4000;
    /// <summary>sendmsg: zerocopy send; devmem TX needs it together with SO_ZEROCOPY.</summary>
    public const int MSG_ZEROCOPY = 0x4000000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>
    /// recvmsg: hand unreadable (device memory) payload over as SCM_DEVMEM_* cmsgs; without it, reading
    /// such payload fails with EFAULT. Defined only in the kernel-internal <c>include/linux/socket.h</c>
    /// (<c>#define MSG_SOCK_DEVMEM 0x2000000 /* Receive devmem skbs as cmsg */</c>, since 6.12): no uapi
    /// header and no glibc (2.36 to 2.41) declares it; the kernel selftest ncdevmem.c defines it under
    /// <c>#ifndef</c>. The ABI test checks it against that kernel source file.
    /// </summary>
    [NotInUapi("include/linux/socket.h (kernel-internal)")]
    public const int MSG_SOCK_DEVMEM = 0x2000000;

    /// <summary>SCM_RIGHTS: passes file descriptors (SOL_SOCKET cmsg).</summary>
    public const int SCM_RIGHTS = 1;
}

/// <summary>IP-level option levels from glibc's <c>&lt;netinet/in.h&gt;</c> (the kernel's are in the internal include/linux/socket.h).</summary>
[UapiHeader("netinet/in.h")]
internal static class netinet_in
{
    /// <summary>Level of IPv4 options and of the IP_RECVERR cmsg.</summary>
    public const int SOL_IP = 0;
    /// <summary>Level of IPv6 options and of the IPV6_RECVERR cmsg.</summary>
    public const int SOL_IPV6 = 41;
}

/// <summary>IP protocol numbers and options from <c>linux/in.h</c> and <c>linux/in6.h</c>.</summary>
[UapiHeader("linux/in.h")]
[UapiHeader("linux/in6.h")]
internal static class linux_in
{
    public const int IPPROTO_IP = 0;
    public const int IPPROTO_TCP = 6;
    public const int IPPROTO_IPV6 = 41;

    /// <summary>IPv4 TOS byte; also the cmsg type of IP_RECVTOS.</summary>
    public const int IP_TOS = 1;
    /// <summary>IPv4 TTL; also the cmsg type of IP_RECVTTL.</summary>
    public const int IP_TTL = 2;
    /// <summary>IPv4: report errors (and zerocopy completions) on the error queue; also the cmsg type there.</summary>
    public const int IP_RECVERR = 11;
    public const int IP_RECVTTL = 12;
    public const int IP_RECVTOS = 13;

    /// <summary>127.0.0.1 in host byte order.</summary>
    public const uint INADDR_LOOPBACK = 0x7f000001;
    /// <summary>IPv6: report errors (and zerocopy completions) on the error queue; also the cmsg type there.</summary>
    public const int IPV6_RECVERR = 25;
}

/// <summary><c>struct sockaddr_in</c> (<c>linux/in.h</c>): port and address in network byte order.</summary>
[UapiHeader("linux/in.h")]
internal unsafe struct sockaddr_in
{
    public ushort sin_family;
    public ushort sin_port;
    /// <summary><c>sin_addr.s_addr</c>.</summary>
    [CName("sin_addr.s_addr")] public uint sin_addr;
    [CName("__pad")] public fixed byte sin_zero[8];
}

/// <summary><c>struct sockaddr_in6</c> (<c>linux/in6.h</c>): port and flow info in network byte order.</summary>
[UapiHeader("linux/in6.h")]
internal unsafe struct sockaddr_in6
{
    public ushort sin6_family;
    public ushort sin6_port;
    public uint sin6_flowinfo;
    /// <summary><c>sin6_addr.in6_u.u6_addr8</c>.</summary>
    [CName("sin6_addr.in6_u.u6_addr8")] public fixed byte sin6_addr[16];
    public uint sin6_scope_id;
}

/// <summary><c>struct iovec</c> (<c>&lt;sys/uio.h&gt;</c>). For devmem TX, <c>iov_base</c> is a byte offset into the dma-buf, not a pointer.</summary>
[UapiHeader("sys/uio.h")]
internal unsafe struct iovec
{
    public void* iov_base;
    public nuint iov_len;
}

/// <summary>glibc's <c>struct msghdr</c> (<c>&lt;sys/socket.h&gt;</c>), as recvmsg/sendmsg take it.</summary>
[UapiHeader("sys/socket.h")]
internal unsafe struct msghdr
{
    public void* msg_name;
    public uint msg_namelen;
    [Padding] private readonly uint __pad0;
    public iovec* msg_iov;
    public nuint msg_iovlen;
    public void* msg_control;
    public nuint msg_controllen;
    public int msg_flags;
    [Padding] private readonly uint __pad1;
}

/// <summary>glibc's <c>struct cmsghdr</c> (<c>&lt;sys/socket.h&gt;</c>); the data follows at <see cref="sys_socket_cmsg.CMSG_DATA"/>.</summary>
[UapiHeader("sys/socket.h")]
internal struct cmsghdr
{
    /// <summary>Header plus data length, without trailing padding (CMSG_LEN).</summary>
    public nuint cmsg_len;
    public int cmsg_level;
    public int cmsg_type;
}

/// <summary>
/// The CMSG_* macros of glibc's <c>bits/socket.h</c>, in C (pointer) form and in an offset form over a
/// span for managed callers. Alignment is sizeof(size_t), as in glibc and the kernel's own CMSG_ALIGN.
/// </summary>
internal static unsafe class sys_socket_cmsg
{
    /// <summary><c>CMSG_ALIGN(len)</c>: rounds up to a multiple of sizeof(size_t).</summary>
    public static nuint CMSG_ALIGN(nuint len) => (len + (nuint)sizeof(nuint) - 1) & ~((nuint)sizeof(nuint) - 1);

    /// <summary><c>CMSG_SPACE(len)</c>: the control-buffer space one cmsg with <paramref name="len"/> data bytes takes, padding included.</summary>
    public static nuint CMSG_SPACE(nuint len) => CMSG_ALIGN(len) + CMSG_ALIGN((nuint)sizeof(cmsghdr));

    /// <summary><c>CMSG_LEN(len)</c>: the <c>cmsg_len</c> value for <paramref name="len"/> data bytes.</summary>
    public static nuint CMSG_LEN(nuint len) => CMSG_ALIGN((nuint)sizeof(cmsghdr)) + len;

    /// <summary><c>CMSG_DATA(cmsg)</c>: the first data byte.</summary>
    public static byte* CMSG_DATA(cmsghdr* cmsg) => (byte*)cmsg + CMSG_ALIGN((nuint)sizeof(cmsghdr));

    /// <summary><c>CMSG_FIRSTHDR(mhdr)</c>: the first cmsg, or null if the control buffer cannot hold a header.</summary>
    public static cmsghdr* CMSG_FIRSTHDR(msghdr* mhdr) =>
        mhdr->msg_controllen >= (nuint)sizeof(cmsghdr) ? (cmsghdr*)mhdr->msg_control : null;

    /// <summary>
    /// <c>CMSG_NXTHDR(mhdr, cmsg)</c> with glibc 2.36's checks (bits/socket.h <c>__cmsg_nxthdr</c>): null
    /// if <paramref name="cmsg"/> is malformed (cmsg_len below the header size) or if the buffer cannot
    /// hold it padded plus another header. <c>cmsg_len</c> is not trusted before it is checked.
    /// </summary>
    public static cmsghdr* CMSG_NXTHDR(msghdr* mhdr, cmsghdr* cmsg)
    {
        if (cmsg->cmsg_len < (nuint)sizeof(cmsghdr))
        {
            return null;
        }
        nuint left = (nuint)((byte*)mhdr->msg_control + mhdr->msg_controllen - (byte*)cmsg);
        nuint needed = (nuint)sizeof(cmsghdr) + CMSG_PADDING(cmsg->cmsg_len);
        if (left < needed || left - needed < cmsg->cmsg_len)
        {
            return null;
        }
        return (cmsghdr*)((byte*)cmsg + CMSG_ALIGN(cmsg->cmsg_len));
    }

    // glibc's __CMSG_PADDING(len): the bytes CMSG_ALIGN adds to len.
    private static nuint CMSG_PADDING(nuint len) => ((nuint)sizeof(nuint) - (len & ((nuint)sizeof(nuint) - 1))) & ((nuint)sizeof(nuint) - 1);

    /// <summary>Offset form of <see cref="CMSG_FIRSTHDR(msghdr*)"/> over the filled part of a control buffer: 0, or -1 if no header fits.</summary>
    public static int CMSG_FIRSTHDR(ReadOnlySpan<byte> control) => control.Length >= sizeof(cmsghdr) ? 0 : -1;

    /// <summary>
    /// Offset form of <see cref="CMSG_NXTHDR(msghdr*, cmsghdr*)"/>: the offset of the cmsg after the one
    /// at <paramref name="offset"/> in <paramref name="control"/> (the <c>msg_controllen</c> bytes the
    /// kernel filled), or -1 under the same conditions as glibc.
    /// </summary>
    public static int CMSG_NXTHDR(ReadOnlySpan<byte> control, int offset)
    {
        if ((uint)offset > (uint)control.Length || control.Length - offset < sizeof(cmsghdr))
        {
            return -1;
        }
        fixed (byte* p = control)
        {
            msghdr m = default;
            m.msg_control = p;
            m.msg_controllen = (nuint)control.Length;
            cmsghdr* next = CMSG_NXTHDR(&m, (cmsghdr*)(p + offset));
            return next == null ? -1 : (int)((byte*)next - p);
        }
    }
}

/// <summary>Error-queue origins and codes of <c>linux/errqueue.h</c> (zerocopy / devmem TX completions).</summary>
[UapiHeader("linux/time.h")]
[UapiHeader("linux/errqueue.h")]
internal static class linux_errqueue
{
    public const byte SO_EE_ORIGIN_NONE = 0;
    public const byte SO_EE_ORIGIN_LOCAL = 1;
    public const byte SO_EE_ORIGIN_ICMP = 2;
    public const byte SO_EE_ORIGIN_ICMP6 = 3;
    public const byte SO_EE_ORIGIN_TXSTATUS = 4;
    /// <summary>A MSG_ZEROCOPY completion: ee_info..ee_data is the inclusive range of completed sends.</summary>
    public const byte SO_EE_ORIGIN_ZEROCOPY = 5;
    public const byte SO_EE_ORIGIN_TXTIME = 6;

    /// <summary>ee_code of a zerocopy completion whose data the kernel copied after all.</summary>
    public const byte SO_EE_CODE_ZEROCOPY_COPIED = 1;
}

/// <summary><c>struct sock_extended_err</c>: the start of an IP_RECVERR / IPV6_RECVERR cmsg's payload.</summary>
[UapiHeader("linux/time.h")]
[UapiHeader("linux/errqueue.h")]
internal struct sock_extended_err
{
    public uint ee_errno;
    public byte ee_origin;
    public byte ee_type;
    public byte ee_code;
    public byte ee_pad;
    public uint ee_info;
    public uint ee_data;
}

/// <summary>poll(2) events that are the same on every architecture (<c>&lt;poll.h&gt;</c>, kernel asm-generic/poll.h).</summary>
[UapiHeader("poll.h")]
internal static class sys_poll
{
    public const short POLLIN = 0x1;
    public const short POLLPRI = 0x2;
    public const short POLLOUT = 0x4;
    /// <summary>Error pending; for a zerocopy sender, a completion is waiting on the error queue.</summary>
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;
}

/// <summary><c>struct pollfd</c> (<c>&lt;poll.h&gt;</c>).</summary>
[UapiHeader("poll.h")]
internal struct pollfd
{
    public int fd;
    public short events;
    public short revents;
}
