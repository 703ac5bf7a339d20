using Microsoft.Extensions.Logging;

namespace Devmem.Samples.Receiver;

/// <summary>Every line the sample itself logs (category <c>DevmemReceiver</c>), each with its event id (README.md).</summary>
internal static partial class Log
{
    public const string Category = "DevmemReceiver";

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "DevmemReceiver ready: {Mode} on {Interface}, validation {Validation}")]
    public static partial void Ready(ILogger logger, string mode, string @interface, string validation);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Connection {Id} from {Remote}: receiving ({Mode})")]
    public static partial void Opened(ILogger logger, long id, string remote, string mode);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Connection {Id} from {Remote}: {Outcome}, {Bytes} bytes ({FragmentBytes} in fragments) in {Batches} batches, {Errors} validation errors")]
    public static partial void Closed(ILogger logger, long id, string remote, string outcome, long bytes, long fragmentBytes, long batches, long errors);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Connection {Id}: failed validation: expected={Expected}, actual={Actual}, stream offset={Offset}")]
    public static partial void Mismatch(ILogger logger, long id, byte expected, byte actual, long offset);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Connection {Id} from {Remote} failed: {Reason}")]
    public static partial void Failed(ILogger logger, long id, string remote, string reason);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Health {Status}: {Description}")]
    public static partial void Health(ILogger logger, string status, string description);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "DevmemReceiver summary: connections {Connections} (validated {Validated}, received unvalidated {Received}, cut short by the stop {CutShort}, failed {Failed}); bytes {Bytes} (dmabuf {Dmabuf}, copied {Copied}, linear {Linear}); fragments {Fragments}; release calls {ReleaseCalls}; tokens outstanding {TokensOutstanding}; health while running {Health}; exit {Exit}")]
    public static partial void Summary(ILogger logger, long connections, long validated, long received, long cutShort, long failed, long bytes, long dmabuf, long copied, long linear, long fragments, long releaseCalls, long tokensOutstanding, string health, int exit);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "DevmemReceiver did not start (exit 1): {Reason}")]
    public static partial void StartFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "DevmemReceiver's stop failed (exit 1): {Reason}")]
    public static partial void StopFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "Every finished connection validated: exit 0")]
    public static partial void AllValidated(ILogger logger);

    [LoggerMessage(EventId = 10, Level = LogLevel.Error, Message = "Not every finished connection validated ({Failed} failed): exit 1")]
    public static partial void NotAllValidated(ILogger logger, long failed);
}
