using Devmem.Validation;

namespace Devmem.Tests.Validation;

[Tier(Tier.Pure)]
public class NcdevmemPatternTests
{
    // What `yes $(printf '\x01\x02\x03\x04\x05\x06')` writes: "\x01\x02\x03\x04\x05\x06\n" repeated.
    private static byte[] YesOutput(int length)
    {
        byte[] line = [1, 2, 3, 4, 5, 6, (byte)'\n'];
        return Enumerable.Range(0, length).Select(i => line[i % line.Length]).ToArray();
    }

    [Fact]
    public void Period_7_accepts_what_yes_of_bytes_1_to_6_writes_split_anywhere()
    {
        var stream = YesOutput(100_003);
        var v = new NcdevmemPattern(7);
        int at = 0;
        var rng = new Random(7);
        while (at < stream.Length)
        {
            int n = Math.Min(stream.Length - at, rng.Next(1, 9000));
            Assert.Equal(0, v.Validate(stream.AsSpan(at, n)));
            at += n;
        }

        Assert.Equal(0, v.Errors);
        Assert.Equal(stream.Length, v.Bytes);
    }

    [Fact]
    public void The_6_12_variant_expects_zero_as_terminator()
    {
        var stream = YesOutput(700).Select(b => b == (byte)'\n' ? (byte)0 : b).ToArray();
        Assert.Equal(0, new NcdevmemPattern(7, terminator: 0).Validate(stream));
        // 100 terminators differ; validation stops at the 21st, where ncdevmem exits.
        var newest = new NcdevmemPattern(7);
        Assert.Equal(NcdevmemPattern.MaxErrors + 1, newest.Validate(stream));
        Assert.True(newest.Failed);
    }

    [Fact]
    public void Mismatches_are_reported_with_expected_actual_and_index_as_ncdevmem_prints_them()
    {
        var stream = YesOutput(50);
        stream[10] = 0xEE;
        var seen = new List<(byte, byte, long)>();
        var v = new NcdevmemPattern(7);
        Assert.Equal(1, v.Validate(stream, (e, a, i) => seen.Add((e, a, i))));
        Assert.Equal((byte)4, seen[0].Item1); // index 10: seed (1 + 10) % 7 = 4
        Assert.Equal((byte)0xEE, seen[0].Item2);
        Assert.Equal(10, seen[0].Item3);
        Assert.False(v.Failed);
    }

    [Fact]
    public void More_than_twenty_errors_fail_and_the_count_carries_across_buffers()
    {
        var v = new NcdevmemPattern(7);
        var bad = new byte[15];
        v.Validate(bad);
        Assert.False(v.Failed);
        v.Validate(bad);
        Assert.True(v.Failed);
    }

    [Fact]
    public void A_garbage_stream_reports_21_mismatches_and_stops_there_as_ncdevmem_exits()
    {
        // 100 KB of bytes the pattern never has: before, one report per byte (65,296 lines from ncdevmem).
        var garbage = new byte[100_000];
        Array.Fill(garbage, (byte)0xEE);
        var v = new NcdevmemPattern(7);
        int calls = 0;
        v.Validate(garbage, (_, _, _) => calls++);
        Assert.Equal(NcdevmemPattern.MaxErrors + 1, calls);
        Assert.True(v.Failed);
        Assert.Equal(0, v.Validate(garbage, (_, _, _) => calls++));
        Assert.Equal(NcdevmemPattern.MaxErrors + 1, calls);
    }

    [Fact]
    public void Fill_generates_what_Validate_accepts_for_every_period()
    {
        for (int period = 2; period <= 256; period += 17)
        {
            var gen = new NcdevmemPattern(period);
            var check = new NcdevmemPattern(period);
            var buf = new byte[10_000];
            for (int k = 0; k < 5; k++)
            {
                gen.Fill(buf.AsSpan(0, 1 + (k * 1777)));
                Assert.Equal(0, check.Validate(buf.AsSpan(0, 1 + (k * 1777))));
            }
        }
    }
}
