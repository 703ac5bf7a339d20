// The consumer of scripts/checks/package.sh: a fresh console project outside the repository that knows
// the library only as the Devmem package. Published with PublishAot and warnings as errors, it
//   1. receives 256 MiB over loopback through DevmemRxSetup on lo with Fallback = Copy (lo cannot bind
//      a dma-buf, so this is the copy fallback), validating every byte with the kernel ncdevmem's pattern;
//      any validation error, a short stream, linear bytes or tokens left outstanding exit 1;
//   2. runs the doctor on lo and prints its verdict, every check and the JSON report's size;
//   3. with the Devmem.Hosting package (DEVMEM_HOSTING), runs its receiver in a Generic Host (Hosting.cs).
// "--corrupt" makes the sender flip one byte in the middle of the stream: validation must catch it
// (exit 1), which shows this program cannot pass on corrupted data.
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;
using Devmem;
using Devmem.Diagnostics;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Validation;

const int Period = 7;
const long Total = 256L << 20;
const long CorruptAt = (100L << 20) + 3;
bool corrupt = args.Contains("--corrupt");

string version = typeof(DevmemRxSetup).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
Console.WriteLine($"consumer: Devmem {version}");
try
{
    int rc = Receive(corrupt);
    if (rc == 0)
    {
        Doctor();
#if DEVMEM_HOSTING
        rc = HostingCheck.Run();
#endif
    }

    return rc;
}
catch (DevmemIOException e)
{
    Console.Error.WriteLine($"consumer: {e.GetType().Name}: {e.Message}");
    return 2;
}

static int Receive(bool corrupt)
{
    ushort port = FreePort();
    var options = new DevmemRxSetupOptions("lo")
    {
        Steering = new DevmemFlowSteering(IPAddress.Loopback, port),
        Fallback = DevmemFallback.Copy,
    };
    using DevmemRxSetup rx = DevmemRxSetup.Apply(64 << 20, options);
    Console.WriteLine(rx.IsZeroCopy
        ? $"setup: zero copy, binding {rx.BindingId}"
        : $"setup: copy fallback ({rx.FallbackKind}): {rx.FallbackReason}");

    using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
    listener.Listen();
    string? sendError = null;
    var sender = new Thread(() =>
    {
        try
        {
            Send(port, Total, corrupt ? CorruptAt : -1);
        }
        catch (SocketException e)
        {
            sendError = $"{e.SocketErrorCode}: {e.Message}";
        }
    })
    { IsBackground = true, Name = "sender" };
    sender.Start();

    using Socket conn = listener.Accept();
    var check = new NcdevmemPattern(Period);
    long received = 0, fragments = 0, linearBytes = 0, outstanding;
    using (DevmemSocket socket = rx.Wrap(conn))
    {
        var frags = new DevmemFragment[128];
        var linear = new byte[64 << 10];
        DeviceMemory memory = rx.Memory;
        while (socket.Receive(frags, linear) is { EndOfStream: false } r)
        {
            linearBytes += r.LinearBytes;
            memory.BeginCpuAccess(CpuAccess.Read);
            try
            {
                foreach (DevmemFragment f in frags.AsSpan(0, r.Fragments))
                {
                    long at = received;
                    check.Validate(memory.GetSpan((long)f.Offset, (int)f.Length), (e, a, i) =>
                        Console.Error.WriteLine($"Failed validation: expected={e}, actual={a}, stream offset={at + i}"));
                    received += f.Length;
                }
            }
            finally
            {
                memory.EndCpuAccess(CpuAccess.Read);
            }

            fragments += r.Fragments;
            socket.Release(frags.AsSpan(0, r.Fragments));
            if (check.Failed)
            {
                break;
            }
        }

        outstanding = socket.OutstandingTokens;
    }

    conn.Close();
    sender.Join(TimeSpan.FromSeconds(30));
    Console.WriteLine($"receive: {received} of {Total} bytes in {fragments} fragments into {rx.Memory.Kind} memory, {linearBytes} linear bytes, {outstanding} tokens outstanding");
    if (check.Errors > 0)
    {
        Console.WriteLine($"validation: FAILED, {check.Errors} mismatch(es) (ncdevmem pattern, period {Period})");
        return 1;
    }

    Console.WriteLine($"validation: ok, {check.Bytes} bytes match the ncdevmem pattern (period {Period})");
    if (received != Total || linearBytes != 0 || outstanding != 0 || sendError is not null)
    {
        Console.WriteLine($"receive: FAILED (expected {Total} bytes, all as fragments, all released{(sendError is null ? "" : $"; sender: {sendError}")})");
        return 1;
    }

    return 0;
}

static void Doctor()
{
    DoctorReport report = DevmemDoctor.Examine("lo");
    Console.WriteLine($"doctor: kernel {report.Host.KernelRelease}; devmem RX possible on lo: {(report.DevmemRxPossible ? "yes" : "no")}");
    foreach (DoctorCheck c in report.Host.Checks)
    {
        Console.WriteLine($"doctor: host {c.Status} {c.Id}: {c.Detail}");
    }

    foreach (DoctorInterfaceReport device in report.Interfaces)
    {
        foreach (DoctorCheck c in device.Checks)
        {
            Console.WriteLine($"doctor: {device.Name} {c.Status} {c.Id}: {c.Detail}");
        }
    }

    string json = report.ToJson();
    using JsonDocument parsed = JsonDocument.Parse(json);
    Console.WriteLine($"doctor: JSON report of {json.Length} characters, schema {parsed.RootElement.GetProperty("schema").GetInt32()}");
    foreach (string line in report.Explain().Split('\n', StringSplitOptions.RemoveEmptyEntries))
    {
        Console.WriteLine($"doctor: explain: {line}");
    }
}

static void Send(ushort port, long total, long corruptAt)
{
    using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    c.Connect(new IPEndPoint(IPAddress.Loopback, port));
    var pattern = new NcdevmemPattern(Period);
    var buffer = new byte[256 << 10];
    for (long sent = 0; sent < total;)
    {
        int n = (int)Math.Min(buffer.Length, total - sent);
        pattern.Fill(buffer.AsSpan(0, n));
        if (corruptAt >= sent && corruptAt < sent + n)
        {
            buffer[corruptAt - sent] ^= 0x40;
        }

        for (int off = 0; off < n;)
        {
            off += c.Send(buffer.AsSpan(off, n - off));
        }

        sent += n;
    }

    c.Shutdown(SocketShutdown.Send);
}

static ushort FreePort()
{
    using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    return (ushort)((IPEndPoint)s.LocalEndPoint!).Port;
}
