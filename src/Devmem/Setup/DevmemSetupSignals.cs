using System.Runtime.InteropServices;

namespace Devmem.Setup;

/// <summary>
/// Runs a setup's undo at process exit and, when asked, on SIGINT, SIGTERM, SIGHUP and SIGQUIT
/// (<see cref="PosixSignalRegistration"/>). The handlers leave <c>ctx.Cancel</c> false, so the runtime's
/// default action (ending the process) follows the undo. Disposing unregisters them all.
/// </summary>
internal sealed class DevmemSetupSignals : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Action _undo;
    private readonly List<PosixSignalRegistration> _signals = [];
    private bool _processExitHooked;

    private DevmemSetupSignals(Action undo) => _undo = undo;

    /// <summary>Hooks <paramref name="undo"/> to process exit, and to the termination signals when <paramref name="onSignals"/>.</summary>
    internal static DevmemSetupSignals Hook(Action undo, bool onSignals)
    {
        var hooks = new DevmemSetupSignals(undo);
        AppDomain.CurrentDomain.ProcessExit += hooks.OnProcessExit;
        hooks._processExitHooked = true;
        if (onSignals)
        {
            foreach (PosixSignal s in (ReadOnlySpan<PosixSignal>)[PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT])
            {
                hooks._signals.Add(PosixSignalRegistration.Create(s, _ => undo()));
            }
        }

        return hooks;
    }

    /// <summary>Unregisters the handlers (idempotent).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (PosixSignalRegistration r in _signals)
            {
                r.Dispose();
            }

            _signals.Clear();
            if (_processExitHooked)
            {
                AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
                _processExitHooked = false;
            }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => _undo();
}
