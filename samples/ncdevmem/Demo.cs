using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Validation;

namespace Devmem.Cli;

/// <summary>
/// --demo: a server and a client over loopback in one process. Loopback has no NIC RX queue a dma-buf
/// can be bound to, so this is always the copy fallback: the payload is received by copy into the best
/// memory provider this host has (a udmabuf where the kernel has one, else host memory), through the same
/// fragment/release API a zero-copy receive uses, and validated with the kernel ncdevmem's pattern.
/// </summary>
internal static class Demo
{
    private const int MemorySize = 32 << 20;
    private const int Period = 7;

    public static int Run(Options o)
    {
        var selection = MemoryProviders.Select(MemorySize, new MemoryProviderOptions { MemfdName = "ncdevmem-demo" });
        using DeviceMemory memory = selection.Memory ?? HostMemory.Create(MemorySize, "ncdevmem-demo");
        const string Reason = "loopback has no NIC RX queue to bind a dma-buf to";

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var server = listener.Accept();

        long total = o.DemoBytes;
        var sender = new Thread(() => new NcdevmemPattern(Period).Send(client, total)) { IsBackground = true, Name = "demo-client" };
        var clock = Stopwatch.StartNew();
        sender.Start();

        var check = new NcdevmemPattern(Period);
        bool progress = !Console.IsErrorRedirected;
        long nextProgress = 0;
        using (var ds = DevmemSocket.CreateCopyFallback(server, memory, Reason))
        {
            DevmemStreamResult result = new DevmemStreamReceiver(ds, memory, new DevmemStreamOptions
            {
                Validation = check,
                OnMismatch = Mismatch,
                Segments = 64,
                LinearBufferSize = 4096,
                OnProgress = p =>
                {
                    if (progress && clock.ElapsedMilliseconds >= nextProgress)
                    {
                        nextProgress = clock.ElapsedMilliseconds + 500;
                        Console.Error.Write(string.Create(CultureInfo.InvariantCulture,
                            $"\rncdevmem: {p.DmabufBytes >> 20} MiB of {total >> 20} MiB, {Rate(p.DmabufBytes, clock.Elapsed.TotalSeconds)}   "));
                    }
                },
            }).Run();
            long bytes = result.DmabufBytes, fragments = result.Fragments;
            if (result.End == DevmemStreamEnd.ValidationFailed)
            {
                Console.Error.WriteLine("ncdevmem: validation failed.");
                Outcome.Record("validation failed");
                return 1;
            }

            if (progress)
            {
                Console.Error.WriteLine();
            }

            clock.Stop();
            sender.Join();
            double seconds = clock.Elapsed.TotalSeconds;
            if (bytes != total)
            {
                Console.Error.WriteLine($"ncdevmem: received {bytes} of {total} bytes before the stream ended.");
                Outcome.Record($"received {bytes} of {total} bytes before the stream ended");
                return 1;
            }

            if (o.Json)
            {
                Outcome.JsonPrinted = true;
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $$"""{"mode":"copy","ok":true,"zero_copy":false,"provider":"{{memory.Kind}}","exporter":{{(memory.ExporterName is null ? "null" : "\"" + memory.ExporterName + "\"")}},"bytes":{{bytes}},"fragments":{{fragments}},"linear_bytes":0,"release_calls":{{ds.ReleaseCalls}},"validation_errors":{{check.Errors}},"seconds":{{seconds:F3}},"throughput_bytes_per_second":{{(long)(bytes / Math.Max(seconds, 1e-9))}},"fallback_reason":"{{Reason}}"}"""));
            }
            else
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ncdevmem demo: {bytes} bytes ({bytes >> 20} MiB) received and validated (pattern period {Period}) in {seconds:F2} s, {Rate(bytes, seconds)}"));
                Console.Out.WriteLine($"  mode: copy fallback into {memory.Kind} memory ({memory.Size >> 20} MiB ring, exporter {memory.ExporterName ?? "none: not a dma-buf"}), {fragments} fragments, all released");
                Console.Out.WriteLine($"  why not zero copy: {Reason}.");
                Console.Out.WriteLine("  what this host has for devmem TCP:");
                Console.Out.WriteLine($"    kernel {Environment.OSVersion.Version} (devmem RX needs 6.12 or later, TX 6.16 or later)");
                foreach (var c in selection.Candidates)
                {
                    string mark = c.Outcome == ProviderOutcome.Chosen ? "✓" : c.Outcome == ProviderOutcome.Skipped ? "✗" : "·";
                    Console.Out.WriteLine($"    {mark} {c.Kind}: {c.Reason}");
                }

                Console.Out.WriteLine("  zero copy needs a NIC whose driver supports devmem (e.g. bnxt, gve, mlx5, fbnic) and a dma-buf provider (udmabuf, dma-heap or a CUDA GPU): run ncdevmem -l -f IFNAME -s ADDR -p PORT there.");
                Console.Out.WriteLine("  what devmem-info doctor says this host lacks for zero copy:");
                foreach (string line in Devmem.Diagnostics.DevmemDoctor.Explain().Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    Console.Out.WriteLine($"    {line}");
                }
            }
        }

        return 0;

        static void Mismatch(byte expected, byte actual, long index) =>
            Console.Error.WriteLine($"Failed validation: expected={expected}, actual={actual}, index={index}");
    }

    private static string Rate(long bytes, double seconds) =>
        string.Create(CultureInfo.InvariantCulture, $"{bytes / Math.Max(seconds, 1e-9) / 1e9:F2} GB/s");
}
