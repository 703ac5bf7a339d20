using Devmem.Interop;
using static Devmem.Interop.asm_ioctl;

namespace Devmem.Tests.Interop;

// The one ioctl-number helper. Expected numbers are the values the kernel's headers give (the _IOW and
// _IOWR definitions of include/uapi/linux/udmabuf.h, dma-buf.h and dma-heap.h, encoded as
// include/uapi/asm-generic/ioctl.h does); the ABI test (tests/Devmem.Abi.Tests) checks the same
// declarations against the headers themselves.
[Tier(Tier.Pure)]
public class IoctlTests
{
    [Fact]
    public void Numbers_encode_as_in_asm_generic_ioctl_h()
    {
        Assert.Equal(0x40187542u, linux_udmabuf.UDMABUF_CREATE);
        Assert.Equal(0x40087543u, linux_udmabuf.UDMABUF_CREATE_LIST);
        Assert.Equal(0x40086200u, linux_dma_buf.DMA_BUF_IOCTL_SYNC);
        Assert.Equal(0x40086201u, linux_dma_buf.DMA_BUF_SET_NAME);
        Assert.Equal(0x40046201u, linux_dma_buf.DMA_BUF_SET_NAME_A);
        Assert.Equal(linux_dma_buf.DMA_BUF_SET_NAME, linux_dma_buf.DMA_BUF_SET_NAME_B);
        Assert.Equal(0xC0184800u, linux_dma_heap.DMA_HEAP_IOCTL_ALLOC);
    }

    [Fact]
    public void Decoding_returns_the_parts()
    {
        uint n = linux_dma_heap.DMA_HEAP_IOCTL_ALLOC;
        Assert.Equal(_IOC_READ | _IOC_WRITE, _IOC_DIR(n));
        Assert.Equal((uint)'H', _IOC_TYPE(n));
        Assert.Equal(0u, _IOC_NR(n));
        Assert.Equal(24u, _IOC_SIZE(n));
        Assert.Equal(_IOC_NONE, _IOC_DIR(_IO('x', 1)));
        Assert.Equal(_IOC_READ, _IOC_DIR(_IOR<int>('x', 1)));
    }

    [Fact]
    public void A_field_that_does_not_fit_is_refused_not_truncated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _IOC(_IOC_WRITE, 'u', 256, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _IOC(_IOC_WRITE, 'u', 0, 1u << 14));
        Assert.Throws<ArgumentOutOfRangeException>(() => _IOC(4, 'u', 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _IOC(_IOC_WRITE, '\u0100', 0, 0));
    }
}
