using System.Globalization;

namespace Devmem.Cli;

/// <summary>
/// What both CLIs do for the process as a whole: check the standard streams before anything uses them,
/// and turn any exception that escapes, on any thread, into one line on stderr and exit status 1 (never a
/// stack trace).
/// </summary>
internal static class CliProcess
{
    // O_CLOEXEC as /proc/PID/fdinfo/N prints it in its octal "flags:" field (include/uapi/asm-generic/fcntl.h:
    // 02000000; the same on x86_64 and arm64). fs/proc/fd.c seq_show adds it when the fd is close-on-exec.
    private const int OCloexec = 0x80000;

    private static string s_name = "cli";

    /// <summary>Whether fd 0 is the standard input the user gave (not closed, not one the runtime opened there).</summary>
    public static bool InputGiven { get; private set; } = true;

    /// <summary>Whether fd 1 is the standard output the user gave.</summary>
    public static bool OutputGiven { get; private set; } = true;

    /// <summary>
    /// Call first in Main. A program started with fd 0, 1 or 2 closed (<c>&lt;&amp;-</c>, <c>&gt;&amp;-</c>) finds,
    /// by the time Main runs, whatever the runtime opened next in that slot: reading or writing it would
    /// send or clobber a file the user never named. An fd inherited across exec cannot be close-on-exec
    /// (exec closed those), and the runtime opens its own with O_CLOEXEC: so fd N is the user's when
    /// /proc/self/fdinfo/N exists and lacks O_CLOEXEC. Output to a missing stdout or stderr goes nowhere;
    /// reading a missing stdin is refused by <see cref="OpenInput"/>.
    /// </summary>
    /// <param name="name">The program's name for its messages.</param>
    public static void Start(string name)
    {
        s_name = name;
        InputGiven = Inherited(0);
        OutputGiven = Inherited(1);
        if (!OutputGiven)
        {
            Console.SetOut(TextWriter.Null);
        }

        if (!Inherited(2))
        {
            Console.SetError(TextWriter.Null);
        }

        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            // A thread other than Main threw: the same one line as Main's last catch, then exit 1 (the
            // process-exit handlers run: a NIC setup is undone).
            Console.Error.WriteLine(Unexpected(e.ExceptionObject as Exception));
            Console.Error.Flush();
            Environment.Exit(1);
        };
    }

    /// <summary>The standard input stream, or a usage error when the user gave none.</summary>
    /// <param name="what">What reads it, for the message.</param>
    /// <returns>The stream.</returns>
    /// <exception cref="UsageException">fd 0 was closed when the program started.</exception>
    public static Stream OpenInput(string what) => InputGiven
        ? Console.OpenStandardInput()
        : throw new UsageException($"standard input is closed, and {what}: give it a file or a pipe (< FILE; < /dev/null to send nothing)");

    /// <summary>The standard output stream; a null stream when the user closed it.</summary>
    /// <returns>The stream.</returns>
    public static Stream OpenOutput() => OutputGiven ? Console.OpenStandardOutput() : Stream.Null;

    /// <summary>One line for an exception no one expected: its type and message, no stack trace.</summary>
    /// <param name="e">The exception.</param>
    /// <returns>"NAME: internal error (TYPE): MESSAGE".</returns>
    public static string Unexpected(Exception? e) =>
        $"{s_name}: internal error ({e?.GetType().Name ?? "unknown"}): {OneLine(e?.Message ?? "")}; please report it";

    /// <summary>A message on one line (exceptions may carry several).</summary>
    /// <param name="message">The message.</param>
    /// <returns>The message with its line breaks replaced by "; ".</returns>
    public static string OneLine(string message) =>
        string.Join("; ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>A boolean long option's value (<c>--json=0</c>): 1/true/yes/on or 0/false/no/off.</summary>
    /// <param name="option">The option, for the message.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The value.</returns>
    /// <exception cref="UsageException">Anything else.</exception>
    public static bool ParseSwitch(string option, string value) => value.ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => throw new UsageException($"{option} takes no value, or =1 or =0 (on or off), not '{value}'"),
    };

    private static bool Inherited(int fd)
    {
        string path = string.Create(CultureInfo.InvariantCulture, $"/proc/self/fdinfo/{fd}");
        try
        {
            foreach (string line in File.ReadLines(path))
            {
                if (line.StartsWith("flags:", StringComparison.Ordinal))
                {
                    return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & OCloexec) == 0;
                }
            }

            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return !File.Exists("/proc/self/stat"); // no fdinfo for it: closed (or no /proc at all: cannot tell)
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentException)
        {
            return true; // cannot tell: trust it, as every other program does
        }
    }
}

/// <summary>A bad command line: the message says what was wrong and what to do; exit status 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
