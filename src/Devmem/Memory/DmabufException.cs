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
public sealed class DmabufException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="step">The call or check that failed, e.g. "UDMABUF_CREATE" or "open /dev/dma_heap/system".</param>
    /// <param name="errno">The errno the call returned; <see cref="Errno.None"/> if no call failed.</param>
    /// <param name="detail">What was wrong, in a sentence (may be null when the errno says it all).</param>
    /// <param name="hint">What to do about it, in one line (may be null when nothing applies).</param>
    public DmabufException(string step, Errno errno, string? detail, string? hint)
        : base(Format(step, errno, detail, hint))
    {
        Step = step;
        Errno = errno;
        Detail = detail;
        Hint = hint;
        if (errno != Errno.None)
        {
            HResult = (int)errno;
        }
    }

    /// <summary>The call or check that failed.</summary>
    public string Step { get; }

    /// <summary>The errno the kernel returned; <see cref="Errno.None"/> when the provider refused before calling.</summary>
    public Errno Errno { get; }

    /// <summary>The errno's number (0 when <see cref="Errno"/> is <see cref="Errno.None"/>).</summary>
    public int ErrorNumber => (int)Errno;

    /// <summary>The errno's symbolic name, e.g. "ENOENT"; empty when no call failed.</summary>
    public string ErrorName => Errno == Errno.None ? "" : Errno.Name();

    /// <summary>What was wrong, beyond the errno; null if nothing more is known.</summary>
    public string? Detail { get; }

    /// <summary>A one-line suggestion; null if none applies.</summary>
    public string? Hint { get; }

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
