namespace Devmem.Interop;

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
