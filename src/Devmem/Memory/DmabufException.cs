using Devmem.Interop;

namespace Devmem.Memory;

/// <summary>
/// A memory provider step failed: creating, mapping, syncing, importing or exporting a dma-buf (or the
/// host-memory fallback). Carries the step, the errno the kernel returned (or <see cref="Errno.None"/>
/// when the provider refused before making the call, e.g. a size over udmabuf's limit), and a one-line
/// hint for the user. This is the only exception type the providers throw for environment failures;
/// argument mistakes are <see cref="ArgumentException"/>s and use after dispose is
/// <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>
/// <see cref="Exception.Message"/> reads <c>STEP: ENAME (N): strerror. DETAIL Hint: HINT</c>, e.g.
/// <c>open /dev/udmabuf: ENOENT (2): No such file or directory. Hint: this kernel has no udmabuf
/// device: it was built without CONFIG_UDMABUF (or the module is not loaded: modprobe udmabuf)</c>.
/// </remarks>
public sealed class DmabufException : DevmemIOException
{
    private DmabufException(string operation, Errno errno, string? detail, string? hint)
        : base(Format(operation, errno, detail, hint), errno, operation, hint, null, null, null)
    {
        Detail = detail;
    }

    /// <summary>What was wrong, beyond the errno; null if nothing more is known.</summary>
    public string? Detail { get; }

    /// <summary><paramref name="operation"/> returned <paramref name="errno"/>.</summary>
    /// <param name="operation">The call that failed, e.g. "UDMABUF_CREATE" or "open /dev/dma_heap/system".</param>
    /// <param name="errno">The errno it returned.</param>
    /// <param name="hint">What to do about it, in one line (null when nothing applies).</param>
    /// <param name="detail">What was asked, in a sentence (null when the errno says it all).</param>
    /// <returns>The exception.</returns>
    internal static DmabufException Syscall(string operation, Errno errno, string? hint = null, string? detail = null) => new(operation, errno, detail, hint);

    /// <summary>The provider refused <paramref name="operation"/> before making a call (<see cref="Errno.None"/>): <paramref name="detail"/> says why.</summary>
    /// <param name="operation">The step refused.</param>
    /// <param name="detail">Why, in a sentence.</param>
    /// <param name="hint">What to do about it.</param>
    /// <returns>The exception.</returns>
    internal static DmabufException Refused(string operation, string detail, string? hint = null) => new(operation, Errno.None, detail, hint);

    private static string Format(string step, Errno errno, string? detail, string? hint)
    {
        var sb = new System.Text.StringBuilder(step);
        sb.Append(": ");
        if (errno != Errno.None)
        {
            sb.Append(errno.Describe());
            sb.Append('.');
            if (detail is not null)
            {
                sb.Append(' ');
            }
        }
        if (detail is not null)
        {
            sb.Append(detail.TrimEnd('.'));
            sb.Append('.');
        }
        if (hint is not null)
        {
            sb.Append(" Hint: ");
            sb.Append(hint);
        }
        return sb.ToString();
    }
}
