using System.Text;

namespace Devmem.Cli;

/// <summary>Log lines from the library on stderr ("ncdevmem: eth1: tcp-data-split off -> on"); Debug only with --verbose.</summary>
internal sealed class StderrLogger(bool verbose) : Microsoft.Extensions.Logging.ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= (verbose ? Microsoft.Extensions.Logging.LogLevel.Debug : Microsoft.Extensions.Logging.LogLevel.Information);

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            var sb = new StringBuilder("ncdevmem: ");
            if (logLevel >= Microsoft.Extensions.Logging.LogLevel.Warning)
            {
                sb.Append(logLevel == Microsoft.Extensions.Logging.LogLevel.Warning ? "warning: " : "error: ");
            }

            Console.Error.WriteLine(sb.Append(formatter(state, exception)).ToString());
        }
    }
}
