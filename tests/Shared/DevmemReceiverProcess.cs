using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Devmem.TestSupport;

/// <summary>
/// The built samples/DevmemReceiver worker as a running process (compiled into the test projects that
/// start it): its log (stdout and stderr, one line per entry) collected as it comes, waits for a line,
/// signals, and the exit.
/// </summary>
internal sealed class DevmemReceiverProcess : IDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DevmemReceiverProcess(params string[] args)
        : this(args, [])
    {
    }

    /// <summary>Starts the program with <paramref name="args"/> and <paramref name="environment"/> added to the test's environment.</summary>
    public DevmemReceiverProcess(string[] args, IEnumerable<KeyValuePair<string, string?>> environment)
    {
        string exe = Path.Combine(SourceTree.Root, "samples", "DevmemReceiver", "bin", "Release", "net10.0", "DevmemReceiver");
        Assert.True(File.Exists(exe), $"{exe} is not built (dotnet build -c Release Devmem.slnx)");
        _p = ProcessRunner.Start(exe, args, environment: environment);
        _p.StandardInput.Close();
        _p.OutputDataReceived += (_, e) => Append(e.Data, _stdoutClosed);
        _p.ErrorDataReceived += (_, e) => Append(e.Data, _stderrClosed);
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
    }

    private void Append(string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }

        lock (_log)
        {
            _log.Append(line).Append('\n');
        }
    }

    /// <summary>Everything logged so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Lines of the log holding <paramref name="text"/>.</summary>
    public int Count(string text) => Log.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Waits until <paramref name="count"/> lines hold <paramref name="text"/>; fails if the program exits first or the time runs out.</summary>
    public async Task WaitForAsync(string text, int count = 1, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (Count(text) < count)
        {
            Assert.False(_p.HasExited, $"DevmemReceiver exited {(_p.HasExited ? _p.ExitCode : 0)} before logging '{text}' {count} time(s):\n{Log}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), $"DevmemReceiver did not log '{text}' {count} time(s) within {seconds} s:\n{Log}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Sends a signal by name (TERM, INT) with kill(1).</summary>
    public void Signal(string name)
    {
        ProcessResult kill = ProcessRunner.Run("kill", ["-" + name, _p.Id.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(kill.ExitCode == 0, $"kill -{name}: {kill.Stderr}");
    }

    /// <summary>Waits for the exit (and the end of its output) and returns the exit status and the whole log.</summary>
    public async Task<(int Code, string Log)> ExitAsync(int seconds = 120)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            await _p.WaitForExitAsync(limit.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            _p.Kill(entireProcessTree: true);
            Assert.Fail($"DevmemReceiver did not exit within {seconds} s:\n{Log}");
        }

        return (_p.ExitCode, Log);
    }

    /// <summary>The summary line's number after <paramref name="label"/> (e.g. "tokens outstanding").</summary>
    public static long SummaryValue(string log, string label)
    {
        string summary = Assert.Single(log.Split('\n'), l => l.Contains("DevmemReceiver[7]", StringComparison.Ordinal));
        Match m = Regex.Match(summary, $"[ (;]{Regex.Escape(label)} ([0-9]+)");
        Assert.True(m.Success, $"no '{label} N' in the summary: {summary}");
        return long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        if (!_p.HasExited)
        {
            _p.Kill(entireProcessTree: true);
            _p.WaitForExit(10_000);
        }

        _p.Dispose();
    }
}
