using System.Runtime.InteropServices;
using Devmem.Interop;
using static Devmem.Interop.cuda_h;

namespace Devmem.Memory;

/// <summary>What the CUDA driver on this machine can do for devmem: the answer of <see cref="CudaDriver.Probe"/>.</summary>
/// <param name="IsAvailable">True when libcuda loaded, initialized, and device 0.. exist.</param>
/// <param name="Reason">One line: why CUDA is not usable, or what was found.</param>
/// <param name="DriverVersion">cuDriverGetVersion (1000 × major + 10 × minor); 0 when not loaded.</param>
/// <param name="DeviceCount">cuDeviceGetCount; 0 when not available.</param>
public sealed record CudaAvailability(bool IsAvailable, string Reason, int DriverVersion, int DeviceCount);

/// <summary>
/// libcuda.so.1, loaded on first use with <see cref="NativeLibrary.TryLoad(string, out nint)"/>: no
/// build-time dependency, and a machine without the NVIDIA driver gets a clear "no CUDA" answer rather
/// than an exception at load. The library stays loaded for the life of the process.
/// </summary>
public static class CudaDriver
{
    private static readonly Lazy<(LibCuda? Lib, CudaAvailability Availability)> s_driver = new(Load);

    /// <summary>Loads and initializes the driver once, and says whether CUDA can be used and why not.</summary>
    public static CudaAvailability Probe() => s_driver.Value.Availability;

    /// <summary>
    /// Which CUDA devices can export dma-bufs (CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED), without allocating
    /// anything; when CUDA itself is unusable, the reason from <see cref="Probe"/>.
    /// </summary>
    /// <returns>The ordinals of the devices that can, and one line saying what was found.</returns>
    public static unsafe (IReadOnlyList<int> Devices, string Reason) ProbeDmabufExport()
    {
        (LibCuda? lib, CudaAvailability a) = s_driver.Value;
        if (lib is null || !a.IsAvailable)
        {
            return ([], a.Reason);
        }

        var devices = new List<int>();
        for (int ordinal = 0; ordinal < a.DeviceCount; ordinal++)
        {
            int dev, supported = 0;
            if (lib.cuDeviceGet(&dev, ordinal) == CUDA_SUCCESS &&
                lib.cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, dev) == CUDA_SUCCESS && supported != 0)
            {
                devices.Add(ordinal);
            }
        }

        return (devices, devices.Count > 0
            ? $"{a.Reason}; dma-buf export on device(s) {string.Join(", ", devices)}"
            : $"{a.Reason}; no device reports CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED (needs NVIDIA's open kernel modules, Turing or newer)");
    }

    internal static LibCuda Require()
    {
        (LibCuda? lib, CudaAvailability a) = s_driver.Value;
        if (lib is null || !a.IsAvailable)
        {
            throw DmabufException.Refused("load " + LibCuda.SoName, a.Reason, "CUDA memory needs an NVIDIA GPU with its driver (libcuda.so.1) installed");
        }
        return lib;
    }

    private static unsafe (LibCuda?, CudaAvailability) Load()
    {
        if (!NativeLibrary.TryLoad(LibCuda.SoName, out nint handle))
        {
            return (null, new CudaAvailability(false, $"no CUDA: {LibCuda.SoName} not found (no NVIDIA driver installed)", 0, 0));
        }
        LibCuda? lib = LibCuda.TryResolve(handle, out string? missing);
        if (lib is null)
        {
            return (null, new CudaAvailability(false, $"no CUDA dma-buf export: {LibCuda.SoName} lacks {missing} (driver older than CUDA 11.7)", 0, 0));
        }
        int rc = lib.cuInit(0);
        if (rc != CUDA_SUCCESS)
        {
            return (null, new CudaAvailability(false, $"no CUDA: cuInit failed with {ErrorName(lib, rc)}", 0, 0));
        }
        int version = 0, count = 0;
        rc = lib.cuDriverGetVersion(&version);
        if (rc != CUDA_SUCCESS)
        {
            return (null, new CudaAvailability(false, $"no CUDA: cuDriverGetVersion failed with {ErrorName(lib, rc)}", 0, 0));
        }
        rc = lib.cuDeviceGetCount(&count);
        if (rc != CUDA_SUCCESS || count == 0)
        {
            return (null, new CudaAvailability(false, $"no CUDA device: cuDeviceGetCount gave {(rc == CUDA_SUCCESS ? "0 devices" : ErrorName(lib, rc))}", version, 0));
        }
        return (lib, new CudaAvailability(true, $"CUDA driver {version / 1000}.{version % 1000 / 10}, {count} device(s)", version, count));
    }

    /// <summary>The CUresult's name (cuGetErrorName), e.g. "CUDA_ERROR_INVALID_VALUE (1)".</summary>
    internal static unsafe string ErrorName(LibCuda lib, int result)
    {
        byte* name = null;
        string text = lib.cuGetErrorName(result, &name) == CUDA_SUCCESS && name is not null
            ? Marshal.PtrToStringUTF8((nint)name) ?? "CUDA error"
            : "CUDA error";
        return $"{text} ({result})";
    }

    internal static void Check(LibCuda lib, int result, string step, string? hint = null)
    {
        if (result != CUDA_SUCCESS)
        {
            throw DmabufException.Refused(step, $"the CUDA driver answered {ErrorName(lib, result)}", hint);
        }
    }
}
