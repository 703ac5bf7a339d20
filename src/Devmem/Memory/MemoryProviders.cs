using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Memory;

/// <summary>What happened to one provider during <see cref="MemoryProviders.Select"/>.</summary>
public enum ProviderOutcome
{
    /// <summary>This provider made the memory.</summary>
    Chosen,
    /// <summary>Tried and failed, or not usable here; <see cref="ProviderCandidate.Reason"/> says why.</summary>
    Skipped,
    /// <summary>Not tried: an earlier provider was chosen.</summary>
    NotTried,
}

/// <summary>One provider considered by <see cref="MemoryProviders.Select"/>, and why it was or was not used.</summary>
/// <param name="Kind">The provider.</param>
/// <param name="Outcome">Chosen, skipped (with the error), or not tried.</param>
/// <param name="Reason">One line: the error that ruled it out, or why it was chosen or not tried.</param>
public sealed record ProviderCandidate(MemoryProviderKind Kind, ProviderOutcome Outcome, string Reason);

/// <summary>The result of <see cref="MemoryProviders.Select"/>: the memory (if any provider worked) and every candidate's outcome.</summary>
public sealed class ProviderSelection
{
    internal ProviderSelection(DeviceMemory? memory, IReadOnlyList<ProviderCandidate> candidates)
    {
        Memory = memory;
        Candidates = candidates;
    }

    /// <summary>The memory made by the chosen provider; null when none worked. The caller owns and disposes it.</summary>
    public DeviceMemory? Memory { get; }

    /// <summary>Each provider in the order tried (CUDA, udmabuf, dma-heap) with its outcome.</summary>
    public IReadOnlyList<ProviderCandidate> Candidates { get; }

    /// <summary>The chosen provider, or null.</summary>
    public MemoryProviderKind? Chosen => Memory?.Kind;

    /// <summary>A multi-line account: one line per candidate, "KIND: OUTCOME: REASON".</summary>
    public string Describe() => string.Join('\n', Candidates.Select(c => $"{c.Kind}: {c.Outcome}: {c.Reason}"));
}

/// <summary>Options for <see cref="MemoryProviders.Select"/> and <see cref="MemoryProviders.Auto"/>.</summary>
public sealed class MemoryProviderOptions
{
    /// <summary>The CUDA device ordinal to try first. Default 0.</summary>
    public int CudaDevice { get; init; }

    /// <summary>The dma-heap to try. Default "system".</summary>
    public string DmaHeap { get; init; } = DmaHeapMemory.SystemHeap;

    /// <summary>Where the choice and the reasons are logged (Information level). Default: nowhere.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>A name for the memfd of udmabuf and host memory (seen in /proc/PID/fd). Default "devmem".</summary>
    public string MemfdName { get; init; } = "devmem";

    /// <summary>
    /// Bytes (a power of two) that every scatterlist entry of the dma-buf must be aligned to: bind-rx's
    /// rx-page-size, which net/core/devmem.c checks each entry against ("not aligned to niov size"). 0 or up
    /// to the page size: no requirement. Above it, udmabuf comes from 2 MiB huge pages
    /// (<see cref="UdmabufMemory.CreateAligned(long, long, string)"/>, up to 2 MiB), and dma-heap, whose
    /// entries are not aligned beyond the page size, is skipped. CUDA memory is not checked here: the
    /// kernel checks it at bind-rx. Default 0.
    /// </summary>
    public long Alignment { get; init; }
}

/// <summary>
/// Picks a dma-buf provider: CUDA → udmabuf → dma-heap. The first that succeeds is chosen; why each was
/// skipped is logged and returned in <see cref="ProviderSelection.Candidates"/>.
/// </summary>
/// <remarks>
/// Host memory is never chosen here: it is not a dma-buf. Whether to receive by copy when no provider
/// works is the one fallback switch, <see cref="Setup.DevmemRxSetupOptions.Fallback"/>:
/// <see cref="Setup.DevmemRxSetup.Apply(long, Setup.DevmemRxSetupOptions, ILogger?)"/> selects here and
/// takes <see cref="HostMemory"/> itself when it may fall back. Make host memory explicitly with
/// <see cref="HostMemory.Create"/> or <see cref="Create"/>.
/// </remarks>
public static partial class MemoryProviders
{
    /// <summary>The order providers are tried in.</summary>
    public static IReadOnlyList<MemoryProviderKind> Order { get; } =
        [MemoryProviderKind.Cuda, MemoryProviderKind.Udmabuf, MemoryProviderKind.DmaHeap];

