using Devmem.Interop;

namespace Devmem.Tests.Interop;

[Tier(Tier.Pure)]
public class ErrnoTests
{
    [Fact]
    public void Each_value_has_one_name()
    {
        Errno[] values = Enum.GetValues<Errno>();
        Assert.Equal(values.Length, values.Distinct().Count());
        Assert.Equal("EOPNOTSUPP", Errno.EOPNOTSUPP.Name());
        Assert.Equal("EAGAIN", ((Errno)11).Name());
        Assert.Equal("errno 9999", ((Errno)9999).Name());
    }

    [Fact]
    public void Descriptions_carry_name_number_and_message()
    {
        // libc's message for a uapi errno.
        Assert.Equal("EINVAL (22): Invalid argument", Errno.EINVAL.Describe());
        // Kernel-internal values, which glibc would call "Unknown error 525", get their kernel meaning.
        Assert.StartsWith("ETOOSMALL (525): Buffer size is too small", Errno.ETOOSMALL.Describe(), StringComparison.Ordinal);
        Assert.StartsWith("ENOTSUPP (524)", Errno.ENOTSUPP.Describe(), StringComparison.Ordinal);
        Assert.Contains("not captured", Errno.None.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_SysResult_prints_its_errno_or_its_value()
    {
        Assert.Equal("EBADF (9): Bad file descriptor", SysResult.Error(Errno.EBADF).ToString());
        Assert.Equal("3", SysResult.Ok(3).ToString());
        Assert.False(SysResult.Ok(0).IsError);
        Assert.True(SysResult.Error(Errno.EINTR).IsError);
    }
}
