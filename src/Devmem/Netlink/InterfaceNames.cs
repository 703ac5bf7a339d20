using System.Text;

namespace Devmem.Netlink;

/// <summary>
/// Network interface names as the kernel takes them: bytes, not characters. The kernel stores a name in
/// <c>IFNAMSIZ</c> (16) bytes with its terminating NUL, so a name is 1 to 15 bytes; this library passes
/// names as UTF-8 (what <c>ip link</c> and the rest of a UTF-8 system use), so <c>ethé</c> is 5 bytes.
/// The kernel's other rules (net/core/dev.c <c>dev_valid_name</c>): not <c>.</c> or <c>..</c>, no
/// <c>/</c>, <c>:</c> or white space (a byte the kernel's <c>isspace</c> takes as one).
/// </summary>
public static class InterfaceNames
{
    /// <summary>The most bytes a name can have (<c>IFNAMSIZ</c> − 1, include/uapi/linux/if.h).</summary>
    public const int MaxBytes = 15;

    // Strict: a string with a lone surrogate has no UTF-8 form, and must not become '?' or U+FFFD.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Says what is wrong with <paramref name="name"/> as an interface name, or null when nothing is.</summary>
    /// <param name="name">The name.</param>
    /// <returns>The problem in a few words ("18 bytes in UTF-8; at most 15"), or null.</returns>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return $"empty; names are 1 to {MaxBytes} bytes";
        }

        int bytes;
        try
        {
            bytes = Utf8.GetByteCount(name);
        }
        catch (EncoderFallbackException)
        {
            return "not valid Unicode (a lone surrogate)";
        }

        if (bytes > MaxBytes)
        {
            return $"{bytes} bytes in UTF-8; at most {MaxBytes}";
        }

        if (name is "." or "..")
        {
            return "'.' and '..' are not names";
        }

        // Byte by byte, as dev_valid_name: '/', ':' and the kernel's isspace() (lib/ctype.c: \t \n \v \f
        // \r, space, and 0xA0, Latin-1's no-break space, which is also a UTF-8 continuation byte).
        Span<byte> utf8 = stackalloc byte[MaxBytes];
        Utf8.GetBytes(name, utf8);
        foreach (byte b in utf8[..bytes])
        {
            if (b is (byte)'/' or (byte)':' or (byte)' ' or >= 0x09 and <= 0x0d or 0xa0)
            {
                return "no '/', ':' or white space";
            }
        }

        return null;
    }

    /// <summary>Checks <paramref name="name"/> and returns its UTF-8 bytes, NUL-terminated (what <c>ifr_name</c> and <c>SO_BINDTODEVICE</c> take).</summary>
    /// <param name="name">The name.</param>
    /// <param name="parameterName">The caller's parameter, for the exception.</param>
    /// <returns>1 to 16 bytes, the last one 0.</returns>
    /// <exception cref="ArgumentException">Not a valid interface name; the message says why.</exception>
    public static byte[] ToBytes(string name, string parameterName = "name")
    {
        if (Problem(name) is { } problem)
        {
            throw new ArgumentException(Describe(name, problem), parameterName);
        }

        byte[] bytes = new byte[Utf8.GetByteCount(name) + 1];
        Utf8.GetBytes(name, bytes);
        return bytes;
    }

    /// <summary>"'NAME' is not an interface name (WHY)": one line for a user.</summary>
    /// <param name="name">The name.</param>
    /// <param name="problem">What <see cref="Problem"/> said.</param>
    /// <returns>The line.</returns>
    public static string Describe(string? name, string problem) =>
        $"'{name}' is not an interface name ({problem})";
}
