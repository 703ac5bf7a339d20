using System.Text;
using Devmem.Interop;
using static Devmem.Interop.cuda_h;

namespace Devmem.Memory;

/// <summary>
/// GPU memory (cuMemAlloc in the device's primary context) exported as a dma-buf with
/// cuMemGetHandleForAddressRange(CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD), asking for a PCIe BAR1 mapping
/// where the driver knows the flag. The bytes are not mapped into this process: copies go through
/// cuMemcpyHtoD/cuMemcpyDtoH.
/// </summary>
/// <remarks>
/// Needs an NVIDIA GPU whose driver reports CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED (the open kernel
/// modules; CUDA 11.7+). Not yet run on a GPU by this project: see docs/hardware.md.
/// </remarks>
public sealed unsafe class CudaMemory : DeviceMemory
{
    private readonly LibCuda _lib;
    private readonly nint _context;
    private readonly ulong _allocation;
    private readonly ulong _exported;
    private bool _released;

    private CudaMemory(LibCuda lib, int device, string deviceName, nint context, ulong allocation, ulong exported, long size, SafeDmabufHandle dmabuf, string exporter, ulong inode, bool pcieMapping)
        : base(MemoryProviderKind.Cuda, size, dmabuf, null, null, exporter, inode)
    {
        _lib = lib;
        Device = device;
        DeviceName = deviceName;
        _context = context;
        _allocation = allocation;
        _exported = exported;
        PcieMapping = pcieMapping;
    }

    /// <summary>The CUDA device ordinal.</summary>
    public int Device { get; }

    /// <summary>The device's name (cuDeviceGetName).</summary>
    public string DeviceName { get; }

    /// <summary>True when the driver accepted CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE; false when it needed flags 0.</summary>
    public bool PcieMapping { get; }

    /// <summary>The device address of the exported range (CUdeviceptr).</summary>
    public ulong DevicePointer => _exported;

    private protected override string? NoMappingReason => "GPU memory is not mapped into the process";

    /// <summary>Allocates <paramref name="size"/> bytes (rounded up to a page) on a GPU and exports them as a dma-buf.</summary>
    /// <param name="size">Bytes, at least 1.</param>
    /// <param name="device">CUDA device ordinal.</param>
    /// <exception cref="DmabufException">No CUDA, no such device, no dma-buf support, or a driver error.</exception>
    public static CudaMemory Allocate(long size, int device = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        LibCuda lib = CudaDriver.Require();
        long rounded = Native.RoundUpToPage(size);

        int dev;
        CudaDriver.Check(lib, lib.cuDeviceGet(&dev, device), $"cuDeviceGet({device})", $"CUDA has {CudaDriver.Probe().DeviceCount} device(s)");
        byte* nameBuffer = stackalloc byte[256];
        string name = lib.cuDeviceGetName(nameBuffer, 256, dev) == CUDA_SUCCESS
            ? Encoding.UTF8.GetString(nameBuffer, new ReadOnlySpan<byte>(nameBuffer, 256).IndexOf((byte)0) is int n and >= 0 ? n : 256)
            : "unknown";
        int supported = 0;
        CudaDriver.Check(lib, lib.cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, dev), "cuDeviceGetAttribute(DMA_BUF_SUPPORTED)");
        if (supported == 0)
        {
            throw DmabufException.Refused("cuDeviceGetAttribute(CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED)",
                $"device {device} ({name}) cannot export dma-bufs",
                "dma-buf export needs NVIDIA's open GPU kernel modules and a supported GPU (Turing or newer)");
        }

        nint context;
        CudaDriver.Check(lib, lib.cuDevicePrimaryCtxRetain(&context, dev), "cuDevicePrimaryCtxRetain");
        ulong allocation = 0;
        var dmabuf = new SafeDmabufHandle();
        try
        {
            CudaDriver.Check(lib, lib.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            // cuMemGetHandleForAddressRange wants dptr and size aligned to the host page size; cuMemAlloc
            // guarantees less (256 bytes), so allocate a page more and export from the first aligned address.
            CudaDriver.Check(lib, lib.cuMemAlloc_v2(&allocation, (nuint)(rounded + Native.PageSize)), $"cuMemAlloc({rounded + Native.PageSize})", "not enough GPU memory");
            ulong aligned = (allocation + (ulong)Native.PageSize - 1) / (ulong)Native.PageSize * (ulong)Native.PageSize;

            int fd = -1;
            bool pcie = true;
            int rc = lib.cuMemGetHandleForAddressRange(&fd, aligned, (nuint)rounded, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE);
            if (rc == CUDA_ERROR_INVALID_VALUE)
            {
                // Drivers before the PCIe mapping flag reject it as an invalid value: retry with flags 0.
                pcie = false;
                rc = lib.cuMemGetHandleForAddressRange(&fd, aligned, (nuint)rounded, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
            }
            CudaDriver.Check(lib, rc, "cuMemGetHandleForAddressRange(DMA_BUF_FD)",
                rc == CUDA_ERROR_NOT_SUPPORTED ? "the driver cannot export this memory as a dma-buf (open kernel modules needed)" : null);
            dmabuf.Own(fd);

            FdInfo info = FdInfo.Read(dmabuf);
            return new CudaMemory(lib, device, name, context, allocation, aligned, info.Size ?? rounded, dmabuf,
                info.ExporterName ?? "(none)", Native.Inode(dmabuf), pcie);
        }
        catch
        {
            dmabuf.Dispose();
            if (allocation != 0)
            {
                _ = lib.cuMemFree_v2(allocation);
            }
            _ = lib.cuDevicePrimaryCtxRelease_v2(dev);
            throw;
        }
    }

    private protected override void DeviceCopyFrom(long offset, ReadOnlySpan<byte> source)
    {
        MakeCurrent();
        fixed (byte* p = source)
        {
            CudaDriver.Check(_lib, _lib.cuMemcpyHtoD_v2(_exported + (ulong)offset, p, (nuint)source.Length), "cuMemcpyHtoD");
        }
    }

    private protected override void DeviceCopyTo(long offset, Span<byte> destination)
    {
        MakeCurrent();
        fixed (byte* p = destination)
        {
            CudaDriver.Check(_lib, _lib.cuMemcpyDtoH_v2(p, _exported + (ulong)offset, (nuint)destination.Length), "cuMemcpyDtoH");
        }
    }

    private void MakeCurrent() =>
        // The CUDA current context is per thread; the caller's thread may never have had one.
        CudaDriver.Check(_lib, _lib.cuCtxSetCurrent(_context), "cuCtxSetCurrent");

    private protected override void ReleaseProviderState(bool disposing)
    {
        // After the dma-buf fd is closed (base class): free the allocation in its context, then drop our
        // reference on the primary context. Only Dispose gets here (DeviceMemory has no finalizer): memory
        // that is never disposed stays allocated until the process exits, when the driver frees it.
        if (_released)
        {
            return;
        }
        _released = true;
        _ = _lib.cuCtxSetCurrent(_context);
        _ = _lib.cuMemFree_v2(_allocation);
        int dev;
        if (_lib.cuDeviceGet(&dev, Device) == CUDA_SUCCESS)
        {
            _ = _lib.cuDevicePrimaryCtxRelease_v2(dev);
        }
    }
}
