using Devmem.Interop;

namespace Devmem;

/// <summary>
/// A system call the library made failed (a devmem socket's <c>recvmsg</c>, <c>SO_DEVMEM_DONTNEED</c>,
/// <c>sendmsg</c>, a netlink socket's <c>socket</c>/<c>bind</c>/<c>recv</c>...), or the kernel's answer
/// to one left the operation unable to go on. The message names the call, the errno (name, number,
/// text) and what to do.
/// </summary>
public sealed class DevmemException : DevmemIOException
{
    private DevmemException(string message, string operation, Errno errno, string? hint)
        : base(message, errno, operation, hint, null, null, null)
    {
    }

    /// <summary><paramref name="operation"/> returned <paramref name="errno"/>.</summary>
    internal static DevmemException Syscall(string operation, Errno errno, string? hint = null) =>
        new(hint is null ? $"{operation} failed: {errno.Describe()}" : $"{operation} failed: {errno.Describe()}. {hint}", operation, errno, hint);

    /// <summary><paramref name="operation"/> succeeded but its answer means the operation cannot go on, as <paramref name="message"/> says.</summary>
    internal static DevmemException Condition(string operation, string message, string? hint = null) =>
        new(hint is null ? message : $"{message} {hint}", operation, Errno.None, hint);
}
