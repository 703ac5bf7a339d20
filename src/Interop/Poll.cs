namespace Devmem.Interop;

/// <summary>poll(2) events that are the same on every architecture (<c>&lt;poll.h&gt;</c>, kernel asm-generic/poll.h).</summary>
[UapiHeader("poll.h")]
internal static class sys_poll
{
    public const short POLLIN = 0x1;
    public const short POLLPRI = 0x2;
    public const short POLLOUT = 0x4;
    /// <summary>Error pending; for a zerocopy sender, a completion is waiting on the error queue.</summary>
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;
}

/// <summary><c>struct pollfd</c> (<c>&lt;poll.h&gt;</c>).</summary>
[UapiHeader("poll.h")]
internal struct pollfd
{
    public int fd;
    public short events;
    public short revents;
}
