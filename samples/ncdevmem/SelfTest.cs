using System.Text.Json;
using Devmem.Memory;
using Devmem.Setup;
using Devmem.Testing;

namespace Devmem.Cli;

/// <summary>
/// -f IFNAME without -s/-c: the kernel ncdevmem's bind self-tests (DevmemBindSelfTests), one line each on
/// stderr, or a JSON array with --json. Exit 0 when all passed, 255 when one failed (as the kernel's tool),
/// 1 when they could not run here (each skipped, with the reason).
/// </summary>
internal static class SelfTest
{
    public static int Run(Options o)
    {
        IReadOnlyList<SelfTestResult> results;
        DeviceMemory? memory = null;
        try
        {
            try
            {
                DevmemRxSetup.CheckInterface(o.Interface!);
            }
            catch (DevmemSetupException e)
            {
                return Report(o, DevmemBindSelfTests.Skip(e.Message));
            }

            try
            {
                memory = Providers.Create(o with { FallbackCopy = false }, 16000L * 4096, "ncdevmem-selftest");
            }
            catch (DmabufException)
            {
                results = DevmemBindSelfTests.Skip("no dma-buf to bind: this host has no udmabuf, dma-heap or CUDA GPU (devmem-info doctor tells more)");
                return Report(o, results);
            }

            results = DevmemBindSelfTests.Run(o.Interface!, memory, (uint?)o.QueueStart, (uint?)o.QueueCount, o.RxPageSize == 0 ? null : (uint)o.RxPageSize);
            return Report(o, results);
        }
        finally
        {
            memory?.Dispose();
        }
    }

    private static int Report(Options o, IReadOnlyList<SelfTestResult> results)
    {
        if (results.All(r => r.Outcome == SelfTestOutcome.Skipped && r.Detail == results[0].Detail))
        {
            Console.Error.WriteLine($"ncdevmem: [skip] all {results.Count} bind self-tests: {results[0].Detail}");
        }
        else
        {
            foreach (SelfTestResult r in results)
            {
                string tag = r.Outcome switch { SelfTestOutcome.Passed => "pass", SelfTestOutcome.Failed => "FAIL", _ => "skip" };
                Console.Error.WriteLine($"ncdevmem: [{tag}] {r.Name}: {r.Detail}");
            }
        }

        if (o.Json)
        {
            Outcome.JsonPrinted = true;
            using Stream stdout = CliProcess.OpenOutput();
            using (var w = new Utf8JsonWriter(stdout))
            {
                w.WriteStartArray();
                foreach (SelfTestResult r in results)
                {
                    w.WriteStartObject();
                    w.WriteString("test", r.Name);
                    w.WriteString("outcome", r.Outcome.ToString().ToLowerInvariant());
                    w.WriteString("detail", r.Detail);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            stdout.Write("\n"u8);
        }

        if (results.Any(r => r.Outcome == SelfTestOutcome.Failed))
        {
            Console.Error.WriteLine("ncdevmem: bind self-tests FAILED");
            return 255;
        }

        if (results.All(r => r.Outcome == SelfTestOutcome.Passed))
        {
            Console.Error.WriteLine("ncdevmem: bind self-tests passed");
            return 0;
        }

        Console.Error.WriteLine("ncdevmem: bind self-tests skipped: devmem RX is not possible here");
        return 1;
    }
}
