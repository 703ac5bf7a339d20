using System.Net;
using Devmem.Memory;
using Devmem.Setup;
using Microsoft.Extensions.Options;

namespace Devmem.Hosting;

/// <summary>
/// The devmem receiver's settings, bound from the configuration section <see cref="SectionName"/>
/// ("Devmem") and validated when the host starts (<see cref="DevmemReceiverOptionsValidator"/>).
/// </summary>
/// <example>
/// <code>
/// "Devmem": { "Interface": "eth1", "Address": "192.168.1.4", "Port": 5201, "Queues": { "Start": 15, "Count": 1 }, "Fallback": "Copy" }
/// </code>
/// </example>
public sealed class DevmemReceiverOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "Devmem";

    /// <summary>The network interface whose RX queues receive into device memory, e.g. "eth1" (required).</summary>
    public string? Interface { get; set; }

    /// <summary>The local IPv4 or IPv6 address the flow arrives at: the listener binds it and the flow rule matches it (required).</summary>
    public string? Address { get; set; }

    /// <summary>The local TCP port (1–65535; required).</summary>
    public int Port { get; set; }

    /// <summary>Which RX queues to bind; unset: the last RX queue, as ncdevmem.</summary>
    public DevmemQueueOptions Queues { get; set; } = new();

    /// <summary>
    /// The dma-buf memory provider: null (the default) tries CUDA, udmabuf and dma-heap in turn (and, with
    /// <see cref="Fallback"/> Copy, host memory when none works); a named one is used or the start fails.
    /// <see cref="MemoryProviderKind.Imported"/> cannot be configured.
    /// </summary>
    public MemoryProviderKind? Provider { get; set; }

    /// <summary>Bytes of device memory to bind (default 64 MiB).</summary>
    public long MemorySize { get; set; } = 64L << 20;

    /// <summary>What to do when zero copy is impossible on a valid configuration (default <see cref="DevmemFallback.Never"/>).</summary>
    public DevmemFallback Fallback { get; set; } = DevmemFallback.Never;

    /// <summary>rx-page-size for bind-rx (Linux 7.3+), or zcrx's rx_buf_len: a power of two of at least 4096; unset for PAGE_SIZE.</summary>
    public uint? RxPageSize { get; set; }

    /// <summary>
    /// The zero-copy receive path (default <see cref="DevmemRxEngine.DevmemSockets"/>):
    /// <see cref="DevmemRxEngine.Zcrx"/> receives through io_uring zero-copy receive (Linux 6.15+, one queue;
    /// <see cref="Provider"/> <see cref="MemoryProviderKind.HostMemory"/> gives it host memory). The connection
    /// handler sees the same <c>DevmemSocket</c> either way.
    /// </summary>
    public DevmemRxEngine Engine { get; set; } = DevmemRxEngine.DevmemSockets;

    /// <summary>
    /// Backpressure: at most this many fragment tokens are held by the application at once, over all
    /// connections (default 4096). Each batch reserves <see cref="SegmentsPerReceive"/> of them while its
    /// handler runs; a connection whose data is ready waits for room, leaving its data in the kernel
    /// (where TCP's window pushes back on the sender).
    /// </summary>
    public int MaxOutstandingTokens { get; set; } = 4096;

    /// <summary>Segments one receive may return, i.e. the most fragments in one batch (default 128).</summary>
    public int SegmentsPerReceive { get; set; } = 128;

    /// <summary>Bytes of each connection's linear buffer, which also caps the bytes one receive covers (default 256 KiB).</summary>
    public int LinearBufferSize { get; set; } = 256 * 1024;

    /// <summary>Pending connections the listener queues (default 128).</summary>
    public int Backlog { get; set; } = 128;

    /// <summary>
    /// On host stop, how long connections may run on to their end of stream after accepting stops,
    /// before they are cancelled (default 5 s; 0 cancels at once). The host's own shutdown timeout still applies.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When the NIC setup fails (a configuration error, or zero copy impossible with <see cref="Fallback"/>
    /// Never): true (the default) fails the host's start with the setup's error; false keeps the host
    /// running without a receiver, its health check Unhealthy with the error.
    /// </summary>
    public bool FailStartOnSetupError { get; set; } = true;

    internal IPAddress ParseAddress() => IPAddress.Parse(Address!);
}

