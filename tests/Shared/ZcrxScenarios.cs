using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Validation;
using Devmem.Zcrx;
using Xunit;

namespace Devmem.TestSupport;

/// <summary>zcrx runs shared by the host tests (where the kernel can) and the guest tests.</summary>
internal static class ZcrxScenarios
{
    /// <summary>
    /// Streams <paramref name="total"/> bytes of the ncdevmem pattern over each of <paramref name="connections"/>
    /// loopback connections, all received through <paramref name="zcrx"/> at once and validated; checks that
    /// every buffer went back through the refill ring and nothing is held.
    /// </summary>
    public static async Task StreamAndValidate(ZcrxInstance zcrx, long total, int connections)
    {
        long returnedBefore = zcrx.BuffersReturned;
        var runs = new List<Task<(DevmemStreamResult Result, long Outstanding)>>();
        var senders = new List<Task>();
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < connections; i++)
            {
                var (client, server) = Loopback.Connect();
                sockets.Add(client);
                sockets.Add(server);
                int period = 13 + i;
                senders.Add(Task.Run(() =>
                {
                    new NcdevmemPattern(period).Send(client, total);
                    client.Shutdown(SocketShutdown.Send);
                }));
                DevmemSocket ds = zcrx.Wrap(server);
                runs.Add(Task.Run(() =>
                {
                    using (ds)
                    {
                        DevmemStreamResult r = new DevmemStreamReceiver(ds, zcrx.Memory, new DevmemStreamOptions
                        {
                            Validation = new NcdevmemPattern(period),
                            Segments = 64,
                        }).Run();
                        return (r, ds.OutstandingTokens);
                    }
                }));
            }

            await Task.WhenAll(senders).WaitAsync(TimeSpan.FromMinutes(5));
            var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromMinutes(5));
            long fragments = 0;
            foreach (var (r, outstanding) in results)
            {
                Assert.Equal(DevmemStreamEnd.EndOfStream, r.End);
                Assert.Equal(total, r.DmabufBytes);
                Assert.Equal(0, r.ValidationErrors);
                Assert.Equal(0, outstanding);
                fragments += r.Fragments;
            }

            Assert.Equal(fragments, zcrx.BuffersReturned - returnedBefore);
        }
        finally
        {
            foreach (Socket s in sockets)
            {
                s.Dispose();
            }
        }
    }
}
