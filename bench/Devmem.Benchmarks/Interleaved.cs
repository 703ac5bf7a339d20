using System.Diagnostics;
using System.Globalization;

namespace Devmem.Benchmarks;

/// <summary>
/// A second view of <see cref="CmsgWalkBenchmarks"/> for a shared machine: BenchmarkDotNet measures one
/// method after the other, so load from other work that comes and goes lands on one side only. Here
/// the C and C# invocations alternate, one each per round, and the minimum and median per fragment are
/// reported: interference only ever adds time, so the minimum is the cost with the least of it.
/// </summary>
internal static class Interleaved
{
    public static void Run(int rounds)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"Interleaved: {rounds} rounds of {CmsgWalkBenchmarks.FragmentsPerInvoke} fragments per side, alternating; ns per fragment"));
        Console.WriteLine("| Fragments per receive | Side | Min | Median | Min vs C -O2 |");
        Console.WriteLine("|---:|---|---:|---:|---:|");
        foreach (int f in new[] { 16, 200 })
        {
            var b = new CmsgWalkBenchmarks { FragmentsPerReceive = f };
            b.Setup();
            try
            {
                var sides = new (string Name, Func<long> Run)[]
                {
                    ("C, gcc -O2", b.C_O2),
                    ("C, gcc -O3 -march=native", b.C_Native),
                    ("C#, Devmem library", b.CSharp),
                };
                var times = sides.Select(_ => new double[rounds]).ToArray();
                for (int warm = 0; warm < 50; warm++)
                {
                    foreach (var s in sides)
                    {
                        s.Run();
                    }
                }

                for (int r = 0; r < rounds; r++)
                {
                    for (int s = 0; s < sides.Length; s++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        long n = sides[s].Run();
                        long t1 = Stopwatch.GetTimestamp();
                        if (n != CmsgWalkBenchmarks.FragmentsPerInvoke)
                        {
                            throw new InvalidOperationException($"{sides[s].Name} handled {n} fragments");
                        }

                        times[s][r] = (t1 - t0) * 1e9 / Stopwatch.Frequency / CmsgWalkBenchmarks.FragmentsPerInvoke;
                    }
                }

                double baseMin = times[0].Min();
                for (int s = 0; s < sides.Length; s++)
                {
                    var sorted = times[s].Order().ToArray();
                    Console.WriteLine(string.Create(inv, $"| {f} | {sides[s].Name} | {sorted[0]:F2} | {sorted[sorted.Length / 2]:F2} | {sorted[0] / baseMin:F2} |"));
                }
            }
            finally
            {
                b.Cleanup();
            }
        }
    }
}
