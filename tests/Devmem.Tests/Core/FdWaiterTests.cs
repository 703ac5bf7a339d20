using System.Diagnostics;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Sys;

namespace Devmem.Tests.Core;

/// <summary>
/// The async poll behind DevmemTxSocket's SendAsync and completion waits, on a real loopback TCP pair:
/// it returns what poll(2) reported, and cancellation or disposal end a wait at once through the eventfd.
/// </summary>
[Tier(Tier.HostKernel)]
public sealed class FdWaiterTests
{
    [Fact]
    public async Task A_wait_returns_the_events_poll_reported_once_they_happen()
    {
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        using (var waiter = new FdWaiter())
        {
            ValueTask<short> wait = waiter.WaitAsync(server.SafeHandle, sys_poll.POLLIN, TestContext.Current.CancellationToken);
            await Task.Delay(100, TestContext.Current.CancellationToken);
            Assert.False(wait.IsCompleted, "the wait ended before the peer wrote anything");
            client.Send([42]);
            short revents = await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.Equal(sys_poll.POLLIN, (short)(revents & sys_poll.POLLIN));

            // A writable socket is reported at once.
            revents = await waiter.WaitAsync(client.SafeHandle, sys_poll.POLLOUT, TestContext.Current.CancellationToken);
            Assert.Equal(sys_poll.POLLOUT, (short)(revents & sys_poll.POLLOUT));
        }
    }

    [Fact]
    public async Task Cancellation_ends_a_wait_at_once_and_the_next_wait_still_waits()
    {
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        using (var waiter = new FdWaiter())
        {
            using var cts = new CancellationTokenSource();
            ValueTask<short> wait = waiter.WaitAsync(server.SafeHandle, sys_poll.POLLIN, cts.Token);
            await Task.Delay(100, TestContext.Current.CancellationToken);
            var clock = Stopwatch.StartNew();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"cancellation took {clock.Elapsed} to end the wait");

            // The wake-up left in the eventfd must not end the next wait early.
            ValueTask<short> next = waiter.WaitAsync(server.SafeHandle, sys_poll.POLLIN, TestContext.Current.CancellationToken);
            await Task.Delay(200, TestContext.Current.CancellationToken);
            Assert.False(next.IsCompleted, "a wait after a cancelled one ended without any event");
            client.Send([1]);
            short revents = await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.NotEqual(0, revents & sys_poll.POLLIN);
        }
    }

    [Fact]
    public async Task Disposing_the_waiter_ends_a_wait_with_ObjectDisposedException()
    {
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        {
            var waiter = new FdWaiter();
            ValueTask<short> wait = waiter.WaitAsync(server.SafeHandle, sys_poll.POLLIN, TestContext.Current.CancellationToken);
            await Task.Delay(100, TestContext.Current.CancellationToken);
            waiter.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        }
    }
}
