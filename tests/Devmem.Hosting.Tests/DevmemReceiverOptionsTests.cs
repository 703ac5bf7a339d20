using Devmem.Hosting;
using Devmem.Memory;
using Devmem.Setup;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Devmem.Hosting.Tests;

[Tier(Tier.Pure)]
public sealed class DevmemReceiverOptionsTests
{
    private sealed class NoHandler : IDevmemConnectionHandler
    {
        public ValueTask OnBatchAsync(DevmemConnection connection, DevmemBatch batch, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    [Fact]
    public void Every_option_binds_from_the_Devmem_section()
    {
        IConfiguration config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devmem:Interface"] = "eth1",
            ["Devmem:Address"] = "192.168.1.4",
            ["Devmem:Port"] = "5201",
            ["Devmem:Queues:Start"] = "15",
            ["Devmem:Queues:Count"] = "1",
            ["Devmem:Provider"] = "Udmabuf",
            ["Devmem:MemorySize"] = "134217728",
            ["Devmem:Fallback"] = "Copy",
            ["Devmem:RxPageSize"] = "2097152",
            ["Devmem:MaxOutstandingTokens"] = "512",
            ["Devmem:SegmentsPerReceive"] = "256",
            ["Devmem:LinearBufferSize"] = "819200",
            ["Devmem:Backlog"] = "16",
            ["Devmem:DrainTimeout"] = "00:00:02",
            ["Devmem:FailStartOnSetupError"] = "false",
            ["Devmem:Engine"] = "Zcrx",
        }).Build();
        using ServiceProvider sp = new ServiceCollection().AddLogging()
            .AddDevmemReceiver<NoHandler>(config.GetSection(DevmemReceiverOptions.SectionName)).BuildServiceProvider();
        DevmemReceiverOptions o = sp.GetRequiredService<IOptions<DevmemReceiverOptions>>().Value;

        Assert.Equal("eth1", o.Interface);
        Assert.Equal("192.168.1.4", o.Address);
        Assert.Equal(5201, o.Port);
        Assert.Equal(15u, o.Queues.Start);
        Assert.Equal(1u, o.Queues.Count);
        Assert.Equal(MemoryProviderKind.Udmabuf, o.Provider);
        Assert.Equal(128L << 20, o.MemorySize);
        Assert.Equal(DevmemFallback.Copy, o.Fallback);
        Assert.Equal(2u << 20, o.RxPageSize);
        Assert.Equal(512, o.MaxOutstandingTokens);
        Assert.Equal(256, o.SegmentsPerReceive);
        Assert.Equal(819200, o.LinearBufferSize);
        Assert.Equal(16, o.Backlog);
        Assert.Equal(TimeSpan.FromSeconds(2), o.DrainTimeout);
        Assert.False(o.FailStartOnSetupError);
        Assert.Equal(DevmemRxEngine.Zcrx, o.Engine);
    }

    [Fact]
    public void Unset_options_keep_their_defaults_and_a_complete_configuration_is_valid()
    {
        var o = new DevmemReceiverOptions { Interface = "eth1", Address = "fe80::1", Port = 1 };
        Assert.Null(o.Provider);
        Assert.Null(o.Queues.Start);
        Assert.Equal(DevmemFallback.Never, o.Fallback);
        Assert.True(o.FailStartOnSetupError);
        Assert.Equal(DevmemRxEngine.DevmemSockets, o.Engine);
        Assert.True(new DevmemReceiverOptionsValidator().Validate(null, o).Succeeded);
    }

    [Theory]
    [InlineData("Interface", "eth0/x", "Devmem:Interface \"eth0/x\" is not a valid interface name")]
    [InlineData("Interface", "a-name-longer-than-15", "is not a valid interface name")]
    [InlineData("Address", "192.168.1", "Devmem:Address \"192.168.1\" is not an IP address")]
    [InlineData("Port", "0", "Devmem:Port 0 is out of range")]
    [InlineData("Queues:Count", "0", "Devmem:Queues:Count is 0")]
    [InlineData("Provider", "Imported", "Devmem:Provider Imported cannot be configured")]
    [InlineData("MemorySize", "0", "Devmem:MemorySize 0 must be a positive number of bytes")]
    [InlineData("RxPageSize", "12288", "Devmem:RxPageSize 12288 must be a power of two of at least 4096")]
    [InlineData("SegmentsPerReceive", "0", "Devmem:SegmentsPerReceive 0 must be at least 1")]
    [InlineData("LinearBufferSize", "0", "Devmem:LinearBufferSize 0 must be at least 1 byte")]
    [InlineData("Backlog", "0", "Devmem:Backlog 0 must be at least 1")]
    [InlineData("DrainTimeout", "-00:00:01", "Devmem:DrainTimeout -00:00:01 cannot be negative")]
    [InlineData("Engine", "7", "Devmem:Engine 7 is not an engine")]
    public void Each_invalid_setting_is_named_with_what_to_do(string key, string value, string expected)
    {
        IConfiguration config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devmem:Interface"] = "eth1",
            ["Devmem:Address"] = "10.0.0.1",
            ["Devmem:Port"] = "5201",
            ["Devmem:" + key] = value,
        }).Build();
        using ServiceProvider sp = new ServiceCollection().AddLogging()
            .AddDevmemReceiver<NoHandler>(config.GetSection("Devmem")).BuildServiceProvider();
        var e = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IOptions<DevmemReceiverOptions>>().Value);
        string only = Assert.Single(e.Failures);
        Assert.Contains(expected, only, StringComparison.Ordinal);
    }

    [Fact]
    public void Zcrx_with_more_than_one_queue_is_refused_with_the_fix()
    {
        var o = new DevmemReceiverOptions { Interface = "eth1", Address = "10.0.0.1", Port = 5201, Engine = DevmemRxEngine.Zcrx, Queues = new DevmemQueueOptions { Count = 2 } };
        ValidateOptionsResult r = new DevmemReceiverOptionsValidator().Validate(null, o);
        Assert.True(r.Failed);
        Assert.Contains("Engine Zcrx registers on one RX queue: set Count to 1", Assert.Single(r.Failures!), StringComparison.Ordinal);
        o.Queues.Count = 1;
        Assert.True(new DevmemReceiverOptionsValidator().Validate(null, o).Succeeded);
    }
}
