using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Devmem.Hosting;

/// <summary>Registers the devmem receiver and its health check.</summary>
public static class DevmemHostingExtensions
{
    /// <summary>
    /// Adds the devmem receiver with options bound from <paramref name="configuration"/> (the "Devmem"
    /// section, as <c>configuration.GetSection("Devmem")</c>), validated when the host starts, and
    /// <typeparamref name="THandler"/> as the connection handler (a singleton).
    /// </summary>
    /// <typeparam name="THandler">The application's handler.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section holding the options.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddDevmemReceiver<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(
        this IServiceCollection services, IConfiguration configuration)
        where THandler : class, IDevmemConnectionHandler
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddCore<THandler>(services, services.AddOptions<DevmemReceiverOptions>().Bind(configuration));
    }

    /// <summary>Adds the devmem receiver with options set in code, validated when the host starts.</summary>
    /// <typeparam name="THandler">The application's handler.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddDevmemReceiver<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(
        this IServiceCollection services, Action<DevmemReceiverOptions> configure)
        where THandler : class, IDevmemConnectionHandler
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        return AddCore<THandler>(services, services.AddOptions<DevmemReceiverOptions>().Configure(configure));
    }

    /// <summary>
    /// Adds the devmem receiver to a host with options from the builder's configuration section "Devmem"
    /// (<see cref="DevmemReceiverOptions.SectionName"/>), validated when the host starts.
    /// </summary>
    /// <typeparam name="THandler">The application's handler.</typeparam>
    /// <remarks>To change options in code after binding: <c>builder.Services.Configure&lt;DevmemReceiverOptions&gt;(o =&gt; ...)</c>.</remarks>
    /// <param name="builder">The host builder (e.g. <c>Host.CreateApplicationBuilder()</c>).</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHostApplicationBuilder AddDevmemReceiver<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(
        this IHostApplicationBuilder builder)
        where THandler : class, IDevmemConnectionHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDevmemReceiver<THandler>(builder.Configuration.GetSection(DevmemReceiverOptions.SectionName));
        return builder;
    }

    /// <summary>
    /// Adds the devmem receiver's health check (<see cref="DevmemHealthCheck"/>): Healthy in zero copy,
    /// Degraded in the copy fallback, <paramref name="failureStatus"/> (default Unhealthy) when the setup failed.
    /// </summary>
    /// <param name="builder">From <c>services.AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">The status reported on failure; null for Unhealthy.</param>
    /// <param name="tags">Tags to filter checks by.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHealthChecksBuilder AddDevmem(this IHealthChecksBuilder builder, string name = "devmem", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<DevmemReceiverStatus>();
        return builder.Add(new HealthCheckRegistration(name, sp => new DevmemHealthCheck(sp.GetRequiredService<DevmemReceiverStatus>()), failureStatus, tags));
    }

    private static IServiceCollection AddCore<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(IServiceCollection services, OptionsBuilder<DevmemReceiverOptions> options)
        where THandler : class, IDevmemConnectionHandler
    {
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DevmemReceiverOptions>, DevmemReceiverOptionsValidator>());
        services.TryAddSingleton<DevmemReceiverStatus>();
        services.TryAddSingleton<IDevmemConnectionHandler, THandler>();
        services.AddHostedService<DevmemReceiverService>();
        return services;
    }
}
