using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Validation;

// The C# side of the copy-fallback benchmark; bench/native/copyrecv.c is the C side, and both take the
// same arguments and print the same JSON line. Accepts one connection on 127.0.0.1:PORT and receives
// through DevmemSocket's copy fallback into a memfd mapped MAP_SHARED (HostMemory, 32 MiB, 64 KiB
// slots: what ncdevmem --demo uses), validating every fragment with the kernel ncdevmem's pattern
// (period 7, the 7.x terminator) before releasing it, until the peer closes.
if (args.Length < 2
    || !int.TryParse(args[0], CultureInfo.InvariantCulture, out int port)
    || !long.TryParse(args[1], CultureInfo.InvariantCulture, out long expectedTotal))
{
    Console.Error.WriteLine("usage: Devmem.CopyReceiver PORT BYTES [--log FILE]");
    return 2;
}

string? log = args.Length >= 4 && args[2] == "--log" ? args[3] : null;

const int MemorySize = 32 << 20;
const int SlotSize = 64 * 1024;
using var memory = HostMemory.Create(MemorySize, "copyrecv-cs");
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(1);
using var socket = listener.Accept();

var clock = Stopwatch.StartNew();
var check = new NcdevmemPattern(7);
DevmemStreamResult result;
using (var ds = DevmemSocket.CreateCopyFallback(socket, memory, "benchmark over loopback", SlotSize))
{
    // The library's receive-validate-release loop; the copy ring fills at most 64 slots per receive
    // (CopyRing.MaxSlotsPerReceive): room for as many segments.
    result = new DevmemStreamReceiver(ds, memory, new DevmemStreamOptions
    {
        Validation = check,
        OnMismatch = Mismatch,
        Segments = 64,
        LinearBufferSize = 4096,
    }).Run();
}

if (result.End != DevmemStreamEnd.EndOfStream)
{
    Console.Error.WriteLine($"Devmem.CopyReceiver: {result.Detail}");
    return 1;
}

long total = result.DmabufBytes, receives = result.Receives;
clock.Stop();
double seconds = clock.Elapsed.TotalSeconds;
string line = string.Create(CultureInfo.InvariantCulture,
    $$"""{"receiver":"{{Receiver()}}","bytes":{{total}},"receives":{{receives}},"seconds":{{seconds:F4}},"gb_per_s":{{total / seconds / 1e9:F3}},"validation_errors":{{check.Errors}}}""");
Console.WriteLine(line);
if (log is not null)
{
    File.AppendAllText(log, line + "\n");
}

if (total != expectedTotal)
{
    Console.Error.WriteLine($"Devmem.CopyReceiver: received {total} of {expectedTotal} bytes");
    return 1;
}

return 0;

// Which build is running: JIT (dotnet build) or NativeAOT (scripts/bench.sh publishes both).
static string Receiver() =>
    System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported ? "csharp-jit" : "csharp-aot";

static void Mismatch(byte expected, byte actual, long index)
{
    Console.Error.WriteLine($"Failed validation: expected={expected}, actual={actual}, index={index}");
}
