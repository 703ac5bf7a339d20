using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// --interleaved [ROUNDS]: the cmsg-walk comparison with C and C# alternating (Interleaved.cs).
if (args.Length > 0 && args[0] == "--interleaved")
{
    Devmem.Benchmarks.Interleaved.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2000);
    return;
}

// A short job on purpose: the development machine has 2 shared cores (docs/performance.md says so).
// In-process toolchain: no separate benchmark project build, which keeps a run to about a minute.
IConfig config = DefaultConfig.Instance
    .AddJob(Job.Default
        .WithToolchain(InProcessEmitToolchain.Instance)
        .WithLaunchCount(1)
        .WithWarmupCount(3)
        .WithIterationCount(8)
        .WithId("Short"))
    .AddColumn(StatisticColumn.Median, StatisticColumn.Min)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(Devmem.Benchmarks.NetlinkCodecBenchmarks).Assembly).Run(args, config);
