using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;

namespace Devmem.Netlink;

/// <summary>
/// The kernel sent bytes that do not parse as netlink (a length that overruns the buffer, a payload
/// of the wrong size, a reply out of sequence). The netlink layer throws this and nothing else for
/// malformed input; it never reads out of bounds.
/// </summary>
public sealed class NetlinkProtocolException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was malformed, and where.</param>
    public NetlinkProtocolException(string message)
        : base("Malformed netlink data: " + message)
    {
    }
}

/// <summary>
/// The kernel answered a netlink request with an error (<c>NLMSG_ERROR</c>, or an error in a dump's
/// <c>NLMSG_DONE</c>). Carries the errno, the kernel's extended-ack message, the attribute it blamed
/// and the attribute it found missing, plus a short hint for the common devmem cases.
/// </summary>
/// <remarks>
/// <see cref="Exception.Message"/> reads like the error line of the kernel's YNL CLI
/// (<c>tools/net/ynl/pyynl/lib/ynl.py</c> <c>NlError</c>), prefixed with family and operation and
/// with the errno's name, e.g.
/// <c>netdev bind-rx: Netlink error: Operation not supported (EOPNOTSUPP, errno 95) {'bad-attr': '.ifindex'}</c>.
/// </remarks>
public sealed class NetlinkException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="family">Generic netlink family name, e.g. "netdev".</param>
    /// <param name="operation">Operation name from the family's spec, e.g. "bind-rx".</param>
    /// <param name="errorNumber">The positive errno.</param>
    /// <param name="kernelMessage">NLMSGERR_ATTR_MSG, if the kernel sent one.</param>
    /// <param name="badAttribute">The blamed attribute as a path (".ifindex", ".queues.id"), if any.</param>
    /// <param name="missingAttribute">The attribute the kernel found missing, as a path, if any.</param>
    /// <param name="hint">What to do about it, if known.</param>
    public NetlinkException(string family, string operation, int errorNumber, string? kernelMessage, string? badAttribute, string? missingAttribute, string? hint)
        : base(Format(family, operation, errorNumber, kernelMessage, badAttribute, missingAttribute, hint))
    {
        Family = family;
        Operation = operation;
        ErrorNumber = errorNumber;
        KernelMessage = kernelMessage;
        BadAttribute = badAttribute;
        MissingAttribute = missingAttribute;
        Hint = hint;
        HResult = errorNumber;
    }

    /// <summary>Generic netlink family name.</summary>
    public string Family { get; }

    /// <summary>Operation name, as in the family's YNL spec.</summary>
    public string Operation { get; }

    /// <summary>The errno the kernel returned (positive).</summary>
    public int ErrorNumber { get; }

    /// <summary>The errno, typed.</summary>
    public Errno Errno => (Errno)ErrorNumber;

    /// <summary>The errno's symbolic name, e.g. "EOPNOTSUPP" (or "errno N" if unknown).</summary>
    public string ErrorName => ((Errno)ErrorNumber).Name();

    /// <summary>The kernel's extended-ack message (NLMSGERR_ATTR_MSG), verbatim; null if none was sent.</summary>
    public string? KernelMessage { get; }

    /// <summary>
    /// The longest extended-ack message the kernel formats (NL_SET_ERR_MSG_FMT): NETLINK_MAX_FMTMSG_LEN (80,
    /// include/linux/netlink.h) bytes with the NUL, so 79. A longer one is cut there, mid-word.
    /// </summary>
    public const int KernelFormattedMessageLimit = 79;

    /// <summary>
    /// Whether <see cref="KernelMessage"/> is exactly <see cref="KernelFormattedMessageLimit"/> bytes long: a
    /// formatted message the kernel most likely cut short (e.g. "... not aligned to niov size 16" for 16384).
    /// </summary>
    public bool KernelMessageMayBeTruncated => IsAtFormatLimit(KernelMessage);

    /// <summary>The attribute the kernel blamed (NLMSGERR_ATTR_OFFS) as a path such as ".ifindex"; null if none.</summary>
    public string? BadAttribute { get; }

    /// <summary>The attribute the kernel found missing (NLMSGERR_ATTR_MISS_TYPE/MISS_NEST) as a path; null if none.</summary>
    public string? MissingAttribute { get; }

    /// <summary>A short suggestion for the common devmem failures; null if none applies.</summary>
    public string? Hint { get; }

    /// <summary>" [the kernel cut ...]" for a message at the kernel's format limit, else "".</summary>
    internal static string TruncationNote(string? message) =>
        IsAtFormatLimit(message) ? " [cut short: the kernel truncates formatted messages at 80 bytes]" : "";

    private static bool IsAtFormatLimit(string? message) =>
        message is not null && Encoding.UTF8.GetByteCount(message) == KernelFormattedMessageLimit;

    private static string Format(string family, string operation, int errno, string? kernelMessage, string? bad, string? missing, string? hint)
    {
        var sb = new StringBuilder();
        sb.Append(family).Append(' ').Append(operation).Append(": Netlink error: ");
        if (!string.IsNullOrEmpty(kernelMessage))
        {
            sb.Append(kernelMessage).Append(TruncationNote(kernelMessage)).Append(": ");
        }

        sb.Append(Marshal.GetPInvokeErrorMessage(errno)).Append(" (").Append(((Errno)errno).Name()).Append(", errno ").Append(errno).Append(')');
        if (bad is not null || missing is not null)
        {
            sb.Append(" {");
            if (bad is not null)
            {
                sb.Append("'bad-attr': '").Append(bad).Append('\'');
            }

            if (missing is not null)
            {
                sb.Append(bad is null ? "" : ", ").Append("'miss-type': '").Append(missing).Append('\'');
            }

            sb.Append('}');
        }

        if (hint is not null)
        {
            sb.Append(". Hint: ").Append(hint);
        }

        return sb.ToString();
    }
}

