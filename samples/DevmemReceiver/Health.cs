using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Devmem.Samples.Receiver;

/// <summary>
/// Logs the health report when its status or description changes (the host's health-check publisher
/// runs the checks periodically), so an operator reads the devmem check's Healthy (zero copy), Degraded
/// (copy fallback, with the reason) or Unhealthy in the log.
/// </summary>
internal sealed class HealthLogPublisher(ILoggerFactory loggerFactory) : IHealthCheckPublisher
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);
    private string? _last;

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        string description = string.Join("; ", report.Entries.Select(e => $"{e.Key} {e.Value.Status}: {e.Value.Description}"));
        string now = $"{report.Status}|{description}";
        if (now != Interlocked.Exchange(ref _last, now))
        {
            string status = report.Status.ToString();
            Log.Health(_logger, status, description);
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// Takes the health report when the host begins to stop, while the receiver still runs (it is registered
/// after the receiver, and the host stops services in reverse order), for the summary line.
/// </summary>
internal sealed class HealthAtStop(HealthCheckService health, HealthLogPublisher publisher) : IHostedService
{
    public HealthStatus? Status { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        HealthReport report = await health.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        Status = report.Status;
        await publisher.PublishAsync(report, cancellationToken).ConfigureAwait(false);
    }
}
