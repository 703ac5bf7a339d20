using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Tests.Memory;

// The run-time binding to libcuda, exercised with a library that is certainly present (glibc) and
// certainly not CUDA: resolution must stop at the first missing export and say which.
[Tier(Tier.Pure)]
public class LibCudaTests
{
    [Fact]
    public void Resolving_against_a_library_without_the_exports_names_the_first_missing_one()
    {
        Assert.True(NativeLibrary.TryLoad("libc.so.6", out nint libc));
        try
        {
            LibCuda? lib = LibCuda.TryResolve(libc, out string? missing);
            Assert.Null(lib);
            Assert.Equal("cuInit", missing);
        }
        finally
        {
            NativeLibrary.Free(libc);
        }
    }

    [Fact]
    public void The_export_list_uses_the_versioned_names_cuda_h_maps_to()
    {
        // cuda.h: #define cuMemAlloc cuMemAlloc_v2 (and the others): a run-time lookup must use the _v2 names.
        Assert.Contains("cuMemAlloc_v2", LibCuda.ExportNames);
        Assert.Contains("cuMemFree_v2", LibCuda.ExportNames);
        Assert.Contains("cuMemcpyHtoD_v2", LibCuda.ExportNames);
        Assert.Contains("cuMemcpyDtoH_v2", LibCuda.ExportNames);
        Assert.Contains("cuDevicePrimaryCtxRelease_v2", LibCuda.ExportNames);
        Assert.DoesNotContain("cuMemAlloc", LibCuda.ExportNames);
        Assert.Equal(15, LibCuda.ExportNames.Distinct().Count());
    }
}
