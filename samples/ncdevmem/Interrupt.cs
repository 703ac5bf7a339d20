using System.Net.Sockets;
using System.Runtime.InteropServices;
using Devmem.Setup;

namespace Devmem.Cli;

/// <summary>
/// SIGINT, SIGTERM, SIGHUP (an ssh session that drops) and SIGQUIT: cancel the default action
/// (termination), run the registered actions (close the listener, shut the connection down) so the main
/// flow ends and disposes the NIC setup; Report then undoes, says what was undone, prints the JSON
/// summary (ok false, the signal) with --json, and gives the conventional status, 128 + the signal's number.
/// </summary>
internal sealed class Interrupt : IDisposable
{
    private static readonly (PosixSignal Signal, int Number)[] Handled =
    [
        (PosixSignal.SIGHUP, 1),
        (PosixSignal.SIGINT, 2),
        (PosixSignal.SIGQUIT, 3),
        (PosixSignal.SIGTERM, 15),
    ];

    private readonly PosixSignalRegistration[] _registrations;
    private readonly List<Action> _actions = [];
    private readonly Lock _lock = new();

    public Interrupt()
    {
        _registrations = [.. Handled.Select(h => PosixSignalRegistration.Create(h.Signal, Handle))];
    }

    public PosixSignal? Signal { get; private set; }

    /// <summary>The exit status for a signal: 128 + its number (signal(7), x86_64 and arm64 numbering).</summary>
    public static int ExitStatus(PosixSignal signal) => 128 + Handled.Single(h => h.Signal == signal).Number;

    public void OnInterrupt(Action action)
    {
        lock (_lock)
        {
            _actions.Add(action);
            if (Signal is not null)
            {
                Run(action);
            }
        }
    }

    /// <summary>Undoes <paramref name="setup"/> (none yet: nothing was configured), reports, returns the exit status.</summary>
    public int Report(Options o, DevmemRxSetup? setup, Action<string>? printSummary)
    {
        PosixSignal signal = Signal!.Value;
        // Copy mode with no change (loopback, or a NIC that cannot bind) configured nothing: say so, not "undone".
        bool configured = setup is not null && (setup.IsZeroCopy || setup.Changes.Count > 0);
        IReadOnlyList<Exception> failures = setup?.Undo() ?? [];
        string what = failures.Count > 0
            ? "undo FAILED: " + string.Join("; ", failures.Select(f => CliProcess.OneLine(f.Message)))
            : configured ? "NIC configuration undone"
            : setup is null ? "nothing was configured on the NIC yet"
            : "nothing was configured on the NIC (copy mode)";
        string line = $"interrupted by {signal}; {what}";
        Console.Error.WriteLine($"ncdevmem: {line}");
        Outcome.Record(line);
        printSummary?.Invoke(signal.ToString());

        Outcome.JsonFailure(o, line, setup is null ? null : setup.IsZeroCopy ? "zero-copy" : "copy", signal.ToString());
        return failures.Count > 0 ? 1 : ExitStatus(signal);
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _registrations)
        {
            r.Dispose();
        }
    }

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        lock (_lock)
        {
            if (Signal is not null)
            {
                return;
            }

            Signal = context.Signal;
            foreach (Action a in _actions)
            {
                Run(a);
            }
        }
    }

    private static void Run(Action a)
    {
        try
        {
            a();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
