using Devmem.Interop;

namespace Devmem.Receive;

/// <summary>
/// A devmem socket operation the kernel refused: which step, the errno (name and number) and what to do.
/// </summary>
public sealed class DevmemException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DevmemException()
    {
        Step = string.Empty;
    }

    /// <summary>Creates the exception with a message.</summary>
    public DevmemException(string message)
        : base(message)
    {
        Step = string.Empty;
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public DevmemException(string message, Exception innerException)
        : base(message, innerException)
    {
        Step = string.Empty;
    }

    internal DevmemException(string step, Errno errno, string? hint)
        : base(Format(step, errno, hint))
    {
        Step = step;
        ErrnoNumber = (int)errno;
        ErrnoName = errno.Name();
        Hint = hint;
    }

    /// <summary>The operation that failed, e.g. "recvmsg(MSG_SOCK_DEVMEM)".</summary>
    public string Step { get; }

    /// <summary>The errno number the kernel returned (0 when the failure was not an errno).</summary>
    public int ErrnoNumber { get; }

    /// <summary>The errno's name, e.g. "EFAULT".</summary>
    public string? ErrnoName { get; }

    /// <summary>What to do about it, when there is a known cause.</summary>
    public string? Hint { get; }

    private static string Format(string step, Errno errno, string? hint) =>
        hint is null ? $"{step} failed: {errno.Describe()}" : $"{step} failed: {errno.Describe()}. {hint}";
}
