using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Validation;

namespace Devmem.Cli;

/// <summary>
/// -l: the server. Sets the NIC up and binds a dma-buf (DevmemRxSetup), accepts one connection,
/// receives until the client closes, validates (-v N) or prints the payload, releases every token, then
/// undoes the NIC setup. Messages on stderr as the kernel's ncdevmem prints them where scripts read
/// them ("got dmabuf id=N", "Waiting or connection on ADDR:PORT", "Got connection from ADDR:PORT",
/// "total_received=N", "ncdevmem: client exited"); exit 0 on success, 1 on failure, 128 + N when
/// interrupted by SIGHUP, SIGINT, SIGQUIT or SIGTERM (after the undo).
/// </summary>
internal static class Server
{
    // ncdevmem's buffer: 16000 pages (65,536,000 bytes); below 6.12's udmabuf limit of 64 MiB.
    private const long MemorySize = 16000L * 4096;

    // ncdevmem's iov (iobuf) size.
    private const int LinearSize = 819200;

    public static int Run(Options o)
    {
        var stderr = new StderrLogger(o.Verbose);
        using var stop = new Interrupt();
        if (!o.FallbackCopy)
        {
            // A bad interface fails here, before any memory is made; with --fallback copy it is not fatal.
            DevmemRxSetup.CheckInterface(o.Interface!);
        }

        // The listening socket is bound before the NIC is touched: a port in use (or an address this
        // host does not have) is found while nothing is configured. It listens only once the flow rule
        // is in place, as the kernel's tool: a client that connects as soon as it sees the port listen
        // (the kernel's selftests wait for LISTEN) must not race the setup.
        IPAddress listenOn = o.ServerAddress!.AddressFamily == AddressFamily.InterNetwork ? o.ServerAddress.MapToIPv6() : o.ServerAddress;
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            listener.Bind(new IPEndPoint(listenOn, o.Port));
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on {o.ServerAddress} port {o.Port}: {e.SocketErrorCode} ({e.Message}); nothing was configured on {o.Interface}", e);
        }

        if (stop.Signal is not null)
        {
            return stop.Report(o, null, null);
        }

