// ncdevmem: a C# counterpart of the kernel selftest tools/testing/selftests/drivers/net/hw/ncdevmem.c.
// Exit status as the kernel's tool where scripts depend on it: 0 success, 1 runtime failure; usage
// errors exit 2 (the kernel's tool uses 1 for those too).

using System.Net.Sockets;

namespace Devmem.Cli;

internal static class Program
{
    private const string Usage = """
        Usage: ncdevmem -f IFNAME [-l] -s ADDR -p PORT [-c ADDR] [-v N] [-t START] [-q COUNT]
                        [-z CHUNK] [-n] [-L] [-b SIZE] [--provider P] [--fallback never|copy]
                        [--tx auto|devmem|plain] [--async] [--engine devmem|zcrx] [--json]
               ncdevmem --demo [--json] [--demo-bytes SIZE]
               ncdevmem --help

        A C# ncdevmem: devmem TCP (receive into a dma-buf, send from one) with the kernel selftest's flags.

        Modes:
          -s ADDR -p PORT (no -l)   client: send standard input to ADDR:PORT line by line from a
                                    dma-buf bound to IFNAME with bind-tx (devmem TX, Linux 6.16+, a
                                    NIC whose driver supports netmem TX), as the kernel's client;
                                    where that is impossible, over plain TCP (saying why, in one line)
          -l -s ADDR -p PORT        server: set the NIC up, bind a dma-buf to its RX queues, accept one
                                    connection, receive (zero copy) until it closes, undo the setup
          -f IFNAME alone           bind self-tests (as the kernel's tool): exit 0 passed, 255 failed,
                                    1 skipped (devmem RX is not possible here; each line says why)
          --demo                    loopback demo: server and client in one process, 1 GiB received
                                    by copy into the best memory provider and validated

        Options (kernel ncdevmem's):
          -f IFNAME   network interface (required)
          -l          server (receive)
          -s ADDR     server address, IPv4 or IPv6
          -c ADDR     client address (client: bind the socket to it)
          -p PORT     TCP port
          -v N        validate the ncdevmem pattern with period N (2 to 256; 0: no validation)
          -t START    first RX queue          -q COUNT   number of RX queues
          -z CHUNK    TX: send each line as iovecs of CHUNK bytes (at most 1024)
          -n          skip NIC configuration  -L         fail on linear (non-dma-buf) data
          -b SIZE     RX page size (power of two, kernels that have rx-page-size)
        Options (this tool's):
          --provider auto|udmabuf|dma-heap|cuda[:N]|memfd   dma-buf provider (default auto)
          --fallback never|copy     copy when zero copy is impossible (default never)
          --engine devmem|zcrx      server: receive with devmem sockets (the default, as the
                                    kernel's tool) or io_uring zero-copy receive (zcrx, Linux
                                    6.15+; --provider memfd gives it host memory, 6.16+ a dma-buf)
          --tx auto|devmem|plain    client transport: devmem TX where possible, else plain TCP
                                    (auto, the default); devmem only; plain TCP only
          --async                   devmem TX client: send and wait for each completion with the
                                    library's async calls (SendAsync, WaitForCompletionAsync), as a
                                    service does, instead of blocking calls as the kernel's client
          --json                    print a JSON summary on stdout at the end (also on a
                                    failure or a signal: "ok": false and the "error")
          --verbose                 more log lines on stderr
          --demo-bytes SIZE         how much the demo moves (default 1G; K, M, G suffixes)
          --help                    this text

        Long options take --opt=VALUE too; a switch takes =1 or =0 (--json=0 is off).
        Exit status: 0 success, 1 failure, 2 bad usage; 129, 130, 131, 143 after SIGHUP,
        SIGINT, SIGQUIT, SIGTERM (the server undoes its NIC setup first).
        """;

    private static int Main(string[] args)
    {
        CliProcess.Start("ncdevmem");
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"ncdevmem: {CliProcess.OneLine(e.Message)}");
            Console.Error.WriteLine("Run 'ncdevmem --help' for the options.");
            return 2;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(CliProcess.Unexpected(e));
            return 1;
        }

        try
        {
            int rc = options.Mode switch
            {
                Mode.Help => Help(),
                Mode.Client => Client.Run(options),
                Mode.Server => Server.Run(options),
                Mode.SelfTest => SelfTest.Run(options),
                Mode.Demo => Demo.Run(options),
                _ => 2,
            };
            if (rc != 0)
            {
                Outcome.JsonFailure(options, Outcome.Error ?? $"exit status {rc}");
            }

            return rc;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"ncdevmem: {CliProcess.OneLine(e.Message)}");
            return 2;
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is IOException))
        {
            // A setup step failed and undoing the steps before it failed too.
            foreach (Exception x in e.InnerExceptions)
            {
                Console.Error.WriteLine($"ncdevmem: {CliProcess.OneLine(x.Message)}");
            }

            Outcome.JsonFailure(options, string.Join("; ", e.InnerExceptions.Select(x => CliProcess.OneLine(x.Message))));
            return 1;
        }
        catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException or InvalidOperationException or Devmem.Memory.DmabufException)
        {
            return Outcome.Fail(options, CliProcess.OneLine(e.Message));
        }
        catch (Exception e)
        {
            // The last catch: whatever else escaped is one line, never a stack trace.
            string line = CliProcess.Unexpected(e);
            Console.Error.WriteLine(line);
            Outcome.JsonFailure(options, line);
            return 1;
        }
    }

    private static int Help()
    {
        Console.Out.WriteLine(Usage);
        return 0;
    }
}

/// <summary>
/// How a run ended, for <c>--json</c>: every mode prints one JSON value on stdout, also when it fails
/// (an object with <c>"ok": false</c> and the <c>"error"</c>) or is stopped by a signal.
/// </summary>
internal static class Outcome
{
    /// <summary>The last runtime error reported (the line on stderr without "ncdevmem: ").</summary>
    public static string? Error { get; private set; }

    /// <summary>Whether the mode printed its JSON value already.</summary>
    public static bool JsonPrinted { get; set; }

    /// <summary>Reports a runtime failure in one line on stderr (and in JSON with --json); returns 1.</summary>
    public static int Fail(Options o, string message)
    {
        Error = message;
        Console.Error.WriteLine($"ncdevmem: {message}");
        JsonFailure(o, message);
        return 1;
    }

    /// <summary>Records <paramref name="message"/> as the run's error, for the JSON object Main prints at the end.</summary>
    public static void Record(string message) => Error = message;

    /// <summary>With --json and nothing printed yet: <c>{"mode":…,"ok":false,"interface":…,"error":…,"signal":…}</c>.</summary>
    public static void JsonFailure(Options o, string error, string? mode = null, string? signal = null)
    {
        if (!o.Json || JsonPrinted)
        {
            return;
        }

        JsonPrinted = true;
        using Stream stdout = CliProcess.OpenOutput();
        using (var w = new System.Text.Json.Utf8JsonWriter(stdout))
        {
            w.WriteStartObject();
            w.WriteString("mode", mode ?? o.Mode switch { Mode.Client => "client", Mode.SelfTest => "self-tests", Mode.Demo => "copy", _ => null });
            w.WriteBoolean("ok", false);
            w.WriteString("interface", o.Interface);
            w.WriteString("error", error);
            w.WriteString("signal", signal);
            w.WriteEndObject();
        }

        stdout.Write("\n"u8);
    }
}
