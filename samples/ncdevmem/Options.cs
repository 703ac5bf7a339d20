using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Devmem.Cli;

/// <summary>What ncdevmem was asked to do.</summary>
internal enum Mode
{
    /// <summary>No -s/-c: run the bind self-tests on the interface (as the kernel's tool does).</summary>
    SelfTest,

    /// <summary>-l: receive (RX).</summary>
    Server,

    /// <summary>-s without -l: send (TX client).</summary>
    Client,

    /// <summary>--demo: server and client over loopback in one process.</summary>
    Demo,

    /// <summary>--help.</summary>
    Help,
}

/// <summary>
/// The command line of the kernel's newest ncdevmem (tools/testing/selftests/drivers/net/hw/ncdevmem.c,
/// getopt "Lls:c:p:v:q:t:f:z:nb:") plus this tool's long options. Parsed as getopt does: flags may be
/// grouped (-lL), a value may be attached (-p5201) or separate (-p 5201), "--" ends the options.
/// </summary>
internal sealed record Options
{
    public Mode Mode { get; init; } = Mode.SelfTest;

    public string? Interface { get; init; }

    public IPAddress? ServerAddress { get; init; }

    public IPAddress? ClientAddress { get; init; }

    public int Port { get; init; }

    public int Validation { get; init; }

    public int? QueueStart { get; init; }

    public int? QueueCount { get; init; }

    public int TxChunk { get; init; }

    public bool SkipConfiguration { get; init; }

    public bool FailOnLinear { get; init; }

    public int RxPageSize { get; init; }

    public string Provider { get; init; } = "auto";

    public bool FallbackCopy { get; init; }

    /// <summary>--tx: the client's transport: "auto" (devmem TX where the kernel and NIC allow, else plain TCP), "devmem" or "plain".</summary>
    public string Tx { get; init; } = "auto";

    /// <summary>--engine: the server's zero-copy receive path, "devmem" (devmem sockets, the kernel tool's) or "zcrx" (io_uring zero-copy receive).</summary>
    public string Engine { get; init; } = "devmem";

    public bool Json { get; init; }

    /// <summary>--async: the devmem TX client sends and waits with the library's async calls (SendAsync, WaitForCompletionAsync).</summary>
    public bool Async { get; init; }

    public bool Verbose { get; init; }

    public long DemoBytes { get; init; } = 1L << 30;

