using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Devmem.Interop;
using Devmem.Receive;

namespace Devmem.Benchmarks;

/// <summary>
/// Per-fragment cost of what DevmemSocket does around its two syscalls: the cmsg walk after
/// <c>recvmsg(MSG_SOCK_DEVMEM)</c> and the token bookkeeping and coalescing before
/// <c>setsockopt(SO_DEVMEM_DONTNEED)</c>; C# against the same loop in C (bench/native/cmsgwalk.c), on
/// the same synthetic control buffers.
/// </summary>
/// <remarks>
/// <para>
/// The C# side runs the shipped step itself: <see cref="TokenLedger"/>, the code DevmemSocket runs
/// between its two syscalls (<see cref="TokenLedger.Accept"/> after recvmsg, <see cref="TokenLedger.Queue"/>
/// on release, its flush before setsockopt). Left out on both sides: the syscalls and the socket
/// handle's reference around them. <c>setsockopt(SO_DEVMEM_DONTNEED)</c> is replaced on both sides by a
/// stub that reads the ranges and returns the tokens they cover (the ledger's <see cref="ITokenReleaser"/>).
/// </para>
/// <para>
/// The buffers are built to the kernel's layout (net/ipv4/tcp.c tcp_recvmsg_dmabuf: one 40-byte
/// SOL_SOCKET/SCM_DEVMEM_DMABUF cmsg per fragment, CMSG_SPACE(sizeof(struct dmabuf_cmsg))), with
/// tokens allocated as the kernel does (sk_user_frags, an XA_FLAGS_ALLOC1 xarray: lowest free value,
/// from 1): a token comes back to the kernel only when a flush releases it, so tokens run mostly
/// consecutive and wrap back to 1 after each flush; about 1 in 40 token values is held for the whole
/// run (a fragment the application keeps), which leaves gaps.
/// </para>
/// </remarks>
[MemoryDiagnoser]
public unsafe class CmsgWalkBenchmarks
{
    /// <summary>Fragments handled per benchmark invocation: a multiple of 1024, so every invocation
    /// starts and ends with no tokens pending or held.</summary>
    public const int FragmentsPerInvoke = 25 * 1024;

    private const int SolSocket = 1;
    private const int ScmDevmemDmabuf = 79;
    private const int Space = 40;

    private byte[] _buffers = [];
    private int[] _lengths = [];
    private long[] _received = [];
    private int _receives;
    private int _stride;

    // The C# receive path's state: DevmemSocket's own ledger type.
    private readonly TokenLedger _ledger = new(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    private DevmemFragment[] _fragments = [];

    // The C side.
    private nint _libO2;
    private nint _libNative;
    private nint _walkerO2;
    private nint _walkerNative;
    private delegate* unmanaged<nint, byte*, int*, long*, int, int, long> _runO2;
    private delegate* unmanaged<nint, byte*, int*, long*, int, int, long> _runNative;

    /// <summary>Fragments per recvmsg: 200 is what ncdevmem's 819200-byte iov allows with 4 KiB
    /// fragments; 16 stands for a flow that trickles in.</summary>
    [Params(16, 200)]
    public int FragmentsPerReceive { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        BuildBuffers();
        _fragments = new DevmemFragment[FragmentsPerReceive];
        _runO2 = LoadC("libcmsgwalk.so", out _libO2, out _walkerO2);
        _runNative = LoadC("libcmsgwalk-native.so", out _libNative, out _walkerNative);

        // Same answer from all three, or the comparison means nothing.
        long cs = CSharp(), c = C_O2(), n = C_Native();
        if (cs != FragmentsPerInvoke || c != FragmentsPerInvoke || n != FragmentsPerInvoke || _ledger.PendingCount != 0 || _ledger.Held.Count != 0)
        {
            throw new InvalidOperationException($"fragments: C# {cs}, C -O2 {c}, C native {n}; expected {FragmentsPerInvoke}");
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        CSharp();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"// C# receive path: {allocated} bytes allocated over {_receives} receives ({FragmentsPerInvoke} fragments, {_ledger.ReleaseCalls} release calls so far)");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        FreeC(_libO2, _walkerO2);
        FreeC(_libNative, _walkerNative);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = FragmentsPerInvoke, Description = "C, gcc -O2 (per fragment)")]
    public long C_O2()
    {
        fixed (byte* b = _buffers)
        fixed (int* l = _lengths)
        fixed (long* r = _received)
        {
            return _runO2(_walkerO2, b, l, r, _stride, _receives);
        }
    }

    [Benchmark(OperationsPerInvoke = FragmentsPerInvoke, Description = "C, gcc -O3 -march=native (per fragment)")]
    public long C_Native()
    {
        fixed (byte* b = _buffers)
        fixed (int* l = _lengths)
        fixed (long* r = _received)
        {
            return _runNative(_walkerNative, b, l, r, _stride, _receives);
        }
    }

    [Benchmark(OperationsPerInvoke = FragmentsPerInvoke, Description = "C#, Devmem library (per fragment)")]
    public long CSharp()
    {
        long total = 0;
        var frags = _fragments.AsSpan();
        for (int r = 0; r < _receives; r++)
        {
            int n = ReceiveAfterRecvmsg(_buffers.AsSpan(r * _stride, _lengths[r]), (int)_received[r], frags);
            Release(frags[..n]);
            total += n;
        }

        return total;
    }

