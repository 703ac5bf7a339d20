// cuda-check: allocates GPU memory, exports it as a dma-buf through the CUDA memory provider and prints
// what the kernel says about that dma-buf (exporter name and size from /proc/self/fdinfo, inode), then
// round-trips a pattern through the GPU with cuMemcpyHtoD/DtoH. Published with NativeAOT so that it runs
// on a GPU machine without a .NET install. See docs/hardware.md.

using System.Globalization;
using Devmem.Memory;

namespace Devmem.Cli;

internal static class Program
{
    private const string Usage = """
        Usage: cuda-check [--size BYTES] [--device N]

        Exports CUDA memory as a dma-buf (cuMemGetHandleForAddressRange) and prints the kernel's view of it.
          --size BYTES  bytes to allocate (default 2097152; rounded up to a page)
          --device N    CUDA device ordinal (default 0)
        Exit status: 0 exported and verified; 1 a step failed; 2 usage; 3 no usable CUDA here.
        """;

    private static int Main(string[] args)
    {
        long size = 2 << 20;
        int device = 0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--size" when i + 1 < args.Length && long.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out size) && size > 0:
                    i++;
                    break;
                case "--device" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out device):
                    i++;
                    break;
                case "--help" or "-h":
                    Console.Out.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"cuda-check: unknown or incomplete argument '{args[i]}'\n{Usage}");
                    return 2;
            }
        }

        Console.WriteLine($"kernel: {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");
        CudaAvailability cuda = CudaDriver.Probe();
        Console.WriteLine($"cuda: {cuda.Reason}");
        if (!cuda.IsAvailable)
        {
            return 3;
        }
        try
        {
            using CudaMemory mem = CudaMemory.Allocate(size, device);
            FdInfo info = FdInfo.Read(mem.DmabufHandle);
            Console.WriteLine($"device: {mem.Device} ({mem.DeviceName})");
            Console.WriteLine($"dma-buf fd: {mem.DmabufHandle.DangerousGetFd()}, exporter: {info.ExporterName}, size: {info.Size}, inode: {mem.Inode}, pcie-mapping-flag: {(mem.PcieMapping ? "accepted" : "not known to this driver (flags 0)")}");

            byte[] pattern = new byte[Math.Min(mem.Size, 1 << 20)];
            for (int i = 0; i < pattern.Length; i++)
            {
                pattern[i] = (byte)(i * 31 + 7);
            }
            mem.CopyFrom(0, pattern);
            byte[] back = new byte[pattern.Length];
            mem.CopyTo(0, back);
            bool same = pattern.AsSpan().SequenceEqual(back);
            Console.WriteLine($"copy round trip through the GPU ({pattern.Length} bytes): {(same ? "ok" : "MISMATCH")}");

            // Whether the exporter lets the CPU mmap its dma-bufs (informational: NICs do not need it).
            using (ImportedDmabufMemory view = ImportedDmabufMemory.Import(mem.DmabufHandle, DmabufOwnership.Duplicate))
            {
                Console.WriteLine($"cpu mmap of the dma-buf: {view.MappingError ?? "works"}");
            }
            if (info.ExporterName is null || info.Size is null || !same)
            {
                Console.Error.WriteLine("cuda-check: the dma-buf is not what it should be (see above)");
                return 1;
            }
            Console.WriteLine("cuda-check: ok");
            return 0;
        }
        catch (DmabufException e)
        {
            Console.Error.WriteLine($"cuda-check: {e.Message}");
            return 1;
        }
    }
}
