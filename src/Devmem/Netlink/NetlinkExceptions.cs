using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;

namespace Devmem.Netlink;

/// <summary>
/// The kernel sent bytes that do not parse as netlink (a length that overruns the buffer, a payload
/// of the wrong size, a reply out of sequence, a datagram larger than the receive buffer). The netlink
/// layer throws this and nothing else for malformed input; it never reads out of bounds.
/// <see cref="DevmemIOException.Errno"/> is <see cref="Errno.None"/>: no call failed.
/// </summary>
public sealed class NetlinkProtocolException : DevmemIOException
{
    private NetlinkProtocolException(string operation, string message)
        : base("Malformed netlink data: " + message, Errno.None, operation, null, null, null, null)
    {
    }

    /// <summary>Malformed or out-of-place data, described in <paramref name="message"/>.</summary>
    internal static NetlinkProtocolException Malformed(string message) => new("netlink", message);

    /// <summary>Malformed data in the replies to <paramref name="family"/> <paramref name="operation"/>.</summary>
    internal static NetlinkProtocolException Malformed(string family, string operation, string message) =>
        new($"{family} {operation}", $"{family} {operation}: {message}");
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
public sealed class NetlinkException : DevmemIOException
{
    private NetlinkException(string family, string operation, Errno errno, string? kernelMessage, string? badAttribute, string? missingAttribute, string? hint)
        : base(Format(family, operation, errno, kernelMessage, badAttribute, missingAttribute, hint), errno, operation, hint, kernelMessage, badAttribute, null)
    {
        Family = family;
        MissingAttribute = missingAttribute;
    }

    /// <summary>Generic netlink family name, e.g. "netdev".</summary>
    public string Family { get; }

    /// <summary>The attribute the kernel found missing (NLMSGERR_ATTR_MISS_TYPE/MISS_NEST) as a path; null if none.</summary>
    public string? MissingAttribute { get; }

    /// <summary>The kernel's answer to <paramref name="family"/> <paramref name="operation"/>, with the extended ack decoded into attribute paths.</summary>
    internal static NetlinkException FromKernel(string family, string operation, Errno errno, string? kernelMessage, string? badAttribute, string? missingAttribute, string? hint) =>
        new(family, operation, errno, kernelMessage, badAttribute, missingAttribute, hint);

    private static string Format(string family, string operation, Errno errno, string? kernelMessage, string? bad, string? missing, string? hint)
    {
        var sb = new StringBuilder();
        sb.Append(family).Append(' ').Append(operation).Append(": Netlink error: ");
        if (!string.IsNullOrEmpty(kernelMessage))
        {
            sb.Append(kernelMessage).Append(TruncationNote(kernelMessage)).Append(": ");
        }

        sb.Append(Marshal.GetPInvokeErrorMessage((int)errno)).Append(" (").Append(errno.Name()).Append(", errno ").Append((int)errno).Append(')');
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
public sealed class NetlinkDumpInterruptedException : DevmemIOException
{
    private NetlinkDumpInterruptedException(string family, string operation)
        : base($"{family} {operation}: the dump was interrupted (NLM_F_DUMP_INTR: the kernel's state changed during the dump); retry it.",
            Errno.None, operation, "retry the dump", null, null, null)
    {
        Family = family;
    }

    /// <summary>Family name.</summary>
    public string Family { get; }

    /// <summary>Always true: an interrupted dump succeeds when repeated once the state settles.</summary>
    public static bool IsRetryable => true;

    internal static NetlinkDumpInterruptedException For(string family, string operation) => new(family, operation);
}

/// <summary>
/// The running kernel lacks a generic netlink family or one of its operations (found from the
/// family's op list, before anything is sent). Names the operation and the kernel version that added it.
/// <see cref="DevmemIOException.Errno"/> is what the kernel would answer: ENOENT for a missing family
/// (nlctrl's answer), EOPNOTSUPP for a missing operation.
/// </summary>
public sealed class NetlinkNotSupportedException : DevmemIOException
{
    private NetlinkNotSupportedException(string family, string? operation, string? addedIn, string message)
        : base(message, operation is null ? Errno.ENOENT : Errno.EOPNOTSUPP, operation ?? family, addedIn is null ? null : $"needs Linux {addedIn} or newer", null, null, null)
    {
        Family = family;
        AddedIn = addedIn;
    }

    /// <summary>Family name.</summary>
    public string Family { get; }

    /// <summary>Whether the whole family is missing (not only one operation).</summary>
    public bool FamilyMissing => Errno == Errno.ENOENT;

    /// <summary>The first kernel version that has it (e.g. "6.16"), if known.</summary>
    public string? AddedIn { get; }

    /// <summary>The kernel has no family <paramref name="family"/>.</summary>
    internal static NetlinkNotSupportedException MissingFamily(string family, string message) => new(family, null, null, message);

    /// <summary>The kernel's <paramref name="family"/> lacks <paramref name="operation"/>, added in <paramref name="addedIn"/>.</summary>
    internal static NetlinkNotSupportedException MissingOperation(string family, string operation, string? addedIn, string message) =>
        new(family, operation, addedIn, message);
}
