using Microsoft.Extensions.Logging;

namespace Devmem.Setup;

/// <summary>
/// The undo stack of <see cref="DevmemRxSetup"/>: each change the setup made, in order, with its exact
/// undo and its record in the journal (<see cref="DevmemSetupJournal"/>, for the next setup after a
/// SIGKILL). <see cref="UndoAll"/> runs the undos in reverse; it is called from <c>Dispose</c>, on a
/// failed step, at process exit and from signal handlers, so it takes a lock and may run more than once.
/// </summary>
internal sealed partial class DevmemSetupUndo
{
    private readonly Lock _lock = new();
    private readonly Stack<(string What, Action Undo, string? Journaled)> _undo = new();
    private readonly List<string> _changes = [];
    private readonly string _interfaceName;
    private readonly ILogger _logger;
    private DevmemSetupJournal? _journal;

    internal DevmemSetupUndo(string interfaceName, ILogger logger)
    {
        _interfaceName = interfaceName;
        _logger = logger;
    }

    /// <summary>What was changed, one line per change, in order.</summary>
    internal IReadOnlyList<string> Changes => _changes;

    /// <summary>The journal's file while it holds a change; null without one.</summary>
    internal string? JournalPath => _journal?.FilePath;

    /// <summary>Starts the journal: from now on each change is recorded before it is made.</summary>
    internal void BeginJournal() => _journal = DevmemSetupJournal.Begin(_interfaceName, _logger);

    /// <summary>Records a change about to be made (a no-op without a journal).</summary>
    internal void Journal(string entry) => _journal?.Add(entry);

    /// <summary>Forgets a record: its change was undone, or the kernel refused it.</summary>
    internal void Unjournal(string entry) => _journal?.Remove(entry);

    /// <summary>A change was made: records it and pushes its undo.</summary>
    /// <param name="change">What changed, for <see cref="Changes"/> and the log.</param>
    /// <param name="undoWhat">What the undo does, for the log.</param>
    /// <param name="undo">The undo.</param>
    /// <param name="journaled">The change's journal record, removed once the change is undone (and kept when its undo fails).</param>
    internal void Done(string change, string undoWhat, Action undo, string? journaled = null)
    {
        lock (_lock)
        {
            _changes.Add(change);
            _undo.Push((undoWhat, undo, journaled));
        }

        LogChange(_logger, _interfaceName, change);
    }

    /// <summary>Undoes every change in reverse order; an undo that fails is logged and returned, the others still run.</summary>
    /// <returns>One <see cref="DevmemSetupException"/> (<see cref="DevmemSetupStep.Undo"/>) per failed undo.</returns>
    internal List<Exception> UndoAll()
    {
        var failures = new List<Exception>();
        lock (_lock)
        {
            while (_undo.TryPop(out (string What, Action Undo, string? Journaled) u))
            {
                try
                {
                    u.Undo();
                    if (u.Journaled is not null)
                    {
                        Unjournal(u.Journaled);
                    }

                    LogUndo(_logger, _interfaceName, u.What);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
                {
                    var f = DevmemSetupException.From(DevmemSetupStep.Undo, _interfaceName, $"cannot {u.What}", e);
                    failures.Add(f);
                    LogUndoFailed(_logger, _interfaceName, f.Message);
                }
            }

            // The journal goes when it holds no change any more. A change whose undo failed keeps its
            // record, also through later calls (Dispose after a failed Apply), for the next setup on this
            // interface to undo once this process has ended.
            if (_journal is { IsEmpty: true })
            {
                _journal.Delete();
                _journal = null;
            }
        }

        return failures;
    }

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "{Interface}: {Change}")]
    private static partial void LogChange(ILogger logger, string @interface, string change);

    [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "{Interface}: undo: {Undo}")]
    private static partial void LogUndo(ILogger logger, string @interface, string undo);

    [LoggerMessage(EventId = 14, Level = LogLevel.Error, Message = "{Interface}: {Error}")]
    private static partial void LogUndoFailed(ILogger logger, string @interface, string error);
}