/// <summary>
/// A dump was marked <c>NLM_F_DUMP_INTR</c>: the kernel's object list changed while it was being
/// dumped, so the result may be inconsistent. Retrying the dump is the remedy (<see cref="IsRetryable"/>).
/// </summary>
public sealed class NetlinkDumpInterruptedException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="family">Family name.</param>
    /// <param name="operation">Operation name.</param>
    public NetlinkDumpInterruptedException(string family, string operation)
        : base($"{family} {operation}: the dump was interrupted (NLM_F_DUMP_INTR: the kernel's state changed during the dump); retry it.")
    {
        Family = family;
        Operation = operation;
    }

    /// <summary>Family name.</summary>
    public string Family { get; }

    /// <summary>Operation name.</summary>
    public string Operation { get; }

    /// <summary>Always true: an interrupted dump succeeds when repeated once the state settles.</summary>
    public static bool IsRetryable => true;
}

/// <summary>
/// The running kernel lacks a generic netlink family or one of its operations (found from the
/// family's op list, before anything is sent). Names the operation and the kernel version that added it.
/// </summary>
public sealed class NetlinkNotSupportedException : NotSupportedException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="family">Family name.</param>
    /// <param name="operation">Operation name, or null when the whole family is missing.</param>
    /// <param name="addedIn">The kernel version that added it, if known.</param>
    /// <param name="message">The full message.</param>
    public NetlinkNotSupportedException(string family, string? operation, string? addedIn, string message)
        : base(message)
    {
        Family = family;
        Operation = operation;
        AddedIn = addedIn;
    }

    /// <summary>Family name.</summary>
    public string Family { get; }

    /// <summary>Operation name; null when the family itself is missing.</summary>
    public string? Operation { get; }

    /// <summary>The first kernel version that has it (e.g. "6.16"), if known.</summary>
    public string? AddedIn { get; }
}
