using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Receive;
using Devmem.Transmit;

namespace Devmem.Cli;

/// <summary>
/// The client (-s without -l). Devmem TX as the kernel's ncdevmem <c>do_client</c>
/// (tools/testing/selftests/drivers/net/hw/ncdevmem.c): for each line of standard input, copy it into
/// the dma-buf at offset 0, send it from there (one sendmsg, -z chunks as iovecs), wait at most 500 ms
/// for its completion and print "tx complete [lo,hi]"; at the end "ncdevmem: tx ok". Where devmem TX
/// is impossible (a kernel without bind-tx such as 6.12, a driver without netmem TX such as virtio_net,
/// no dma-buf provider) --tx auto sends standard input over plain TCP instead and says why in one line;
/// --tx devmem fails with that line; --tx plain never tries.
/// </summary>
internal static class Client
{
    // The kernel tool's buffer: 16000 pages (65,536,000 bytes), below 6.12/7.2's udmabuf limit of 64 MiB.
    private const long MemorySize = 16000L * 4096;

    // The kernel tool's waittime_ms: how long one line's completion may take.
    private static readonly TimeSpan CompletionWait = TimeSpan.FromMilliseconds(500);

    public static int Run(Options o)
    {
        // What is sent is standard input: refuse before connecting when the user closed it (<&-), rather
        // than send whatever the runtime opened in its place.
        if (!CliProcess.InputGiven)
        {
            CliProcess.OpenInput("the client sends standard input");
        }

        if (o.Tx == "plain")
        {
            return RunPlain(o, null);
        }

        string? why = WhyNotDevmem(o, out DeviceMemory? memory);
        if (why is not null)
        {
            if (o.Tx == "devmem")
            {
                return Outcome.Fail(o, $"devmem TX is not possible on {o.Interface}: {why}");
            }

            Console.Error.WriteLine($"ncdevmem: devmem TX is not possible on {o.Interface} ({why}); sending over plain TCP instead");
            return RunPlain(o, why);
        }

        using (memory)
        {
            return RunDevmem(o, memory!);
        }
    }

    // Everything that decides between devmem TX and the fallback, asked of the kernel before anything is
    // sent: bind-tx exists, the interface's driver supports netmem TX, a dma-buf can be made.
    private static string? WhyNotDevmem(Options o, out DeviceMemory? memory)
    {
        memory = null;
        try
        {
            DevmemTxSocket.CheckInterface(o.Interface!);
        }
        catch (NetlinkNotSupportedException e)
        {
            return e.Message;
        }
        catch (DevmemException e) when (e.ErrnoName == "ENODEV")
        {
            // -f names no interface: an error (exit 1, one line), not a reason to send over plain TCP.
            throw;
        }
        catch (Exception e) when (e is NetlinkException or DevmemException or UnauthorizedAccessException)
        {
            return e.Message;
        }

        try
        {
            memory = Providers.Create(o, MemorySize, "ncdevmem-tx");
            return null;
        }
        catch (Exception e) when (e is DmabufException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return $"no dma-buf to send from: {e.Message}";
        }
    }

    private static int RunDevmem(Options o, DeviceMemory memory)
    {
        var stderr = new StderrLogger(o.Verbose);
        var server = new IPEndPoint(o.ServerAddress!, o.Port);

        // As the kernel tool: -c binds the client to that address and the same port (its server's
        // 5-tuple flow rule expects the port as the source port too).
        IPEndPoint? local = o.ClientAddress is { } c ? new IPEndPoint(c, o.Port) : null;
        Console.Error.WriteLine($"Connect to {o.ServerAddress} {o.Port} (via {o.Interface})");
        DevmemTxSocket tx;
        try
        {
            tx = DevmemTxSocket.Connect(memory, o.Interface!, server, local, stderr);
        }
        catch (NetlinkNotSupportedException e)
        {
            return Outcome.Fail(o, CliProcess.OneLine(e.Message));
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot connect to {o.ServerAddress} port {o.Port}{(local is null ? "" : $" from {local}")}: {e.Message}", e);
        }

        using (tx)
        {
            Console.Error.WriteLine($"got tx dmabuf id={tx.Binding!.Id}");
            long lines = 0, completions = 0;
            using var input = new LineReader(CliProcess.OpenInput("the client sends standard input"), (int)Math.Min(memory.Size, 1 << 20));
            while (input.Next() is { } line)
            {
                if (o.TxChunk > 0 && (line.Length + o.TxChunk - 1) / o.TxChunk > DevmemTxSocket.MaxIovecs)
                {
                    return Outcome.Fail(o, $"can't partition {line.Length} bytes into maximum of {DevmemTxSocket.MaxIovecs} chunks");
                }

                // The previous line's completion has arrived (waited for below), so offset 0 is free again.
                memory.CopyFrom(0, line.Span);
                DevmemTxSend sent = o.Async
                    ? tx.SendAsync(0, line.Length, o.TxChunk).AsTask().GetAwaiter().GetResult()
                    : tx.Send(0, line.Length, o.TxChunk);
                Console.Error.WriteLine($"sendmsg_ret={sent.Bytes}");
                if (!WaitForCompletion(tx, sent.LastSequence, o.Async, () => completions++))
                {
                    return Outcome.Fail(o, $"did not receive tx completion (send {sent.LastSequence}, {CompletionWait.TotalMilliseconds} ms)");
                }

                lines++;
            }

            tx.Socket.Shutdown(SocketShutdown.Send);
            Console.Error.WriteLine("ncdevmem: tx ok");
            if (o.Json)
            {
                Outcome.JsonPrinted = true;
                Console.Out.WriteLine($$"""{"mode":"client","ok":true,"transport":"devmem","interface":"{{o.Interface}}","binding_id":{{tx.Binding!.Id}},"bytes":{{tx.BytesSent}},"lines":{{lines}},"sends":{{tx.NextSequence}},"completions":{{completions}},"copied_completions":{{tx.CopiedCompletions}}}""");
            }
        }

        return 0;
    }