    // DevmemSocket.TryReceive from the line after the recvmsg call: MSG_CTRUNC was clear, 'received' bytes.
    private int ReceiveAfterRecvmsg(ReadOnlySpan<byte> control, int received, Span<DevmemFragment> fragments)
    {
        var sink = new FragmentSink(fragments, _ledger.Held);
        return TokenLedger.Accept(control, received, ref sink, owner: 0).Fragments;
    }

    // DevmemSocket.Release in zero-copy mode: the ledger's batched release with the stub for the syscall.
    private void Release(ReadOnlySpan<DevmemFragment> fragments)
    {
        var stub = default(StubReleaser);
        var problems = default(ReleaseProblems);
        _ledger.Queue(fragments, owner: 0, ref stub, ref problems);
        problems.ThrowIfAny();
    }

    private readonly struct StubReleaser : ITokenReleaser
    {
        public int DontNeed(ReadOnlySpan<dmabuf_token> ranges) => DontNeedStub(ranges);
    }

    // Stands in for setsockopt(SO_DEVMEM_DONTNEED): reads the ranges, returns the tokens they cover
    // (bench/native/cmsgwalk.c dontneed_stub does the same).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int DontNeedStub(ReadOnlySpan<dmabuf_token> ranges)
    {
        int freed = 0;
        foreach (ref readonly dmabuf_token range in ranges)
        {
            freed += (int)range.token_count;
        }

        return freed;
    }

    private void BuildBuffers()
    {
        int f = FragmentsPerReceive;
        _receives = FragmentsPerInvoke / f;
        if (_receives * f != FragmentsPerInvoke)
        {
            throw new InvalidOperationException($"{FragmentsPerInvoke} fragments do not divide into receives of {f}");
        }

        _stride = f * Space;
        _buffers = GC.AllocateArray<byte>(_receives * _stride, pinned: true);
        _lengths = new int[_receives];
        _received = new long[_receives];

        // The kernel's view of the socket's tokens: held by the application or not yet released.
        var rng = new Random(20261125);
        const int TokenSpace = 1 << 14;
        var inUse = new bool[TokenSpace];
        for (int t = 1; t < TokenSpace; t++)
        {
            inUse[t] = rng.Next(40) == 0;   // held for the whole run: a gap
        }

        var notYetReleased = new List<int>(TokenRanges.MaxTokensPerCall);
        for (int r = 0; r < _receives; r++)
        {
            var buf = _buffers.AsSpan(r * _stride, _stride);
            long received = 0;
            int next = 1;
            for (int i = 0; i < f; i++)
            {
                while (inUse[next])
                {
                    next++;
                }

                int token = next;
                inUse[token] = true;

                // A fragment never crosses a 4 KiB niov; most are whole pages, some are an MSS.
                uint size = rng.Next(8) == 0 ? 1448u : 4096u;
                ulong offset = (ulong)rng.Next(16000) * 4096;
                var m = buf.Slice(i * Space, Space);
                BinaryPrimitives.WriteUInt64LittleEndian(m, Space);   // cmsg_len = CMSG_LEN(24)
                BinaryPrimitives.WriteInt32LittleEndian(m[8..], SolSocket);
                BinaryPrimitives.WriteInt32LittleEndian(m[12..], ScmDevmemDmabuf);
                BinaryPrimitives.WriteUInt64LittleEndian(m[16..], offset);   // frag_offset
                BinaryPrimitives.WriteUInt32LittleEndian(m[24..], size);     // frag_size
                BinaryPrimitives.WriteUInt32LittleEndian(m[28..], (uint)token);   // frag_token
                BinaryPrimitives.WriteUInt32LittleEndian(m[32..], 1);        // dmabuf_id
                BinaryPrimitives.WriteUInt32LittleEndian(m[36..], 0);        // flags
                received += size;
            }

            _lengths[r] = f * Space;
            _received[r] = received;

            // Released right after the receive, reaching the kernel in flushes of 1024, as above.
            var buffer = _buffers.AsSpan(r * _stride, _stride);
            for (int i = 0; i < f; i++)
            {
                notYetReleased.Add((int)BinaryPrimitives.ReadUInt32LittleEndian(buffer[(i * Space + 28)..]));
                if (notYetReleased.Count == TokenRanges.MaxTokensPerCall)
                {
                    foreach (int t in notYetReleased)
                    {
                        inUse[t] = false;
                    }

                    notYetReleased.Clear();
                }
            }
        }
    }

    private delegate* unmanaged<nint, byte*, int*, long*, int, int, long> LoadC(string file, out nint lib, out nint walker)
    {
        string path = Path.Combine(AppContext.BaseDirectory, file);
        lib = NativeLibrary.Load(path);
        var create = (delegate* unmanaged<int, nint>)NativeLibrary.GetExport(lib, "cmsgwalk_new");
        var run = (delegate* unmanaged<nint, byte*, int*, long*, int, int, long>)NativeLibrary.GetExport(lib, "cmsgwalk_run");
        walker = create(FragmentsPerReceive);
        if (walker == 0)
        {
            throw new InvalidOperationException($"cmsgwalk_new failed in {path}");
        }

        return run;
    }

    private static void FreeC(nint lib, nint walker)
    {
        if (lib == 0)
        {
            return;
        }

        var free = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "cmsgwalk_free");
        free(walker);
        NativeLibrary.Free(lib);
    }
}
