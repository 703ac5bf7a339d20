using System.Net;
using System.Net.Sockets;

namespace Devmem.Cli.IouZcrx;

/// <summary>
/// The kernel's iou-zcrx command line (tools/testing/selftests/drivers/net/hw/iou-zcrx.c, getopt
/// "sch:p:l:i:q:o:z:x:d"), parsed as glibc's getopt and the tool's switch do: flags may be grouped (-sd),
/// a value attached (-p8000) or separate (-p 8000); numbers as strtoul(s, NULL, 0) reads them (0x hex, 0
/// octal, digits up to the first other character, 0 when none); an unknown option or a missing value is
/// reported by getopt and otherwise ignored, as the tool's switch has no default case; operands are
/// skipped (getopt permutes them to the end and the tool never reads them). Plus --help.
/// </summary>
internal sealed record Options
{
    /// <summary>SEND_SIZE: the payload buffer, 512 pages of 4096 bytes.</summary>
    public const int SendSize = 512 * 4096;

    /// <summary>-l's limit: SEND_SIZE minus an IPv6 and a TCP header and 40 bytes of TCP options.</summary>
    public const int MaxPayloadLength = SendSize - 40 - 20 - 40;

    public bool Server { get; init; }

    public bool Client { get; init; }

    public string? Host { get; init; }

    public int Port { get; init; } = 8000;

    public int PayloadLength { get; init; } = MaxPayloadLength;

    public string? Interface { get; init; }

    public int Queue { get; init; } = -1;

    public bool Oneshot { get; init; }

    public int OneshotReceives { get; init; }

    public int SendBytes { get; init; } = SendSize;

    /// <summary>-x N: N pages per receive buffer (0: the default, a page).</summary>
    public long RxBufferPages { get; init; }

    public bool DryRun { get; init; }

    public bool Help { get; init; }

    /// <summary>What getopt printed on stderr for options it could not take (the run goes on, as the kernel's).</summary>
    public List<string> Warnings { get; } = [];

    public static Options Parse(IReadOnlyList<string> args, string program)
    {
        var o = new Options();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                break;
            }

            if (a == "--help")
            {
                o = o with { Help = true };
                continue;
            }

            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                o.Warnings.Add($"{program}: unrecognized option '{a}'");
                continue;
            }

            if (a.Length < 2 || a[0] != '-')
            {
                continue; // an operand: getopt moves it to the end; the tool never reads it
            }

            for (int k = 1; k < a.Length; k++)
            {
                char c = a[k];
                if (c is 's' or 'c' or 'd')
                {
                    o = Flag(o, c);
                    continue;
                }

                if (!"hpliqozx".Contains(c, StringComparison.Ordinal))
                {
                    o.Warnings.Add($"{program}: invalid option -- '{c}'");
                    continue;
                }

                string value;
                if (k + 1 < a.Length)
                {
                    value = a[(k + 1)..];
                }
                else if (i + 1 < args.Count)
                {
                    value = args[++i];
                }
                else
                {
                    o.Warnings.Add($"{program}: option requires an argument -- '{c}'");
                    break;
                }

                o = Value(o, c, value);
                break;
            }
        }

        return o;
    }

    private static Options Flag(Options o, char c) => c switch
    {
        's' when o.Client => throw new UsageException("Pass one of -s or -c"),
        's' => o with { Server = true },
        'c' when o.Server => throw new UsageException("Pass one of -s or -c"),
        'c' => o with { Client = true },
        _ => o with { DryRun = true },
    };

    private static Options Value(Options o, char c, string v) => c switch
    {
        'h' => o with { Host = v },
        'p' => o with { Port = (int)StrToUl(v) },
        'l' => o with { PayloadLength = (int)StrToUl(v) },
        'i' => o with { Interface = v },
        'q' => o with { Queue = (int)StrToUl(v) },
        'o' => o with { Oneshot = true, OneshotReceives = (int)StrToUl(v) },
        'z' => o with { SendBytes = (int)StrToUl(v) },
        'x' => o with { RxBufferPages = (long)StrToUl(v) },
        _ => o,
    };

    /// <summary>strtoul(s, NULL, 0): leading space, a sign, 0x/0X hex or 0 octal or decimal, up to the first character that is not a digit of the base; 0 when none.</summary>
    public static ulong StrToUl(string s)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i]))
        {
            i++;
        }

        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            negative = s[i] == '-';
            i++;
        }

        int radix = 10;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.Length && Uri.IsHexDigit(s[i + 2]))
        {
            radix = 16;
            i += 2;
        }
        else if (i < s.Length && s[i] == '0')
        {
            radix = 8;
        }

        ulong value = 0;
        for (; i < s.Length; i++)
        {
            int d = s[i] is >= '0' and <= '9' ? s[i] - '0' : s[i] is >= 'a' and <= 'f' ? s[i] - 'a' + 10 : s[i] is >= 'A' and <= 'F' ? s[i] - 'A' + 10 : 99;
            if (d >= radix)
            {
                break;
            }

            value = unchecked((value * (ulong)radix) + (ulong)d);
        }

        return negative ? unchecked(0 - value) : value;
    }

    /// <summary>The peer address as the tool's parse_address reads it: IPv6, else IPv4 as ::ffff:a.b.c.d.</summary>
    public static IPAddress? ParseAddress(string s)
    {
        if (IPAddress.TryParse(s, out IPAddress? a) && s.Contains(':', StringComparison.Ordinal) && a.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return a;
        }

        return IPAddress.TryParse(s, out a) && a.AddressFamily == AddressFamily.InterNetwork && s.Count(ch => ch == '.') == 3 ? a.MapToIPv6() : null;
    }
}
