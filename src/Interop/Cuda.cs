using System.Runtime.InteropServices;

namespace Devmem.Interop;

// The NVIDIA CUDA driver API (cuda.h, libcuda.so.1), reached at run time only: the library is opened with
// NativeLibrary.TryLoad and its exports become unmanaged function pointers, so nothing here needs CUDA at
// build time and a machine without the driver loads this assembly fine. Only what the CUDA memory
// provider uses is declared. Names, values and signatures are cuda.h's (CUDA 11.7+ for the dma-buf
// parts), checked against NVIDIA's driver API reference ("Data types used by CUDA driver",
// cuMemGetHandleForAddressRange, CUmemRangeFlags) and cuda.h copies seen in public code. cuda.h maps
// several public names to versioned exports with #define (cuMemAlloc → cuMemAlloc_v2, cuMemFree →
// cuMemFree_v2, cuMemcpyHtoD → cuMemcpyHtoD_v2, cuMemcpyDtoH → cuMemcpyDtoH_v2,
// cuDevicePrimaryCtxRelease → cuDevicePrimaryCtxRelease_v2); the exports are what a run-time lookup
// must name. C types: CUresult and the CU*_enum types are C enums (int), CUdevice is int, CUdeviceptr is
// unsigned long long on 64-bit hosts, CUcontext is a pointer.

/// <summary>Result codes and enumerators of <c>cuda.h</c> that the CUDA memory provider uses.</summary>
[ManagedOnly("cuda.h values of the NVIDIA CUDA driver API: no kernel or libc header declares them, so the ABI test cannot compile them; checked by hand against NVIDIA's reference (see the file comment)")]
internal static class cuda_h
{
    /// <summary><c>CUresult</c>: success.</summary>
    public const int CUDA_SUCCESS = 0;
    /// <summary><c>CUresult</c>: a parameter is not acceptable (also: a flag this driver does not know).</summary>
    public const int CUDA_ERROR_INVALID_VALUE = 1;
    /// <summary><c>CUresult</c>: cuInit has not been called.</summary>
    public const int CUDA_ERROR_NOT_INITIALIZED = 3;
    /// <summary><c>CUresult</c>: no CUDA-capable device (or the kernel module is not loaded).</summary>
    public const int CUDA_ERROR_NO_DEVICE = 100;
    /// <summary><c>CUresult</c>: the operation is not supported on this device or platform.</summary>
    public const int CUDA_ERROR_NOT_SUPPORTED = 801;

    /// <summary><c>CUdevice_attribute</c>: 1 if the device can export memory as a dma-buf (CUDA 11.7+).</summary>
    public const int CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED = 124;

    /// <summary><c>CUmemRangeHandleType</c>: cuMemGetHandleForAddressRange returns a dma-buf fd (an int).</summary>
    public const int CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD = 0x1;

    /// <summary>
    /// <c>CUmemRangeFlags</c>: map the dma-buf through the PCIe BAR1 aperture (what a NIC needs for peer
    /// DMA). Older drivers do not know the flag and answer CUDA_ERROR_INVALID_VALUE; then pass 0.
    /// </summary>
    public const ulong CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE = 0x1;
}

/// <summary>
/// The libcuda exports the CUDA memory provider calls, as unmanaged function pointers resolved from an
/// already loaded library handle. Each pointer has the C signature given in its documentation.
/// </summary>
/// <remarks>
/// The library is never unloaded: the driver starts threads and registers handlers that outlive any
/// managed owner, so a <see cref="LibCuda"/> is valid for the rest of the process.
/// </remarks>
[ManagedOnly("function pointers into libcuda.so.1, resolved at run time; the values are in cuda_h")]
internal sealed unsafe class LibCuda
{
    /// <summary>The soname of the driver library (installed by the NVIDIA driver, not by the CUDA toolkit).</summary>
    public const string SoName = "libcuda.so.1";