    // Stop-and-wait for one send's completion, printing each completion as the kernel's client does:
    // blocking (the kernel tool's poll loop) or, with --async, through the library's async wait with a
    // CancellationTokenSource as its timeout.
    private static bool WaitForCompletion(DevmemTxSocket tx, uint sequence, bool useAsync, Action counted)
    {
        void Print(DevmemTxCompletion completion)
        {
            counted();
            Console.Error.WriteLine(completion.ToString());
        }

        if (!useAsync)
        {
            return tx.WaitForCompletion(sequence, CompletionWait, Print);
        }

        using var wait = new CancellationTokenSource(CompletionWait);
        try
        {
            tx.WaitForCompletionAsync(sequence, Print, wait.Token).AsTask().GetAwaiter().GetResult();
            return true;
        }
        catch (OperationCanceledException) when (wait.IsCancellationRequested)
        {
            return false;
        }
    }

    private static int RunPlain(Options o, string? fallbackReason)
    {
        var server = o.ServerAddress!;
        if (server.AddressFamily == AddressFamily.InterNetwork)
        {
            // As the kernel's tool: IPv4 is carried in an AF_INET6 socket as a mapped address.
            server = server.MapToIPv6();
        }

        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        if (o.ClientAddress is { } client)
        {
            socket.Bind(new IPEndPoint(client.AddressFamily == AddressFamily.InterNetwork ? client.MapToIPv6() : client, 0));
        }

        try
        {
            socket.Connect(new IPEndPoint(server, o.Port));
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot connect to {o.ServerAddress} port {o.Port}: {e.Message}", e);
        }

        using var stdin = CliProcess.OpenInput("the client sends standard input");
        var buffer = new byte[o.TxChunk > 0 ? Math.Min(o.TxChunk, 1 << 20) : 1 << 16];
        long total = 0;
        int n;
        while ((n = stdin.Read(buffer)) > 0)
        {
            int sent = 0;
            while (sent < n)
            {
                sent += socket.Send(buffer.AsSpan(sent, n - sent));
            }

            total += n;
        }

        socket.Shutdown(SocketShutdown.Send);
        Console.Error.WriteLine($"ncdevmem: sent {total} bytes (plain TCP)");
        if (o.Json)
        {
            string reason = fallbackReason is null ? "" : $",\"devmem_unavailable\":\"{System.Text.Json.JsonEncodedText.Encode(fallbackReason)}\"";
            Outcome.JsonPrinted = true;
            Console.Out.WriteLine($$"""{"mode":"client","ok":true,"transport":"tcp","bytes":{{total}}{{reason}}}""");
        }

        return 0;
    }
}

/// <summary>
/// Lines of a byte stream as getline(3) returns them: each with its '\n', the last one without if the
/// stream does not end in one. A line longer than the buffer is an error (it must fit the dma-buf).
/// </summary>
internal sealed class LineReader(Stream stream, int capacity) : IDisposable
{
    private readonly byte[] _buffer = new byte[capacity];
    private int _start;
    private int _end;
    private bool _eof;

    public ReadOnlyMemory<byte>? Next()
    {
        int scanned = _start;
        while (true)
        {
            int nl = _buffer.AsSpan(scanned, _end - scanned).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                int from = _start;
                _start = scanned + nl + 1;
                return _buffer.AsMemory(from, _start - from);
            }

            scanned = _end;
            if (_eof)
            {
                if (_start == _end)
                {
                    return null;
                }

                int from = _start;
                _start = _end;
                return _buffer.AsMemory(from, _end - from);
            }

            if (_start > 0)
            {
                // Move the partial line to the front to make room.
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                scanned -= _start;
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                throw new IOException($"an input line is longer than {_buffer.Length} bytes, the most this client sends at once");
            }

            int n = stream.Read(_buffer, _end, _buffer.Length - _end);
            if (n == 0)
            {
                _eof = true;
            }

            _end += n;
        }
    }

    public void Dispose() => stream.Dispose();
}