    /// <summary>Tries each provider in <see cref="Order"/>; never throws for an environment failure (the candidates say what failed).</summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="options">Options; null for the defaults.</param>
    public static ProviderSelection Select(long size, MemoryProviderOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        options ??= new MemoryProviderOptions();
        ILogger log = options.Logger ?? NullLogger.Instance;
        var candidates = new List<ProviderCandidate>(Order.Count);
        DeviceMemory? chosen = null;
        foreach (MemoryProviderKind kind in Order)
        {
            if (chosen is not null)
            {
                candidates.Add(new(kind, ProviderOutcome.NotTried, $"not tried: {chosen.Kind} was chosen"));
                continue;
            }
            try
            {
                chosen = Create(kind, size, options);
                string why = $"chosen: {chosen}";
                candidates.Add(new(kind, ProviderOutcome.Chosen, why));
                LogChosen(log, kind, size, chosen.ExporterName ?? "none (not a dma-buf)");
            }
            catch (DmabufException e)
            {
                candidates.Add(new(kind, ProviderOutcome.Skipped, e.Message));
                LogSkipped(log, kind, e.Message);
            }
        }
        return new ProviderSelection(chosen, candidates);
    }

    /// <summary>Like <see cref="Select"/>, but returns the memory or throws when no provider worked.</summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="options">Options; null for the defaults.</param>
    /// <exception cref="DmabufException">No provider worked; the message lists each one's reason.</exception>
    public static DeviceMemory Auto(long size, MemoryProviderOptions? options = null)
    {
        ProviderSelection s = Select(size, options);
        return s.Memory ?? throw DmabufException.Refused("auto memory provider",
            "no provider could make " + UdmabufMemory.FormatBytes(size) + ":\n" + s.Describe(),
            "use a kernel with CONFIG_UDMABUF or CONFIG_DMABUF_HEAPS_SYSTEM, or an NVIDIA GPU; or receive by copy: DevmemRxSetup.Apply(size, options) with Fallback = DevmemFallback.Copy");
    }

    /// <summary>Makes memory of one provider (what <c>--provider udmabuf</c> asks for), without trying others.</summary>
    /// <param name="kind">Cuda, Udmabuf, DmaHeap or HostMemory.</param>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="options">Options (CUDA device, heap, memfd name); null for the defaults.</param>
    /// <returns>The memory.</returns>
    /// <exception cref="DmabufException">The provider is not available here; the message says why.</exception>
    public static DeviceMemory Create(MemoryProviderKind kind, long size, MemoryProviderOptions? options) => kind switch
    {
        MemoryProviderKind.Cuda => CudaMemory.Allocate(size, (options ??= new()).CudaDevice),
        MemoryProviderKind.Udmabuf => UdmabufMemory.CreateAligned(size, (options ??= new()).Alignment, options.MemfdName),
        MemoryProviderKind.DmaHeap => (options ??= new()).Alignment > Environment.SystemPageSize
            ? throw DmabufException.Refused("dma-heap",
                $"a dma-heap buffer's entries are not aligned beyond the page size, and {options.Alignment} bytes (the rx-page-size) were asked for",
                "use udmabuf (from 2 MiB huge pages) for an rx-page-size above the page size")
            : DmaHeapMemory.Allocate(size, options.DmaHeap),
        MemoryProviderKind.HostMemory => HostMemory.Create(size, (options ??= new()).MemfdName),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a provider auto selection tries"),
    };

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "memory provider {Kind} chosen for {Size} bytes (exporter {Exporter})")]
    private static partial void LogChosen(ILogger logger, MemoryProviderKind kind, long size, string exporter);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "memory provider {Kind} skipped: {Reason}")]
    private static partial void LogSkipped(ILogger logger, MemoryProviderKind kind, string reason);
}
