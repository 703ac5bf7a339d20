using System.Text;
using Devmem.Interop;

namespace Devmem;

/// <summary>
/// The root of every failure the library reports from the kernel or a device: catch this one type to
/// handle them all. Each carries the same facts under the same names: the typed <see cref="Errno"/>, the
/// <see cref="Operation"/> that failed, the kernel's own words (<see cref="KernelMessage"/>,
/// <see cref="BadAttribute"/>) where netlink sent them, and a <see cref="Hint"/> saying what to do.
/// </summary>
/// <remarks>
/// <para>The derived types say where the failure happened: <c>NetlinkException</c> (a family answered
/// with an error), <c>NetlinkNotSupportedException</c> (the running kernel lacks the family or op),
/// <c>NetlinkProtocolException</c> and <c>DevmemProtocolException</c> (bytes that do not have the
/// kernel's layout), <c>EthtoolIoctlException</c>, <c>DmabufException</c> (memory providers),
/// <c>DevmemException</c> (a devmem socket call) and <c>DevmemSetupException</c> (a step of the NIC
/// setup).</para>
/// <para>Argument mistakes are <see cref="ArgumentException"/>s, use after dispose is
/// <see cref="ObjectDisposedException"/> and overlapping calls are <see cref="InvalidOperationException"/>:
/// those are bugs in the caller, not conditions of the host.</para>
/// </remarks>
public abstract class DevmemIOException : IOException
{
    /// <summary>
    /// The longest extended-ack message the kernel formats (NL_SET_ERR_MSG_FMT): NETLINK_MAX_FMTMSG_LEN (80,
    /// include/linux/netlink.h) bytes with the NUL, so 79. A longer one is cut there, mid-word.
    /// </summary>
    public const int KernelFormattedMessageLimit = 79;

    private protected DevmemIOException(string message, Errno errno, string operation, string? hint, string? kernelMessage, string? badAttribute, Exception? innerException)
        : base(message, innerException)
    {
        Errno = errno;
        Operation = operation;
        Hint = hint;
        KernelMessage = kernelMessage;
        BadAttribute = badAttribute;
        if (errno != Errno.None)
        {
            HResult = (int)errno;
        }
    }

    /// <summary>The errno the kernel returned; <see cref="Errno.None"/> when no call failed (a refusal before the call, or malformed data).</summary>
    public Errno Errno { get; }

    /// <summary>The errno's symbolic name, e.g. "EOPNOTSUPP"; empty when <see cref="Errno"/> is <see cref="Errno.None"/>.</summary>
    public string ErrnoName => Errno == Errno.None ? "" : Errno.Name();

    /// <summary>The call, request or step that failed, e.g. "recvmsg(MSG_SOCK_DEVMEM)", "bind-rx", "UDMABUF_CREATE".</summary>
    public string Operation { get; }

    /// <summary>What to do about it, in one line; null when nothing specific applies.</summary>
    public string? Hint { get; }

    /// <summary>The kernel's extended-ack message (NLMSGERR_ATTR_MSG), verbatim; null when it sent none.</summary>
    public string? KernelMessage { get; }

    /// <summary>
    /// Whether <see cref="KernelMessage"/> is exactly <see cref="KernelFormattedMessageLimit"/> bytes long: a
    /// formatted message the kernel most likely cut short (e.g. "... not aligned to niov size 16" for 16384).
    /// </summary>
    public bool KernelMessageMayBeTruncated => IsAtFormatLimit(KernelMessage);

    /// <summary>The attribute the kernel blamed (NLMSGERR_ATTR_OFFS) as a path such as ".ifindex"; null if none.</summary>
    public string? BadAttribute { get; }

    /// <summary>" [cut short ...]" for a message at the kernel's format limit, else "".</summary>
    internal static string TruncationNote(string? message) =>
        IsAtFormatLimit(message) ? " [cut short: the kernel truncates formatted messages at 80 bytes]" : "";

    private static bool IsAtFormatLimit(string? message) =>
        message is not null && Encoding.UTF8.GetByteCount(message) == KernelFormattedMessageLimit;
}