    /// <summary><c>CUresult cuInit(unsigned int Flags)</c>; Flags must be 0.</summary>
    public readonly delegate* unmanaged<uint, int> cuInit;
    /// <summary><c>CUresult cuDriverGetVersion(int *driverVersion)</c>: 1000 × major + 10 × minor.</summary>
    public readonly delegate* unmanaged<int*, int> cuDriverGetVersion;
    /// <summary><c>CUresult cuGetErrorName(CUresult error, const char **pStr)</c>.</summary>
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorName;
    /// <summary><c>CUresult cuDeviceGetCount(int *count)</c>.</summary>
    public readonly delegate* unmanaged<int*, int> cuDeviceGetCount;
    /// <summary><c>CUresult cuDeviceGet(CUdevice *device, int ordinal)</c>.</summary>
    public readonly delegate* unmanaged<int*, int, int> cuDeviceGet;
    /// <summary><c>CUresult cuDeviceGetName(char *name, int len, CUdevice dev)</c>.</summary>
    public readonly delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;
    /// <summary><c>CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)</c>.</summary>
    public readonly delegate* unmanaged<int*, int, int, int> cuDeviceGetAttribute;
    /// <summary><c>CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)</c>.</summary>
    public readonly delegate* unmanaged<nint*, int, int> cuDevicePrimaryCtxRetain;
    /// <summary><c>CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)</c> (cuda.h: cuDevicePrimaryCtxRelease).</summary>
    public readonly delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease_v2;
    /// <summary><c>CUresult cuCtxSetCurrent(CUcontext ctx)</c>.</summary>
    public readonly delegate* unmanaged<nint, int> cuCtxSetCurrent;
    /// <summary><c>CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)</c> (cuda.h: cuMemAlloc).</summary>
    public readonly delegate* unmanaged<ulong*, nuint, int> cuMemAlloc_v2;
    /// <summary><c>CUresult cuMemFree_v2(CUdeviceptr dptr)</c> (cuda.h: cuMemFree).</summary>
    public readonly delegate* unmanaged<ulong, int> cuMemFree_v2;
    /// <summary><c>CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)</c> (cuda.h: cuMemcpyHtoD).</summary>
    public readonly delegate* unmanaged<ulong, void*, nuint, int> cuMemcpyHtoD_v2;
    /// <summary><c>CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)</c> (cuda.h: cuMemcpyDtoH).</summary>
    public readonly delegate* unmanaged<void*, ulong, nuint, int> cuMemcpyDtoH_v2;
    /// <summary>
    /// <c>CUresult cuMemGetHandleForAddressRange(void *handle, CUdeviceptr dptr, size_t size,
    /// CUmemRangeHandleType handleType, unsigned long long flags)</c> (CUDA 11.7+): with
    /// CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, <c>handle</c> points to an int that receives the dma-buf fd.
    /// dptr and size must be aligned to the host page size.
    /// </summary>
    public readonly delegate* unmanaged<void*, ulong, nuint, int, ulong, int> cuMemGetHandleForAddressRange;

    private LibCuda(nint library)
    {
        cuInit = (delegate* unmanaged<uint, int>)NativeLibrary.GetExport(library, nameof(cuInit));
        cuDriverGetVersion = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(library, nameof(cuDriverGetVersion));
        cuGetErrorName = (delegate* unmanaged<int, byte**, int>)NativeLibrary.GetExport(library, nameof(cuGetErrorName));
        cuDeviceGetCount = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(library, nameof(cuDeviceGetCount));
        cuDeviceGet = (delegate* unmanaged<int*, int, int>)NativeLibrary.GetExport(library, nameof(cuDeviceGet));
        cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)NativeLibrary.GetExport(library, nameof(cuDeviceGetName));
        cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)NativeLibrary.GetExport(library, nameof(cuDeviceGetAttribute));
        cuDevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)NativeLibrary.GetExport(library, nameof(cuDevicePrimaryCtxRetain));
        cuDevicePrimaryCtxRelease_v2 = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(library, nameof(cuDevicePrimaryCtxRelease_v2));
        cuCtxSetCurrent = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(library, nameof(cuCtxSetCurrent));
        cuMemAlloc_v2 = (delegate* unmanaged<ulong*, nuint, int>)NativeLibrary.GetExport(library, nameof(cuMemAlloc_v2));
        cuMemFree_v2 = (delegate* unmanaged<ulong, int>)NativeLibrary.GetExport(library, nameof(cuMemFree_v2));
        cuMemcpyHtoD_v2 = (delegate* unmanaged<ulong, void*, nuint, int>)NativeLibrary.GetExport(library, nameof(cuMemcpyHtoD_v2));
        cuMemcpyDtoH_v2 = (delegate* unmanaged<void*, ulong, nuint, int>)NativeLibrary.GetExport(library, nameof(cuMemcpyDtoH_v2));
        cuMemGetHandleForAddressRange = (delegate* unmanaged<void*, ulong, nuint, int, ulong, int>)NativeLibrary.GetExport(library, nameof(cuMemGetHandleForAddressRange));
    }

    /// <summary>The exports this type resolves, in the order it resolves them.</summary>
    public static IReadOnlyList<string> ExportNames { get; } =
    [
        "cuInit", "cuDriverGetVersion", "cuGetErrorName", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
        "cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent",
        "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2", "cuMemGetHandleForAddressRange",
    ];

    /// <summary>
    /// Resolves every export from <paramref name="library"/> (a handle from <see cref="NativeLibrary.TryLoad(string, out nint)"/>).
    /// Returns null and the first missing export's name when the library lacks one (a driver older than
    /// CUDA 11.7 has no cuMemGetHandleForAddressRange).
    /// </summary>
    public static LibCuda? TryResolve(nint library, out string? missingExport)
    {
        foreach (string name in ExportNames)
        {
            if (!NativeLibrary.TryGetExport(library, name, out _))
            {
                missingExport = name;
                return null;
            }
        }
        missingExport = null;
        return new LibCuda(library);
    }
}
