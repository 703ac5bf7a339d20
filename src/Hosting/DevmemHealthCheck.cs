using Devmem.Setup;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Devmem.Hosting;

/// <summary>
/// The devmem receiver's health: Healthy while receiving by zero copy; Degraded in the copy fallback
/// (data <c>fallback_kind</c>, <c>fallback_reason</c>, <c>doctor</c>); Unhealthy when the NIC setup failed
/// (the error's message, and <c>errno</c>, <c>step</c> where the error has them), before start and after stop.
/// Register it with <see cref="DevmemHostingExtensions.AddDevmem"/>.
/// </summary>
public sealed class DevmemHealthCheck(DevmemReceiverStatus status) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["state"] = status.State.ToString(),
            ["interface"] = status.InterfaceName ?? "",
            ["mode"] = status.IsZeroCopy ? "zero_copy" : "copy",
            ["active_connections"] = status.ActiveConnections,
            ["total_connections"] = status.TotalConnections,
        };
        if (status.Doctor is { } doctor)
        {
            data["doctor"] = doctor;
        }

        HealthCheckResult result;
        switch (status.State)
        {
            case DevmemReceiverState.Running when status.IsZeroCopy:
                data["binding_id"] = status.BindingId;
                data["queues"] = string.Join(',', status.Queues);
                result = HealthCheckResult.Healthy($"Receiving by zero copy on {status.InterfaceName} (binding {status.BindingId}, queues {string.Join(',', status.Queues)}).", data);
                break;
            case DevmemReceiverState.Running:
                data["fallback_kind"] = status.FallbackKind?.ToString() ?? "";
                data["fallback_reason"] = status.FallbackReason ?? "";
                result = HealthCheckResult.Degraded($"Receiving by copy on {status.InterfaceName}: zero copy is impossible here ({status.FallbackKind}): {status.FallbackReason}", null, data);
                break;
            case DevmemReceiverState.Failed:
                Exception error = status.Error!;
                data["error"] = error.Message;
                if (error is DevmemIOException io && io.ErrnoName.Length > 0)
                {
                    data["errno"] = io.ErrnoName;
                }

                if (error is DevmemSetupException setup)
                {
                    data["step"] = DevmemSetupException.StepName(setup.Step);
                }

                result = new HealthCheckResult(context?.Registration.FailureStatus ?? HealthStatus.Unhealthy, $"The devmem NIC setup on {status.InterfaceName} failed: {error.Message}", error, data);
                break;
            case DevmemReceiverState.Stopped:
                result = new HealthCheckResult(context?.Registration.FailureStatus ?? HealthStatus.Unhealthy, "The devmem receiver has stopped (the host is shutting down).", null, data);
                break;
            default:
                result = new HealthCheckResult(context?.Registration.FailureStatus ?? HealthStatus.Unhealthy, "The devmem receiver has not started yet.", null, data);
                break;
        }

        return Task.FromResult(result);
    }
}
