using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Netlink.Ethtool;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.TestSupport;
using Devmem.Transmit;

namespace Devmem.Netlink.Tests;

/// <summary>The fd-accounting tests run alone: another test's sockets would move the count.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdAccountingSerial
{
    /// <summary>The collection's name.</summary>
    public const string Name = "fd accounting";
}

// 1000 create/dispose cycles of each public resource type this host can make, success and failure paths,
// with the process's fd count (proc(5) /proc/self/fd) compared before and after, and every token and
// copy slot given back. The host has no dma-buf exporter (no udmabuf, no dma-heap): the dma-buf
// providers run their failure paths here, and their success paths in the guests
// (tests/Devmem.Guest.Tests/MemoryProviderTests.cs counts their fds by inode).
[Collection(FdAccountingSerial.Name)]
[Tier(Tier.HostKernel)]
public sealed class ResourceAccountingTests
{
    private const int Cycles = 1000;

    private static int FdCount() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    // Warm up (lazy runtime fds: epoll, the signal pipe), then count around the cycles. A leak of one fd
    // per cycle shows as +1000; the runtime may open or close a handful on its own, never hundreds.
    private static void AssertFlat(string what, Action cycle)
    {
        for (int i = 0; i < 20; i++)
        {
            cycle();
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        int before = FdCount();
        for (int i = 0; i < Cycles; i++)
        {
            cycle();
        }

        // No finalizer may be what closes them: count before collecting.
        int after = FdCount();
        TestContext.Current.SendDiagnosticMessage($"{what}: {before} fds before {Cycles} cycles, {after} after");
        Assert.True(after - before <= 2, $"{what}: {after - before} more fds after {Cycles} cycles ({before} -> {after})");
    }

    [Fact]
    public void Netlink_sockets_and_clients()
    {
        AssertFlat("GenericNetlinkSocket", () => GenericNetlinkSocket.Open().Dispose());
        AssertFlat("NetdevClient", () =>
        {
            using NetdevClient c = NetdevClient.Open();
            c.GetQueue(1, NetdevQueueType.Rx, 0);
        });
        AssertFlat("EthtoolClient", () =>
        {
            using EthtoolClient c = EthtoolClient.Open();
            c.GetInterfaceIndex("lo");
        });
        AssertFlat("EthtoolClient, ENODEV", () =>
        {
            using EthtoolClient c = EthtoolClient.Open();
            Assert.Throws<EthtoolIoctlException>(() => c.GetInterfaceIndex("nope0"));
        });
    }

    [Fact]
    public void Memory_providers_and_their_failure_paths()
    {
        AssertFlat("HostMemory", () =>
        {
            using HostMemory m = HostMemory.Create(1 << 20, "acct-host");
            m.GetSpan(0, 4096).Fill(1);
        });
        AssertFlat("MemoryProviders.Select", () => MemoryProviders.Select(1 << 20).Memory?.Dispose());
        AssertFlat("ImportedDmabufMemory of a memfd (refused, Duplicate)", () =>
        {
            using HostMemory m = HostMemory.Create(4096, "acct-import");
            Assert.Throws<DmabufException>(() => ImportedDmabufMemory.Import(m.Memfd!, DmabufOwnership.Duplicate));
        });
        AssertFlat("ImportedDmabufMemory of a file (refused, Take)", () =>
        {
            var f = File.OpenHandle("/dev/null");
            Assert.Throws<DmabufException>(() => ImportedDmabufMemory.Import(f, DmabufOwnership.Take));
            Assert.True(f.IsClosed);
        });
        if (!File.Exists(UdmabufMemory.DevicePath))
        {
            AssertFlat("UdmabufMemory (no /dev/udmabuf)", () => Assert.Throws<DmabufException>(() => UdmabufMemory.Create(1 << 20, "acct-udmabuf")));
        }

        if (!Directory.Exists(DmaHeapMemory.HeapDirectory))
        {
            AssertFlat("DmaHeapMemory (no dma-heaps)", () => Assert.Throws<DmabufException>(() => DmaHeapMemory.Allocate(1 << 20)));
        }
    }

    [Fact]
    public void Copy_fallback_sockets_give_back_every_slot_and_token()
    {
        long tokens = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == DevmemMetrics.MeterName && i.Name == "devmem.rx.tokens_outstanding")
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref tokens, v));
        listener.Start();

        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        using (HostMemory memory = HostMemory.Create(1 << 20, "acct-copy"))
        {
            var frags = new DevmemFragment[16];
            var payload = new byte[5000];
            AssertFlat("DevmemSocket (copy fallback), receive and release", () =>
            {
                using DevmemSocket ds = DevmemSocket.CreateCopyFallback(server, memory, "accounting");
                client.Send(payload);
                int got = 0;
                while (got < payload.Length)
                {
                    DevmemReceiveResult r = ds.Receive(frags, new byte[1]);
                    got += (int)r.DmabufBytes;
                    ds.Release(frags.AsSpan(0, r.Fragments));
                }

                Assert.Equal(0, ds.OutstandingTokens);
            });
            AssertFlat("DevmemSocket (copy fallback), disposed holding fragments", () =>
            {
                var ds = DevmemSocket.CreateCopyFallback(server, memory, "accounting");
                client.Send(payload);
                int got = 0;
                while (got < payload.Length)
                {
                    got += (int)ds.Receive(frags, new byte[1]).DmabufBytes;
                }

                ds.Dispose();
            });

            using DevmemSocket last = DevmemSocket.CreateCopyFallback(server, memory, "accounting");
            Assert.Equal(16, last.CopySlotsFree);
        }

        Assert.Equal(0, Interlocked.Read(ref tokens));
    }

    [Fact]
    public void Zero_copy_sockets_on_an_unsteered_flow()
    {
        var (client, server) = Loopback.Connect();
        using (client)
        using (server)
        {
            var payload = new byte[100];
            var linear = new byte[4096];
            AssertFlat("DevmemSocket (zero copy, unsteered)", () =>
            {
                using var ds = new DevmemSocket(server);
                client.Send(payload);
                int got = 0;
                while (got < payload.Length)
                {
                    got += ds.Receive(new DevmemFragment[4], linear).UnsteeredBytes;
                }

                Assert.Equal(0, ds.OutstandingTokens);
            });
        }
    }

    [Fact]
    public void Rx_setups_in_copy_fallback_and_refused()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "acct-setup");
        var options = new DevmemRxSetupOptions("lo") { Fallback = DevmemFallback.Copy, Steering = new DevmemFlowSteering(IPAddress.Loopback, 5201) };
        AssertFlat("DevmemRxSetup (copy fallback on lo)", () =>
        {
            using DevmemRxSetup s = DevmemRxSetup.Apply(memory, options);
            Assert.False(s.IsZeroCopy);
        });
        AssertFlat("DevmemRxSetup.Apply(size) (copy fallback on lo, owns its memory)", () =>
        {
            using DevmemRxSetup s = DevmemRxSetup.Apply(1 << 20, options);
            Assert.False(s.IsZeroCopy);
        });
        AssertFlat("DevmemRxSetup (refused: no such interface)", () =>
            Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("nope0") { Fallback = DevmemFallback.Copy })));
        AssertFlat("DevmemRxSetup (refused: lo, no fallback)", () =>
            Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("lo"))));
    }

    [Fact]
    public void Tx_socket_checks_and_refusals()
    {
        // DevmemTxSocket.Connect needs a dma-buf, which this host cannot make; its checks and refusals
        // run here (bind-tx on lo: EOPNOTSUPP, or no bind-tx at all before 6.16).
        AssertFlat("DevmemTxSocket.CheckInterface(lo) (refused)", () => Assert.ThrowsAny<Exception>(() => DevmemTxSocket.CheckInterface("lo")));
        using HostMemory memory = HostMemory.Create(4096, "acct-tx");
        AssertFlat("DevmemTxSocket.Connect with host memory (refused)", () =>
            Assert.Throws<ArgumentException>(() => DevmemTxSocket.Connect(memory, "lo", new IPEndPoint(IPAddress.Loopback, 9), localEndPoint: null)));
    }
}
