using System.Diagnostics;

namespace Devmem.TestSupport;

/// <summary>What a finished program left: its exit status and everything it wrote.</summary>
internal sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// Runs programs for the tests (compiled into every test project by tests/Directory.Build.props):
/// arguments as a list (ArgumentList: no shell, no quoting), standard input given or empty, the
/// environment extended or trimmed, both outputs read concurrently (so a program that fills one pipe
/// while the test waits on the other cannot deadlock), and a time limit past which the program and
/// everything it started are killed.
/// </summary>
internal static class ProcessRunner
{
    /// <summary>The time limit when a caller gives none.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    // How long, after a kill, to wait for the pipes to close so the timeout's message can show the output.
    private static readonly TimeSpan DrainAfterKill = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The termination signals this process ignores (null: none), which a child would inherit ignored:
    /// a suite started with nohup, or as a background job of a non-interactive shell, ignores HUP, INT
    /// and QUIT, and .NET leaves a signal ignored at start alone, so the CLIs' signal handling could not
    /// be tested. Children then start through coreutils' <c>env --default-signal</c> (an exec, same pid),
    /// as from an interactive shell.
    /// </summary>
    internal static readonly string? ResetSignals = IgnoredTerminationSignals();

    private static string? IgnoredTerminationSignals()
    {
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        ulong mask = Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16);
        string[] ignored = [.. new[] { (1, "HUP"), (2, "INT"), (3, "QUIT"), (15, "TERM") }.Where(s => (mask & (1UL << (s.Item1 - 1))) != 0).Select(s => s.Item2)];
        return ignored.Length == 0 ? null : string.Join(',', ignored);
    }

    /// <summary>
    /// Starts <paramref name="file"/> with all three standard streams redirected; the caller reads them,
    /// waits and disposes (for programs a test talks to while they run). <paramref name="environment"/>
    /// entries are added to the test's environment; a null value removes the variable.
    /// </summary>
    public static Process Start(string file, IEnumerable<string> args, string? workingDirectory = null,
        IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        var psi = new ProcessStartInfo(ResetSignals is null ? file : "env")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (ResetSignals is not null)
        {
            psi.ArgumentList.Add("--default-signal=" + ResetSignals);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(file);
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }

        foreach ((string name, string? value) in environment ?? [])
        {
            if (value is null)
            {
                psi.Environment.Remove(name);
            }
            else
            {
                psi.Environment[name] = value;
            }
        }

        return Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
    }

    /// <summary>
    /// Runs <paramref name="file"/> to its end: <paramref name="stdin"/> is written to its standard input,
    /// which is then closed (null: closed at once, so the program reads end of file). Past
    /// <paramref name="timeout"/> (default <see cref="DefaultTimeout"/>) the program and its descendants are
    /// killed and <see cref="TimeoutException"/> says so with the output so far; so it does when the
    /// program exited but something it left running still holds its output open.
    /// </summary>
    public static ProcessResult Run(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null,
        string? workingDirectory = null, IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        string[] argv = [.. args];
        TimeSpan limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        using Process p = Start(file, argv, workingDirectory, environment);
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        Task input = WriteInput(p, stdin);
        if (!p.WaitForExit(limit))
        {
            throw KillAndDescribe(p, file, argv, limit, stdout, stderr);
        }

        return Finish(p, file, argv, limit, clock, stdout, stderr, input);
    }

    /// <summary>
    /// <see cref="Run"/> without blocking a thread; <paramref name="cancellationToken"/> kills the program
    /// (and its descendants) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null,
        string? workingDirectory = null, IEnumerable<KeyValuePair<string, string?>>? environment = null,
        CancellationToken cancellationToken = default)
    {
        string[] argv = [.. args];
        TimeSpan limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        using Process p = Start(file, argv, workingDirectory, environment);
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        Task input = WriteInput(p, stdin);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(limit);
        try
        {
            await p.WaitForExitAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Exception timedOut = KillAndDescribe(p, file, argv, limit, stdout, stderr);
            cancellationToken.ThrowIfCancellationRequested();
            throw timedOut;
        }

        // Wait for the pipes without holding a thread; Finish then finds them closed, or reports what holds them.
        TimeSpan left = limit - clock.Elapsed;
        try
        {
            await Task.WhenAll(stdout, stderr, input).WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        return Finish(p, file, argv, limit, clock, stdout, stderr, input);
    }

    /// <summary>The command line as a reader would type it (for messages only: nothing is run through a shell).</summary>
    public static string Describe(string file, IEnumerable<string> args) => string.Join(' ', [file, .. args]);

    private static Task WriteInput(Process p, string? stdin)
    {
        if (stdin is null)
        {
            CloseInput(p);
            return Task.CompletedTask;
        }

        // On its own task: a program that does not read its input must not block the time limit.
        return Task.Run(() =>
        {
            try
            {
                p.StandardInput.Write(stdin);
            }
            catch (IOException)
            {
                // EPIPE: the program exited or closed its input without reading all of it; its exit status says how it went.
            }
            finally
            {
                CloseInput(p);
            }
        });
    }

    private static void CloseInput(Process p)
    {
        try
        {
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The flush on close met EPIPE: see WriteInput.
        }
    }

    private static ProcessResult Finish(Process p, string file, string[] argv, TimeSpan limit, Stopwatch clock,
        Task<string> stdout, Task<string> stderr, Task input)
    {
        // The program has exited; its pipes close when the last process holding them (a child it left
        // running) exits or closes them.
        TimeSpan left = limit - clock.Elapsed;
        if (!Task.WaitAll([stdout, stderr, input], left > TimeSpan.Zero ? left : TimeSpan.Zero))
        {
            throw new TimeoutException(
                $"{Describe(file, argv)} exited {p.ExitCode}, but its output was still open {limit} after the start: a process it left running holds it");
        }

        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static TimeoutException KillAndDescribe(Process p, string file, string[] argv, TimeSpan limit, Task<string> stdout, Task<string> stderr)
    {
        try
        {
            p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the wait and the kill.
        }

        p.WaitForExit(DrainAfterKill);
        Task.WaitAll([stdout, stderr], DrainAfterKill);
        string Text(Task<string> t) => t.IsCompletedSuccessfully ? t.Result.Trim() : "(still open)";
        return new TimeoutException(
            $"{Describe(file, argv)} did not finish within {limit}: killed with its descendants.\nstdout: {Text(stdout)}\nstderr: {Text(stderr)}");
    }
}
