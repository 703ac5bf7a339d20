using Devmem.Interop;

namespace Devmem.Receive;

/// <summary>
/// The kernel's answer did not have the layout the uapi headers define (a truncated or malformed control
/// message, byte counts that do not add up, a token handed out twice). <see cref="DevmemIOException.Errno"/>
/// is <see cref="Errno.None"/>: the call succeeded, its answer is what is wrong.
/// </summary>
public sealed class DevmemProtocolException : DevmemIOException
{
    private DevmemProtocolException(string operation, string message)
        : base(message, Errno.None, operation, null, null, null, null)
    {
    }

    /// <summary>What <paramref name="operation"/> returned breaks the kernel's layout, as <paramref name="message"/> says.</summary>
    internal static DevmemProtocolException Malformed(string operation, string message) => new(operation, message);
}
