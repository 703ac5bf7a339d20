namespace Devmem.Netlink;

/// <summary>
/// An attribute this library's spec does not know (from a newer kernel), kept as received so that no
/// information is dropped.
/// </summary>
/// <param name="Type">The attribute type, flags masked off.</param>
/// <param name="IsNested">Whether NLA_F_NESTED was set.</param>
/// <param name="Payload">A copy of the payload.</param>
public readonly record struct NetlinkRawAttr(ushort Type, bool IsNested, ReadOnlyMemory<byte> Payload)
{
    internal static NetlinkRawAttr From(NetlinkAttr a) => new(a.Type, a.IsNested, a.Payload.ToArray());

    internal static void Add(ref List<NetlinkRawAttr>? list, NetlinkAttr a) => (list ??= []).Add(From(a));

    internal static IReadOnlyList<NetlinkRawAttr> Done(List<NetlinkRawAttr>? list) => list is null ? Array.Empty<NetlinkRawAttr>() : list;
}
