using System.Globalization;

namespace Devmem.Cli;

/// <summary>The live throughput line on stderr, only when stderr is a terminal.</summary>
internal sealed class Progress
{
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private double _next;
    private bool _shown;

    public void Update(long bytes, double seconds)
    {
        if (!_enabled || seconds < _next)
        {
            return;
        }

        _next = seconds + 0.5;
        _shown = true;
        Console.Error.Write(string.Create(CultureInfo.InvariantCulture, $"\rncdevmem: {bytes >> 20} MiB received, {Rate(bytes, seconds)}   "));
    }

    public void Done()
    {
        if (_shown)
        {
            Console.Error.WriteLine();
            _shown = false;
        }
    }

    public static string Rate(long bytes, double seconds) =>
        string.Create(CultureInfo.InvariantCulture, $"{bytes / Math.Max(seconds, 1e-9) / 1e9:F2} GB/s");
}