/// <summary>Which RX queues the binding takes (<c>Devmem:Queues</c>).</summary>
public sealed class DevmemQueueOptions
{
    /// <summary>The first RX queue; unset: the last <see cref="Count"/> RX queues.</summary>
    public uint? Start { get; set; }

    /// <summary>How many RX queues (default 1).</summary>
    public uint? Count { get; set; }
}

/// <summary>Checks <see cref="DevmemReceiverOptions"/> when the host starts and says in words what is wrong.</summary>
public sealed class DevmemReceiverOptionsValidator : IValidateOptions<DevmemReceiverOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DevmemReceiverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        const string S = DevmemReceiverOptions.SectionName;
        if (string.IsNullOrWhiteSpace(options.Interface))
        {
            problems.Add($"{S}:Interface is missing: name the network interface that receives, e.g. \"eth1\".");
        }
        else if (options.Interface.Length > 15 || options.Interface.Contains('/', StringComparison.Ordinal) || options.Interface.Any(char.IsWhiteSpace))
        {
            problems.Add($"{S}:Interface \"{options.Interface}\" is not a valid interface name (at most 15 characters, no '/' or white space).");
        }

        if (string.IsNullOrWhiteSpace(options.Address))
        {
            problems.Add($"{S}:Address is missing: give the local IP address the flow arrives at, e.g. \"192.168.1.4\".");
        }
        else if (!IPAddress.TryParse(options.Address, out IPAddress? parsed) ||
                 (parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && options.Address.Split('.').Length != 4))
        {
            // IPAddress.TryParse takes inet_aton's short forms ("192.168.1" is 192.168.0.1): refused here as a likely typo.
            problems.Add($"{S}:Address \"{options.Address}\" is not an IP address (IPv4 as four dotted numbers, or IPv6).");
        }

        if (options.Port is < 1 or > 65535)
        {
            problems.Add($"{S}:Port {options.Port} is out of range: give a TCP port from 1 to 65535.");
        }

        if (options.Queues?.Count is 0)
        {
            problems.Add($"{S}:Queues:Count is 0: bind at least one RX queue.");
        }

        if (!Enum.IsDefined(options.Engine))
        {
            problems.Add($"{S}:Engine {(int)options.Engine} is not an engine: DevmemSockets or Zcrx.");
        }
        else if (options.Engine == DevmemRxEngine.Zcrx && options.Queues?.Count is > 1)
        {
            problems.Add($"{S}:Queues:Count is {options.Queues.Count}, but Engine Zcrx registers on one RX queue: set Count to 1 or leave it unset.");
        }

        if (options.Provider is MemoryProviderKind.Imported)
        {
            problems.Add($"{S}:Provider Imported cannot be configured: choose Cuda, Udmabuf, DmaHeap or HostMemory, or leave it unset to try each.");
        }
        else if (options.Provider is { } p && !Enum.IsDefined(p))
        {
            problems.Add($"{S}:Provider {(int)p} is not a memory provider.");
        }

        if (!Enum.IsDefined(options.Fallback))
        {
            problems.Add($"{S}:Fallback must be Never or Copy.");
        }

        if (options.MemorySize <= 0)
        {
            problems.Add($"{S}:MemorySize {options.MemorySize} must be a positive number of bytes.");
        }

        if (options.RxPageSize is { } page && (page < 4096 || !uint.IsPow2(page)))
        {
            problems.Add($"{S}:RxPageSize {page} must be a power of two of at least 4096.");
        }

        if (options.SegmentsPerReceive < 1)
        {
            problems.Add($"{S}:SegmentsPerReceive {options.SegmentsPerReceive} must be at least 1.");
        }

        if (options.MaxOutstandingTokens < options.SegmentsPerReceive)
        {
            problems.Add($"{S}:MaxOutstandingTokens {options.MaxOutstandingTokens} must be at least SegmentsPerReceive ({options.SegmentsPerReceive}): one batch holds that many tokens.");
        }

        if (options.LinearBufferSize < 1)
        {
            problems.Add($"{S}:LinearBufferSize {options.LinearBufferSize} must be at least 1 byte.");
        }

        if (options.Backlog < 1)
        {
            problems.Add($"{S}:Backlog {options.Backlog} must be at least 1.");
        }

        if (options.DrainTimeout < TimeSpan.Zero)
        {
            problems.Add($"{S}:DrainTimeout {options.DrainTimeout} cannot be negative.");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
