using System.Globalization;
using Devmem.Memory;

namespace Devmem.Cli;

/// <summary>Memory for --provider (auto: the best dma-buf provider, else host memory with --fallback copy; memfd only with --fallback copy).</summary>
internal static class Providers
{
    public static DeviceMemory Create(Options o, long size, string name)
    {
        var options = new MemoryProviderOptions
        {
            MemfdName = name,
            // -b above the page size: every dma-buf entry aligned to it (udmabuf from 2 MiB huge pages), as the kernel's ncdevmem.
            Alignment = o.RxPageSize,
            CudaDevice = o.Provider.StartsWith("cuda:", StringComparison.Ordinal) ? int.Parse(o.Provider.AsSpan(5), CultureInfo.InvariantCulture) : 0,
        };
        MemoryProviderKind? kind = o.Provider switch
        {
            "auto" => null,
            "udmabuf" => MemoryProviderKind.Udmabuf,
            "dma-heap" => MemoryProviderKind.DmaHeap,
            "memfd" => MemoryProviderKind.HostMemory,
            _ => MemoryProviderKind.Cuda,
        };
        if (kind is MemoryProviderKind.HostMemory && !o.FallbackCopy && o.Engine != "zcrx")
        {
            throw new UsageException("--provider memfd is host memory, not a dma-buf: it works only with --engine zcrx or --fallback copy");
        }

        if (kind is { } k)
        {
            return MemoryProviders.Create(k, size, options);
        }

        // --fallback copy: host memory when no dma-buf provider works; the setup then says why it copies.
        return o.FallbackCopy
            ? MemoryProviders.Select(size, options).Memory ?? HostMemory.Create(size, name)
            : MemoryProviders.Auto(size, options);
    }
}
