// iou-zcrx: a C# counterpart of the kernel selftest tools/testing/selftests/drivers/net/hw/iou-zcrx.c
// (io_uring zero-copy receive), flag for flag, so that the kernel's iou-zcrx.py can run it in place of
// the C binary. Exit status as the kernel's: 0 success, 1 failure (usage errors too), 42 skip.

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Devmem;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Zcrx;

namespace Devmem.Cli.IouZcrx;

internal static class Program
{
    private const string Name = "iou-zcrx";
    private const int SkipCode = 42;

    private const string Help = """
        Usage: iou-zcrx (-s|-c) [-h SERVER_IP] [-p PORT] [-l PAYLOAD] [-i IFNAME] [-q RXQ]
                        [-o N] [-z BYTES] [-x PAGES] [-d]
               iou-zcrx --help

        A C# iou-zcrx: io_uring zero-copy receive (zcrx) with the kernel selftest's flags, through the
        Devmem library. The server registers a zcrx instance on RX queue RXQ of IFNAME with 32 MiB of host
        memory as its area, accepts one connection on [::]:PORT, receives by RECV_ZC, checks every byte
        against the selftest's payload ('a' + i % 26) and gives each buffer back through the refill ring.
        The NIC must be set up first (header split on, hds-thresh 0, RSS away from RXQ, a flow rule to it),
        as iou-zcrx.py does. The client sends the payload to SERVER_IP:PORT.

        Options (the kernel's iou-zcrx):
          -s          server (receive)          -c        client (send)
          -h IP       the server's address (client), IPv6 or IPv4
          -p PORT     TCP port (default 8000)
          -l BYTES    client: bytes per send() (at most 2097052)
          -i IFNAME   server: the interface     -q RXQ    server: the RX queue
          -o N        server: one-page receive requests, re-armed N times
          -z BYTES    client: bytes to send (default 2097152)
          -x PAGES    server: receive buffers of PAGES pages (rx_buf_len; needs 2 MiB huge pages)
          -d          server: register the zcrx instance, then exit (a dry run)
          --help      this text

        The server fails ("test failed") when the stream has not ended within 5 seconds of listen, as the
        kernel's. Exit status: 0 success, 1 failure, 42 skip (no huge pages for -x, or the kernel or NIC
        refuses large buffers).
        """;

    private static int Main(string[] args)
    {
        CliProcess.Start(Name);
        try
        {
            return Run(args);
        }
        catch (UsageException e)
        {
            return Fail(e.Message);
        }
        catch (DevmemIOException e)
        {
            return Fail(CliProcess.OneLine(e.Message));
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(CliProcess.Unexpected(e));
            return 1;
        }
    }

    /// <summary>As the tool's error(1, 0, ...): the program's name, the message, exit status 1.</summary>
    private static int Fail(string message)
    {
        Console.Error.WriteLine($"{Name}: {message}");
        return 1;
    }

    private static int Run(string[] args)
    {
        if (args.Length == 0)
        {
            throw new UsageException($"Usage: {Name} (-4|-6) (-s|-c) -h<server_ip> -p<port> -l<payload_size> -i<ifname> -q<rxq_id>");
        }

        Options o = Options.Parse(args, Name);
        foreach (string w in o.Warnings)
        {
            Console.Error.WriteLine(w);
        }

        if (o.Help)
        {
            Console.Out.WriteLine(Help);
            return 0;
        }

        if (o.Server && o.Host is not null)
        {
            throw new UsageException("Receiver cannot have -h specified");
        }

        IPAddress address = IPAddress.IPv6Any;
        if (o.Host is not null)
        {
            address = Options.ParseAddress(o.Host) ?? throw new UsageException($"receiver address parse error: {o.Host}");
        }

        if (o.PayloadLength > Options.MaxPayloadLength)
        {
            throw new UsageException($"-l: payload exceeds max ({Options.MaxPayloadLength})");
        }

        if (o.Server)
        {
            return Server(o);
        }

        if (o.Client)
        {
            Client(o, new IPEndPoint(address, o.Port));
        }

        return 0;
    }

    /// <summary>The payload: 'a' + i % 26, as the tool fills its buffer (extended past SEND_SIZE for -z beyond it).</summary>
    private static byte[] Payload(int length)
    {
        var p = new byte[length];
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = (byte)('a' + (i % 26));
        }

