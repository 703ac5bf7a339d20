using System.Diagnostics.Metrics;
using System.Net;
using Devmem.Netlink;
using Devmem.Setup;
using Microsoft.Extensions.Logging;

namespace Devmem.Transmit;

/// <summary>How <see cref="DevmemTxSocket.Connect(Memory.DeviceMemory, string, IPEndPoint, DevmemTxOptions)"/> connects and sends.</summary>
public sealed class DevmemTxOptions
{
    /// <summary>
    /// What to do when devmem TX is impossible on a valid configuration (<see cref="DevmemFallbackKind.NotDmabuf"/>,
    /// <see cref="DevmemFallbackKind.BindTxUnsupported"/>): <see cref="DevmemFallback.Never"/> (the default)
    /// throws the reason; <see cref="DevmemFallback.Copy"/> sends over plain TCP instead, with the same API.
    /// A missing interface, missing privileges and connection failures are errors either way.
    /// </summary>
    public DevmemFallback Fallback { get; init; } = DevmemFallback.Never;

    /// <summary>Address (and port) to bind before connecting, or null.</summary>
    public IPEndPoint? LocalEndPoint { get; init; }

    /// <summary>
    /// The most bytes of sends not yet reported complete before a send waits for completions; null for the
    /// memory's size, 0 for no bound. A single send larger than the bound waits until nothing is in flight.
    /// </summary>
    public long? MaxBytesInFlight { get; init; }

    /// <summary>Where to log; none by default.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The factory whose "Devmem" meter gets the TX instruments; null for the library's static meter.</summary>
    public IMeterFactory? MeterFactory { get; init; }

    internal static DevmemFallbackKind? FallbackKindOf(Exception e) => e switch
    {
        NetlinkNotSupportedException => DevmemFallbackKind.BindTxUnsupported,
        NetlinkException { Errno: Interop.Errno.EOPNOTSUPP } => DevmemFallbackKind.BindTxUnsupported,
        _ => null,
    };
}

/// <summary>Whether devmem TX is possible on an interface, as <see cref="DevmemTxSocket.Probe"/> found it, without throwing.</summary>
/// <param name="InterfaceName">The interface asked about.</param>
/// <param name="IsAvailable">bind-tx exists and the interface's driver supports netmem TX.</param>
/// <param name="FallbackKind">When not available: the kind <see cref="DevmemFallback.Copy"/> falls back on; null when
/// the reason is an error under any policy (no such interface, missing privileges).</param>
/// <param name="Error">When not available: the failure, with the errno and the kernel's own message.</param>
public sealed record DevmemTxProbe(string InterfaceName, bool IsAvailable, DevmemFallbackKind? FallbackKind, DevmemIOException? Error)
{
    /// <summary>Why not, in the kernel's words where it gave them; null when available.</summary>
    public string? Reason => Error?.Message;
}
