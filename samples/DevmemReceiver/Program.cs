using Devmem.Hosting;
using Devmem.Receive;
using Devmem.Samples.Receiver;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

IHost host;
try
{
    host = Build(args);
}
#pragma warning disable CA1031 // A configuration file that does not parse is bad input too: one line, exit 1.
catch (Exception e)
#pragma warning restore CA1031
{
    // No logger yet: the configuration that configures it failed.
    string reason = e.InnerException is { } inner ? $"{e.Message} {inner.Message}" : e.Message;
    await Console.Error.WriteLineAsync($"DevmemReceiver did not start (exit 1): {reason}").ConfigureAwait(false);
    return 1;
}

using IHost disposeHost = host;
ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Log.Category);
DevmemMeterTotals totals = host.Services.GetRequiredService<DevmemMeterTotals>(); // listening before the first socket
ConnectionTally tally = host.Services.GetRequiredService<ConnectionTally>();

try
{
    await host.StartAsync().ConfigureAwait(false);
}
#pragma warning disable CA1031 // Bad input must end in one line and exit 1, whatever the exception; no stack trace.
catch (Exception e)
#pragma warning restore CA1031
{
    // The receiver has logged a failed NIC setup or listen already (event 102, with errno, kernel message, hint).
    bool logged = host.Services.GetRequiredService<DevmemReceiverStatus>().State == DevmemReceiverState.Failed;
    Log.StartFailed(logger, logged ? "the NIC setup failed (the line above says why and what to do)" : Describe(e));
    return 1;
}

DevmemReceiverStatus status = host.Services.GetRequiredService<DevmemReceiverStatus>();
int period = host.Services.GetRequiredService<IOptions<ReceiverOptions>>().Value.ValidatePeriod;
Log.Ready(logger, status.State != DevmemReceiverState.Running ? $"not receiving ({status.State})" : status.IsZeroCopy ? "zero copy" : "copy fallback",
    status.InterfaceName ?? "", period > 0 ? $"of the ncdevmem pattern, period {period}" : "off");

// SIGTERM, SIGINT (Ctrl-C) and SIGQUIT stop the host (its console lifetime): the receiver stops accepting,
// lets open connections drain for Devmem:DrainTimeout, cancels the rest, releases every token, and
// disposes the setup (unbind, NIC restored).
bool stopFailed = false;
try
{
    await host.WaitForShutdownAsync().ConfigureAwait(false);
}
#pragma warning disable CA1031 // As at the start: one line and exit 1, no stack trace.
catch (Exception e)
#pragma warning restore CA1031
{
    Log.StopFailed(logger, Describe(e));
    stopFailed = true;
}

long failed = tally[ConnectionOutcome.Failed];
int exit = failed == 0 && !stopFailed ? 0 : 1;
string health = host.Services.GetRequiredService<HealthAtStop>().Status?.ToString() ?? "unknown";
Log.Summary(logger, tally.Total, tally[ConnectionOutcome.Validated], tally[ConnectionOutcome.Received], tally[ConnectionOutcome.CutShort], failed,
    totals[DevmemMetrics.RxDmabufBytesName] + totals[DevmemMetrics.RxCopiedBytesName] + totals[DevmemMetrics.RxLinearBytesName],
    totals[DevmemMetrics.RxDmabufBytesName], totals[DevmemMetrics.RxCopiedBytesName], totals[DevmemMetrics.RxLinearBytesName],
    totals[DevmemMetrics.RxFragmentsName], totals[DevmemMetrics.RxReleaseCallsName], totals[DevmemMetrics.RxTokensOutstandingName],
    health, exit);
if (exit == 0)
{
    Log.AllValidated(logger);
}
else if (failed > 0)
{
    Log.NotAllValidated(logger, failed);
}

return exit;

// One line: the options' every problem, or the exception's message (DevmemIOException's names the errno,
// the kernel's message and what to do).
static string Describe(Exception e) => e switch
{
    OptionsValidationException v => string.Join(" ", v.Failures),
    AggregateException a => string.Join(" ", a.InnerExceptions.Select(Describe)),
    _ => e.Message,
};

static IHost Build(string[] args)
{
    // Configuration the usual way: appsettings.json (beside the program), appsettings.{Environment}.json,
    // DOTNET_/environment variables (Devmem__Port=5201) and the command line (--Devmem:Port=5201).
    HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
    {
        Args = args,
        ContentRootPath = AppContext.BaseDirectory,
    });

    // The host's own "Hosting failed to start" error carries the exception's stack trace; the sample says
    // what went wrong in one line (event 8) instead.
    builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
    // The health check service logs every non-Healthy result each period (an Unhealthy one with its
    // exception's stack trace); the sample's publisher logs each change once (event 6) instead.
    builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Critical);

    builder.Services.AddOptions<ReceiverOptions>().Bind(builder.Configuration.GetSection(DevmemReceiverOptions.SectionName)).ValidateOnStart();
    builder.Services.AddSingleton<IValidateOptions<ReceiverOptions>, ReceiverOptionsValidator>();
    builder.Services.AddSingleton<ConnectionTally>();
    builder.Services.AddSingleton<DevmemMeterTotals>();

    builder.AddDevmemReceiver<PatternHandler>();   // DevmemReceiverOptions from "Devmem", validated on start

    builder.Services.AddHealthChecks().AddDevmem();
    builder.Services.AddSingleton<HealthLogPublisher>();
    builder.Services.AddSingleton<IHealthCheckPublisher>(sp => sp.GetRequiredService<HealthLogPublisher>());
    builder.Services.Configure<HealthCheckPublisherOptions>(o =>
    {
        o.Delay = TimeSpan.FromSeconds(1);
        o.Period = TimeSpan.FromSeconds(10);
    });
    builder.Services.AddSingleton<HealthAtStop>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthAtStop>()); // after the receiver: stops first

    return builder.Build();
}
