namespace Devmem.Netlink.Tests;

// Decoders of other families that the fuzz tests also exercise (filled in as families are added).
internal static class FamilyParsers
{
    public static IReadOnlyList<Func<NetlinkAttributeReader, object>> All { get; } = [];
}