    public static Options Parse(IReadOnlyList<string> args)
    {
        var o = new Options();
        bool listen = false, demo = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                if (i + 1 < args.Count)
                {
                    throw new UsageException($"unexpected argument '{args[i + 1]}' (ncdevmem takes no operands)");
                }

                break;
            }

            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a, value = string.Empty;
                bool hasValue = false;
                int eq = a.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    name = a[..eq];
                    value = a[(eq + 1)..];
                    hasValue = true;
                }

                string TakeValue()
                {
                    if (hasValue)
                    {
                        return value;
                    }

                    if (i + 1 >= args.Count)
                    {
                        throw new UsageException($"option {name} needs a value");
                    }

                    return args[++i];
                }

                // A switch is on, or with =VALUE on or off (--json=0 is off).
                bool Switch() => !hasValue || CliProcess.ParseSwitch(name, value);

                switch (name)
                {
                    case "--help":
                        return hasValue ? throw new UsageException("--help takes no value") : o with { Mode = Mode.Help };
                    case "--demo":
                        demo = Switch();
                        break;
                    case "--json":
                        o = o with { Json = Switch() };
                        break;
                    case "--async":
                        o = o with { Async = Switch() };
                        break;
                    case "--verbose":
                        o = o with { Verbose = Switch() };
                        break;
                    case "--provider":
                        o = o with { Provider = ParseProvider(TakeValue()) };
                        break;
                    case "--fallback":
                        string f = TakeValue();
                        o = o with
                        {
                            FallbackCopy = f switch
                            {
                                "never" => false,
                                "copy" => true,
                                _ => throw new UsageException($"--fallback takes 'never' or 'copy', not '{f}'"),
                            },
                        };
                        break;
                    case "--tx":
                        string t = TakeValue();
                        o = o with { Tx = t is "auto" or "devmem" or "plain" ? t : throw new UsageException($"--tx takes 'auto', 'devmem' or 'plain', not '{t}'") };
                        break;
                    case "--engine":
                        string en = TakeValue();
                        o = o with { Engine = en is "devmem" or "zcrx" ? en : throw new UsageException($"--engine takes 'devmem' or 'zcrx', not '{en}'") };
                        break;
                    case "--demo-bytes":
                        o = o with { DemoBytes = ParseSize(TakeValue(), "--demo-bytes") };
                        break;
                    default:
                        throw new UsageException($"unknown option '{name}'");
                }

                continue;
            }

            if (a.Length < 2 || a[0] != '-')
            {
                throw new UsageException($"unexpected argument '{a}' (ncdevmem takes no operands)");
            }

            for (int j = 1; j < a.Length; j++)
            {
                char c = a[j];
                string Value()
                {
                    if (j + 1 < a.Length)
                    {
                        string v = a[(j + 1)..];
                        j = a.Length;
                        return v;
                    }

                    if (i + 1 >= args.Count)
                    {
                        throw new UsageException($"option -{c} needs a value");
                    }

                    j = a.Length;
                    return args[++i];
                }

                switch (c)
                {
                    case 'h':
                        return o with { Mode = Mode.Help };
                    case 'l':
                        listen = true;
                        break;
                    case 'L':
                        o = o with { FailOnLinear = true };
                        break;
                    case 'n':
                        o = o with { SkipConfiguration = true };
                        break;
                    case 's':
                        o = o with { ServerAddress = ParseAddress(Value(), "-s") };
                        break;
                    case 'c':
                        o = o with { ClientAddress = ParseAddress(Value(), "-c") };
                        break;
                    case 'p':
                        o = o with { Port = ParseInt(Value(), "-p", 1, 65535, "a TCP port") };
                        break;
                    case 'v':
                        int v = ParseInt(Value(), "-v", 0, 256, "the validation period");
                        if (v == 1)
                        {
                            throw new UsageException("-v 1 would expect only terminator bytes; use 0 (no validation, print the data) or a period from 2 to 256");
                        }

                        o = o with { Validation = v };
                        break;
                    case 't':
                        o = o with { QueueStart = ParseInt(Value(), "-t", 0, 65535, "the first RX queue") };
                        break;
                    case 'q':
                        o = o with { QueueCount = ParseInt(Value(), "-q", 1, 65535, "the number of RX queues") };
                        break;
                    case 'f':
                        string ifname = Value();
                        if (Devmem.Netlink.InterfaceNames.Problem(ifname) is { } problem)
                        {
                            throw new UsageException($"-f {Devmem.Netlink.InterfaceNames.Describe(ifname, problem)}");
                        }

                        o = o with { Interface = ifname };
                        break;
                    case 'z':
                        o = o with { TxChunk = ParseInt(Value(), "-z", 1, int.MaxValue, "the TX chunk size in bytes") };
                        break;
                    case 'b':
                        int b = ParseInt(Value(), "-b", 4096, 1 << 30, "the RX page size in bytes");
                        if ((b & (b - 1)) != 0)
                        {
                            throw new UsageException($"-b {b} is not a power of two (the kernel's rx-page-size must be one, at least the page size)");
                        }

                        o = o with { RxPageSize = b };
                        break;
                    default:
                        throw new UsageException($"unknown option '-{c}'");
                }
            }
        }

        if (demo)
        {
            if (listen || o.ServerAddress is not null || o.ClientAddress is not null || o.Interface is not null)
            {
                throw new UsageException("--demo runs its own server and client over loopback: it takes no -l, -s, -c or -f");
            }

            return o with { Mode = Mode.Demo };
        }

        if (o.Interface is null)
        {
            throw new UsageException("Missing -f argument: name the network interface, e.g. -f eth0");
        }

        Mode mode = listen ? Mode.Server : o.ServerAddress is not null ? Mode.Client : o.ClientAddress is not null ? Mode.Client : Mode.SelfTest;
        if (mode != Mode.SelfTest && o.ServerAddress is null)
        {
            throw new UsageException(listen ? "-l needs -s ADDR: the server address to listen on" : "the client needs -s ADDR: the server to connect to");
        }

        if (mode != Mode.SelfTest && o.Port == 0)
        {
            throw new UsageException("-p PORT is required with -s");
        }

        return o with { Mode = mode };
    }

    private static string ParseProvider(string value)
    {
        if (value is "auto" or "udmabuf" or "dma-heap" or "cuda" or "memfd")
        {
            return value;
        }

        if (value.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(value.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int dev) && dev >= 0)
        {
            return value;
        }

        throw new UsageException($"--provider takes auto, udmabuf, dma-heap, cuda, cuda:N or memfd, not '{value}'");
    }

    private static IPAddress ParseAddress(string value, string flag)
    {
        // inet_pton rules, as the kernel's tool: IPv4 only as four dotted decimals (IPAddress.TryParse would
        // also take "1.2.3" or "10").
        bool looksV4 = !value.Contains(':', StringComparison.Ordinal);
        if (looksV4 && (value.Split('.') is not { Length: 4 } parts || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit))))
        {
            throw new UsageException($"{flag} '{value}' is not an IPv4 or IPv6 address");
        }

        if (!IPAddress.TryParse(value, out var address) || (address.AddressFamily != AddressFamily.InterNetwork && address.AddressFamily != AddressFamily.InterNetworkV6))
        {
            throw new UsageException($"{flag} '{value}' is not an IPv4 or IPv6 address");
        }

        return address;
    }

    private static int ParseInt(string value, string flag, int min, int max, string what)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            throw new UsageException($"{flag} '{value}' is not a number ({what})");
        }

        if (n < min || n > max)
        {
            throw new UsageException($"{flag} {n} is out of range ({what}: {min} to {max})");
        }

        return n;
    }

    private static long ParseSize(string value, string flag)
    {
        long mult = 1;
        string digits = value;
        if (value.Length > 1 && char.ToUpperInvariant(value[^1]) is 'K' or 'M' or 'G')
        {
            mult = char.ToUpperInvariant(value[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            digits = value[..^1];
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || n > (1L << 40) / mult)
        {
            throw new UsageException($"{flag} '{value}' is not a size (bytes, or with K, M or G)");
        }

        return n * mult;
    }
}