        using DeviceMemory memory = Providers.Create(o, MemorySize, "ncdevmem");
        var options = new DevmemRxSetupOptions(o.Interface!)
        {
            StartQueue = (uint?)o.QueueStart,
            QueueCount = (uint?)o.QueueCount,
            Steering = new DevmemFlowSteering(o.ServerAddress!, (ushort)o.Port, o.ClientAddress, o.ClientAddress is null ? null : (ushort)o.Port),
            SkipConfiguration = o.SkipConfiguration,
            RxPageSize = o.RxPageSize == 0 ? null : (uint)o.RxPageSize,
            Fallback = o.FallbackCopy ? DevmemFallback.Copy : DevmemFallback.Never,
            Engine = o.Engine == "zcrx" ? DevmemRxEngine.Zcrx : DevmemRxEngine.DevmemSockets,
            // This process handles SIGINT/SIGTERM/SIGHUP/SIGQUIT itself (Interrupt): it stops receiving, then disposes the setup.
            UndoOnSignals = false,
        };

        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, options, stderr);
        if (stop.Signal is not null)
        {
            // The signal came during the setup: it finished (a half-made setup is harder to undo), now undo it.
            return stop.Report(o, setup, null);
        }

        if (setup.IsZeroCopy)
        {
            Console.Error.WriteLine($"using queues {setup.Queues[0]}..{setup.Queues[^1] + 1}");
            Console.Error.WriteLine(setup.Zcrx is { } zcrx ? $"got zcrx id={zcrx.Id} ({zcrx.Memory.Kind} area, {zcrx.RxBufferLength}-byte buffers)" : $"got dmabuf id={setup.BindingId}");
        }

        try
        {
            listener.Listen(1);
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on {o.ServerAddress} port {o.Port}: {e.SocketErrorCode} ({e.Message})", e);
        }

        Console.Error.WriteLine($"binding to address {o.ServerAddress}:{o.Port}");
        Console.Error.WriteLine($"Waiting or connection on {o.ServerAddress}:{o.Port}");
        using var interrupted = new CancellationTokenSource();
        stop.OnInterrupt(interrupted.Cancel);
        DevmemSocket rx;
        try
        {
            // With zcrx the ring accepts and arms the zero-copy receive at once, as the kernel's iou-zcrx.
            rx = setup.Accept(listener, cancellationToken: interrupted.Token);
        }
        catch (OperationCanceledException) when (stop.Signal is not null)
        {
            return stop.Report(o, setup, null);
        }

        using (rx)
        {
            var peer = (IPEndPoint)rx.Socket.RemoteEndPoint!;
            Console.Error.WriteLine($"Got connection from {(peer.Address.IsIPv4MappedToIPv6 ? peer.Address.MapToIPv4() : peer.Address)}:{peer.Port}");
            stop.OnInterrupt(() => rx.Socket.Shutdown(SocketShutdown.Both));
            var result = new Summary(setup, memory);
            int rc = Receive(o, setup, rx, result, stop);
            if (stop.Signal is not null)
            {
                return stop.Report(o, setup, signal => result.Print(o, 1, signal));
            }

            result.Print(o, rc);
            return rc;
        }
    }

    private static int Receive(Options o, DevmemRxSetup setup, DevmemSocket rx, Summary s, Interrupt stop)
    {
        var pattern = o.Validation > 0 ? new NcdevmemPattern(o.Validation) : null;
        using Stream stdout = CliProcess.OpenOutput();
        var progress = new Progress();
        var clock = Stopwatch.StartNew();
        try
        {
            // The library's receive-validate-release loop, with the kernel tool's checks: a fragment of
            // another binding or unsteered bytes are flow steering errors, -L refuses linear bytes, and
            // without -v the payload's non-zero bytes go to stdout.
            DevmemStreamResult r = new DevmemStreamReceiver(rx, setup.Memory, new DevmemStreamOptions
            {
                Validation = pattern,
                OnMismatch = Mismatch,
                ExpectedBindingId = setup.IsZeroCopy ? setup.BindingId : null,
                StopOnLinear = o.FailOnLinear,
                Segments = LinearSize / 4096 + 1,
                LinearBufferSize = LinearSize,
                OnSegment = pattern is null ? (in DevmemSegment _, ReadOnlySpan<byte> data) => PrintNonZero(stdout, data) : null,
                OnProgress = p =>
                {
                    // The summary holds the totals so far: a signal prints what arrived until then.
                    s.Record(p);
                    progress.Update(p.TotalBytes, clock.Elapsed.TotalSeconds);
                },
            }).Run();
            s.Record(r);
            switch (r.End)
            {
                case DevmemStreamEnd.EndOfStream:
                    break;
                case DevmemStreamEnd.Linear:
                    return Failed($"{r.Detail} but --fail-on-linear (-L) set");
                default:
                    return Failed(r.Detail ?? r.End.ToString());
            }

            progress.Done();
            s.Seconds = clock.Elapsed.TotalSeconds;
            s.ReleaseCalls = rx.ReleaseCalls;
            s.TokensFreed = rx.TokensFreed;
            Console.Error.WriteLine($"total_received={s.Bytes}");
            if (stop.Signal is null)
            {
                Console.Error.WriteLine("ncdevmem: client exited");
            }

            return 0;
        }
        catch (DevmemException) when (stop.Signal is not null)
        {
            // The interrupt shut the connection down under the receive.
            return 1;
        }
        finally
        {
            progress.Done();
        }

        static void Mismatch(byte expected, byte actual, long index) =>
            Console.Error.WriteLine($"Failed validation: expected={expected}, actual={actual}, index={index}");

        // The kernel tool's line on stderr; the same words become the JSON summary's "error".
        static int Failed(string message)
        {
            Console.Error.WriteLine($"ncdevmem: {message}");
            Outcome.Record(message);
            return 1;
        }
    }

    // ncdevmem's print_nonzero_bytes: the payload's non-zero bytes, as they are, on stdout.
    private static bool PrintNonZero(Stream stdout, ReadOnlySpan<byte> data)
    {
        Span<byte> chunk = stackalloc byte[4096];
        while (!data.IsEmpty)
        {
            int n = 0;
            ReadOnlySpan<byte> part = data[..Math.Min(data.Length, chunk.Length)];
            foreach (byte b in part)
            {
                if (b != 0)
                {
                    chunk[n++] = b;
                }
            }

            stdout.Write(chunk[..n]);
            data = data[part.Length..];
        }

        return true;
    }

    /// <summary>What the server reports at the end: the kernel tool's lines, or one JSON object with --json.</summary>
    private sealed class Summary(DevmemRxSetup setup, DeviceMemory memory)
    {
        public void Record(in DevmemStreamResult r)
        {
            Fragments = r.Fragments;
            Bytes = r.DmabufBytes;
            LinearBytes = r.LinearBytes;
            ValidationErrors = r.ValidationErrors;
        }

        public long Bytes { get; set; }

        public long LinearBytes { get; set; }

        public long Fragments { get; set; }

        public long ReleaseCalls { get; set; }

        public long TokensFreed { get; set; }

        public long ValidationErrors { get; set; }

        public double Seconds { get; set; }

        public void Print(Options o, int rc, string? signal = null)
        {
            if (!o.Json)
            {
                if (rc == 0)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"ncdevmem: {(setup.IsZeroCopy ? "zero copy" : "copy fallback")}: {Bytes + LinearBytes} bytes in {Seconds:F2} s ({Progress.Rate(Bytes + LinearBytes, Seconds)}), {Fragments} fragments, {ReleaseCalls} SO_DEVMEM_DONTNEED calls"));
                }

                return;
            }

            if (Outcome.JsonPrinted)
            {
                return;
            }

            Outcome.JsonPrinted = true;
            using Stream stdout = CliProcess.OpenOutput();
            using var w = new Utf8JsonWriter(stdout);
            w.WriteStartObject();
            w.WriteString("mode", setup.IsZeroCopy ? "zero-copy" : "copy");
            w.WriteBoolean("ok", rc == 0);
            if (rc != 0)
            {
                w.WriteString("error", Outcome.Error ?? $"exit status {rc}");
                w.WriteString("signal", signal);
            }

            w.WriteString("interface", setup.InterfaceName);
            w.WriteString("driver", setup.Driver);
            w.WriteString("provider", memory.Kind.ToString());
            w.WriteString("exporter", memory.ExporterName);
            w.WriteNumber("memory_bytes", memory.Size);
            w.WriteStartArray("queues");
            foreach (uint q in setup.Queues)
            {
                w.WriteNumberValue(q);
            }

            w.WriteEndArray();
            w.WriteString("engine", setup.Zcrx is null ? "devmem" : "zcrx");
            if (setup.Zcrx is { } zcrx)
            {
                w.WriteNull("binding_id");
                w.WriteNumber("zcrx_id", zcrx.Id);
                w.WriteNumber("zcrx_buffers_returned", zcrx.BuffersReturned);
                w.WriteNumber("zcrx_refill_flushes", zcrx.RefillFlushes);
            }
            else if (setup.IsZeroCopy)
            {
                w.WriteNumber("binding_id", setup.BindingId);
            }
            else
            {
                w.WriteNull("binding_id");
            }

            w.WriteNumber("bytes", Bytes + LinearBytes);
            w.WriteNumber("dmabuf_bytes", Bytes);
            w.WriteNumber("linear_bytes", LinearBytes);
            w.WriteNumber("fragments", Fragments);
            w.WriteNumber("release_calls", ReleaseCalls);
            w.WriteNumber("tokens_freed", TokensFreed);
            w.WriteNumber("validation_period", o.Validation);
            w.WriteNumber("validation_errors", ValidationErrors);
            w.WriteNumber("seconds", Math.Round(Seconds, 3));
            w.WriteNumber("throughput_bytes_per_second", (long)((Bytes + LinearBytes) / Math.Max(Seconds, 1e-9)));
            w.WriteString("fallback_reason", setup.FallbackReason);
            // The typed reason (DevmemFallbackKind) in the JSON's own spelling, for scripts: no_parent_device, ...
            w.WriteString("fallback_kind", setup.FallbackKind is { } kind ? System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(kind.ToString()) : null);
            w.WriteStartArray("changes");
            foreach (string c in setup.Changes)
            {
                w.WriteStringValue(c);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.Flush();
            stdout.Write("\n"u8);
        }
    }
}
