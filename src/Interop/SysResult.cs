using System.Runtime.InteropServices;

namespace Devmem.Interop;

/// <summary>
/// The outcome of one system call: its return value, and the errno captured right after the call when it
/// failed (return value -1). Returned by every <see cref="Libc"/> function; the layer above turns an error
/// into its own exception (the dotnet/runtime <c>CheckIo</c> pattern) — this assembly throws none.
/// </summary>
[ManagedOnly("the managed result of a Libc call, not a C type")]
internal readonly struct SysResult
{
    private SysResult(nint value, Errno errno)
    {
        Value = value;
        Errno = errno;
    }

    /// <summary>The call's return value (a count, a file descriptor, an address); -1 on failure.</summary>
    public nint Value { get; }

    /// <summary><see cref="Errno.None"/> on success; otherwise errno as it was right after the call.</summary>
    public Errno Errno { get; }

    /// <summary>True when the call failed (returned -1).</summary>
    public bool IsError => Value == -1;

    /// <summary>The return value as a file descriptor or int result (valid only on success).</summary>
    public int Int32 => (int)Value;

    /// <summary>A successful result.</summary>
    public static SysResult Ok(nint value) => new(value, Errno.None);

    /// <summary>A failed result with the given errno (for tests and callers that fail before the call).</summary>
    public static SysResult Error(Errno errno) => new(-1, errno);

    /// <summary>
    /// Builds the result of a call that returned <paramref name="ret"/>: on -1, reads errno as saved by
    /// the P/Invoke stub (<c>SetLastError = true</c>) right after the call. Call it immediately after the
    /// call, on the same thread, before any other P/Invoke.
    /// </summary>
    public static SysResult FromReturn(nint ret)
    {
        if (ret != -1)
        {
            return new(ret, Errno.None);
        }
        // Errno.None here would mean a declaration without SetLastError; Describe() says so.
        return new(-1, (Errno)Marshal.GetLastPInvokeError());
    }

    /// <inheritdoc/>
    public override string ToString() => IsError ? Errno.Describe() : Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