        return p;
    }

    private static void Client(Options o, IPEndPoint server)
    {
        byte[] payload = Payload(Math.Max(Options.SendSize, o.SendBytes));
        using var s = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        try
        {
            s.Connect(server);
        }
        catch (SocketException e)
        {
            throw new UsageException($"connect(): {e.Message}");
        }

        int sent = 0, toSend = o.SendBytes;
        while (toSend > 0)
        {
            int chunk = Math.Min(Math.Max(o.PayloadLength, 1), toSend);
            int n;
            try
            {
                n = s.Send(payload, sent, chunk, SocketFlags.None);
            }
            catch (SocketException e)
            {
                throw new UsageException($"send(): {sent}: {e.Message}");
            }

            sent += n;
            toSend -= n;
        }
    }

    private static int Server(Options o)
    {
        if (o.Interface is null)
        {
            throw new UsageException("the server needs -i IFNAME (the interface) and -q RXQ (the RX queue)");
        }

        if (o.Queue < 0)
        {
            throw new UsageException("the server needs -q RXQ (the RX queue on which to register the zcrx instance)");
        }

        int ifindex = InterfaceIndex(o.Interface) ?? throw new UsageException($"bad interface name: {o.Interface}");
        int page = Environment.SystemPageSize;
        long area = 8192L * page;
        uint rxBufLen = checked((uint)(o.RxBufferPages * page));
        bool large = rxBufLen != 0 && rxBufLen != page;
        HostMemory memory;
        try
        {
            // As the tool's area: private anonymous memory (huge pages for larger buffers).
            memory = large ? HostMemory.CreateHugePages(area, "iou-zcrx-area") : HostMemory.CreateAnonymous(area);
        }
        catch (DmabufException) when (large)
        {
            Console.Out.WriteLine("Can't allocate huge pages");
            return SkipCode;
        }

        using (memory)
        {
            // One thread, as the tool's: this thread's blocking receives drive the ring (ZcrxDriver.ReceivingThread).
            ZcrxInstance zcrx;
            try
            {
                zcrx = ZcrxInstance.Open(memory, new ZcrxOptions(ifindex, (uint)o.Queue) { Driver = ZcrxDriver.ReceivingThread, RefillEntries = 4096, RxBufferLength = rxBufLen == 0 ? null : rxBufLen, InterfaceName = o.Interface });
            }
            catch (ZcrxException e) when (rxBufLen != 0 && e.Errno is Errno.EINVAL or Errno.EOPNOTSUPP or Errno.ERANGE)
            {
                Console.Out.WriteLine($"Large chunks are not supported {-(int)e.Errno}");
                return SkipCode;
            }

            using (zcrx)
            {
                if (o.DryRun)
                {
                    return 0;
                }

                // Everything the receive needs is made before listening, as the tool does all its setup before
                // listen: the client's clock starts then. The tool's deadline: the stream must end within 5 s
                // (its server_loop's tstop); the timer, whose thread starts when it is first set, is set here.
                var deadline = new Deadline(zcrx);
                using var timer = new Timer(static d => ((Deadline)d!).Expire(), deadline, Deadline.Limit, Timeout.InfiniteTimeSpan);
                // The expected bytes for any stream position p start at pattern[p % 26].
                byte[] pattern = Payload(26 + (int)Math.Max(zcrx.RxBufferLength, (uint)page));
                using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                listener.Bind(new IPEndPoint(IPAddress.IPv6Any, o.Port));
                listener.Listen(1024);
                return Receive(o, listener, zcrx, page, pattern, deadline);
            }
        }
    }

    private static int? InterfaceIndex(string name)
    {
        try
        {
            string text = File.ReadAllText($"/sys/class/net/{name}/ifindex").Trim();
            return int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out int i) ? i : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// The stream was received and validated: exit now, leaving the socket, the ring and its area to the
    /// kernel, as the kernel's tool does (it returns from main without closing them). The kernel releases
    /// them at exit: closing the ring unregisters the zcrx instance and gives the queue back to the driver
    /// (io_uring/zcrx.c, io_unregister_zcrx_ifqs from the ring's teardown). Tearing each down in turn
    /// first (the library's Dispose, what a long-running service does) put 15-60 ms between the end of
    /// the stream and the end of the process on the testnic (docs/performance.md). Nothing waits in
    /// Console.Out: it flushes on every write; touching it here would only set it up, for nothing.
    /// </summary>
    private static int ExitLeavingCleanupToKernel()
    {
        Environment.Exit(0);
        return 0;
    }

    /// <summary>At the deadline the instance is disposed, which ends a receive in progress.</summary>
    private sealed class Deadline(ZcrxInstance zcrx)
    {
        private int _expired;

        public static readonly TimeSpan Limit = TimeSpan.FromSeconds(5);

        public bool Expired => Volatile.Read(ref _expired) != 0;

        public void Expire()
        {
            Volatile.Write(ref _expired, 1);
            zcrx.Dispose();
        }
    }

    private static int Receive(Options o, Socket listener, ZcrxInstance zcrx, int page, byte[] pattern, Deadline deadline)
    {
        // Blocking calls on this thread, as the tool's loop: at the deadline the timer disposes the instance,
        // which ends a wait in Accept or Receive. The ring accepts, as the tool's does, and arms the zero-copy
        // receive in the same step (ZcrxInstance.Accept): the peer's first data does not wait for us.
        try
        {
            using DevmemSocket rx = zcrx.Accept(listener, requestBytes: o.Oneshot ? (uint)page : 0);

            long end = o.Oneshot ? (o.OneshotReceives + 1L) * page : long.MaxValue;
            var segments = new DevmemSegment[64];
            long received = 0;
            while (received < end)
            {
                DevmemReceiveResult r = rx.Receive(segments, Span<byte>.Empty);
                if (r.EndOfStream)
                {
                    break;
                }

                for (int i = 0; i < r.Segments; i++)
                {
                    DevmemFragment f = segments[i].Fragment;
                    ReadOnlySpan<byte> data = zcrx.Memory.GetSpan((long)f.Offset, (int)f.Length);
                    ReadOnlySpan<byte> expected = pattern.AsSpan((int)(received % 26), (int)f.Length);
                    if (!data.SequenceEqual(expected))
                    {
                        return Fail($"payload mismatch at {data.CommonPrefixLength(expected)}");
                    }

                    received += f.Length;
                }

                rx.Release(segments.AsSpan(0, r.Segments));
            }

            return ExitLeavingCleanupToKernel();
        }
        catch (ObjectDisposedException) when (deadline.Expired)
        {
            return Fail("test failed");
        }
    }
}
