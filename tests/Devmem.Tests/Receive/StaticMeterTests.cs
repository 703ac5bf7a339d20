namespace Devmem.Tests.Receive;

/// <summary>
/// Test classes that receive through sockets recording on the library's static "Devmem" meter, or listen
/// to it, run one after the other: a listener's callback runs on the recording thread, so a listening
/// test running beside CopyFallbackTests' allocation count made that count non-zero (69,552 bytes in one
/// suite run) although the receive path allocated nothing.
/// </summary>
[CollectionDefinition(Name)]
public sealed class StaticMeterTests
{
    public const string Name = "Devmem static meter";
}
