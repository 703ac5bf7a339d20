// The Devmem.Hosting part of the package check's consumer, compiled only when scripts/checks/package.sh
// found that package in its feed (it defines DEVMEM_HOSTING): a Generic Host configured from memory
// receives 64 MiB over lo in the copy fallback through AddDevmemReceiver, a handler validates the
// ncdevmem pattern, the health check must say Degraded, and the host stops cleanly.
#if DEVMEM_HOSTING
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Hosting;
using Devmem.Validation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

internal static class HostingCheck
{
    private const long Total = 64L << 20;

    public static int Run()
    {
        ushort port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = (ushort)((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devmem:Interface"] = "lo",
            ["Devmem:Address"] = "127.0.0.1",
            ["Devmem:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Devmem:Fallback"] = "Copy",
        });
        builder.AddDevmemReceiver<ValidatingHandler>();
        builder.Services.AddHealthChecks().AddDevmem();
        using IHost host = builder.Build();
        host.Start();

        using (var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            c.Connect(new IPEndPoint(IPAddress.Loopback, port));
            new NcdevmemPattern(7).Send(c, Total);
            if (!ValidatingHandler.Done.Task.Wait(TimeSpan.FromSeconds(60)))
            {
                Console.WriteLine("hosting: FAILED, the handler did not see the connection end within 60 s");
                return 1;
            }
        }

        HealthReport health = host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().GetAwaiter().GetResult();
        host.StopAsync().GetAwaiter().GetResult();
        (long bytes, long errors, string? error) = ValidatingHandler.Done.Task.Result;
        string reason = health.Entries.TryGetValue("devmem", out HealthReportEntry e) ? e.Description ?? "" : "no devmem entry";
        Console.WriteLine($"hosting: {bytes} of {Total} bytes, {errors} validation errors, health {health.Status} ({reason}){(error is null ? "" : $", error: {error}")}");
        if (bytes != Total || errors != 0 || error is not null || health.Status != HealthStatus.Degraded)
        {
            Console.WriteLine("hosting: FAILED (expected every byte validated and the health check Degraded in the copy fallback)");
            return 1;
        }

        Console.WriteLine("hosting: ok");
        return 0;
    }
}

internal sealed class ValidatingHandler : IDevmemConnectionHandler
{
    public static readonly TaskCompletionSource<(long Bytes, long Errors, string? Error)> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ValueTask OnConnectedAsync(DevmemConnection connection, CancellationToken cancellationToken)
    {
        connection.State = new NcdevmemPattern(7);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnBatchAsync(DevmemConnection connection, DevmemBatch batch, CancellationToken cancellationToken)
    {
        var check = (NcdevmemPattern)connection.State!;
        for (int i = 0; i < batch.Count; i++)
        {
            check.Validate(batch.GetData(i));
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask OnDisconnectedAsync(DevmemConnection connection, Exception? error, CancellationToken cancellationToken)
    {
        var check = (NcdevmemPattern)connection.State!;
        Done.TrySetResult((check.Bytes, check.Errors, error?.Message));
        return ValueTask.CompletedTask;
    }
}
#endif
