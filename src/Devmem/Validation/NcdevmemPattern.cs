using System.Net.Sockets;

namespace Devmem.Validation;

/// <summary>
/// The byte pattern the kernel's ncdevmem checks with <c>-v N</c>
/// (tools/testing/selftests/drivers/net/hw/ncdevmem.c <c>validate_buffer</c>): bytes 1, 2, …, N−1 and
/// then a terminator, repeated. The 7.x tool's terminator is <c>'\n'</c> (so <c>-v 7</c> matches
/// <c>yes $(printf '\x01\x02\x03\x04\x05\x06')</c>); 6.12's tool expects 0 there
/// (tools/testing/selftests/net/ncdevmem.c).
/// </summary>
/// <remarks>
/// Like the C tool, the position in the pattern carries over from one buffer to the next, and so does the
/// error count; past <see cref="MaxErrors"/> mismatches validation fails.
/// </remarks>
public sealed class NcdevmemPattern
{
    /// <summary>Mismatches tolerated before validation fails, as ncdevmem (<c>errors &gt; 20</c>).</summary>
    public const int MaxErrors = 20;

    private readonly byte[] _period;
    private int _position;

    /// <summary>Creates a validator/generator for period <paramref name="period"/> (ncdevmem's <c>-v N</c>, N ≥ 2).</summary>
    /// <param name="period">The pattern period N.</param>
    /// <param name="terminator">The byte at the end of each period: '\n' for the 7.x tool, 0 for 6.12's.</param>
    public NcdevmemPattern(int period, byte terminator = (byte)'\n')
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(period, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(period, 256);
        Period = period;
        Terminator = terminator;

        // One period, repeated to a whole number of periods of at least 4 KiB so Fill and Validate
        // compare in large vectorized blocks.
        int reps = Math.Max(1, (4096 + period - 1) / period);
        _period = new byte[reps * period];
        for (int i = 0; i < _period.Length; i++)
        {
            int seed = (1 + i) % period;
            _period[i] = seed == 0 ? terminator : (byte)seed;
        }
    }

    /// <summary>The period N.</summary>
    public int Period { get; }

    /// <summary>The byte that ends each period.</summary>
    public byte Terminator { get; }

    /// <summary>Mismatches seen so far.</summary>
    public long Errors { get; private set; }

    /// <summary>Bytes checked or generated so far.</summary>
    public long Bytes { get; private set; }

    /// <summary>True once more than <see cref="MaxErrors"/> mismatches were seen.</summary>
    public bool Failed => Errors > MaxErrors;

    /// <summary>
    /// Checks the next bytes of the stream; calls <paramref name="onMismatch"/> (expected, actual, index in
    /// <paramref name="data"/>) for each mismatch, as ncdevmem prints them. Returns the mismatches found.
    /// Stops at the mismatch that makes validation fail (<see cref="Failed"/>), as ncdevmem exits there:
    /// a garbage stream gives <see cref="MaxErrors"/> + 1 calls, not one per byte. Once failed, it
    /// checks nothing more.
    /// </summary>
    public int Validate(ReadOnlySpan<byte> data, Action<byte, byte, long>? onMismatch = null)
    {
        int mismatches = 0;
        int done = 0;
        if (Failed)
        {
            return 0;
        }

        while (done < data.Length)
        {
            int n = Math.Min(data.Length - done, _period.Length - _position);
            var expected = _period.AsSpan(_position, n);
            var actual = data.Slice(done, n);
            if (!actual.SequenceEqual(expected))
            {
                for (int i = 0; i < n; i++)
                {
                    if (actual[i] != expected[i])
                    {
                        mismatches++;
                        Errors++;
                        onMismatch?.Invoke(expected[i], actual[i], done + i);
                        if (Failed)
                        {
                            Bytes += done + i + 1;
                            _position = (_position + i + 1) % _period.Length;
                            return mismatches;
                        }
                    }
                }
            }

            done += n;
            _position = (_position + n) % _period.Length;
        }

        Bytes += data.Length;
        return mismatches;
    }

    /// <summary>Writes the next bytes of the pattern into <paramref name="destination"/> (what a sender sends).</summary>
    public void Fill(Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = Math.Min(destination.Length - done, _period.Length - _position);
            _period.AsSpan(_position, n).CopyTo(destination.Slice(done, n));
            done += n;
            _position = (_position + n) % _period.Length;
        }

        Bytes += destination.Length;
    }

    /// <summary>
    /// Sends <paramref name="total"/> bytes of the pattern on a connected socket, then shuts down the sending
    /// side: what <c>yes $(printf '\x01…')</c> piped into netcat sends, for a peer in tests and demos.
    /// </summary>
    public void Send(Socket socket, long total)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        var buffer = new byte[256 * 1024];
        long sent = 0;
        while (sent < total)
        {
            int n = (int)Math.Min(buffer.Length, total - sent);
            Fill(buffer.AsSpan(0, n));
            int offset = 0;
            while (offset < n)
            {
                offset += socket.Send(buffer.AsSpan(offset, n - offset));
            }

            sent += n;
        }

        socket.Shutdown(SocketShutdown.Send);
    }
}
