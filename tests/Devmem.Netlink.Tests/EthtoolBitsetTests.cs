using Devmem.Netlink.Ethtool;
using static Devmem.Interop.EthtoolNetlink;

namespace Devmem.Netlink.Tests;

// Verbose ethtool bitsets built to the kernel's layout (net/ethtool/bitset.c ethnl_put_bitset32):
// a list (NOMASK, only set bits listed) and a value/mask set (every bit of the mask listed, the set
// ones with ETHTOOL_A_BITSET_BIT_VALUE).
[Tier(Tier.Pure)]
public sealed class EthtoolBitsetTests
{
    private static void Bit(ref NetlinkWriter w, uint index, string name, bool value)
    {
        int bit = w.BeginNested(ETHTOOL_A_BITSET_BITS_BIT);
        w.WriteU32(ETHTOOL_A_BITSET_BIT_INDEX, index);
        w.WriteString(ETHTOOL_A_BITSET_BIT_NAME, name);
        if (value)
        {
            w.WriteFlag(ETHTOOL_A_BITSET_BIT_VALUE);
        }

        w.EndNested(bit);
    }

    private static HashSet<string> Parse(ReadOnlySpan<byte> bytes)
    {
        var set = new HashSet<string>();
        EthtoolParse.Bitset(new NetlinkAttributeReader(bytes), set);
        return set;
    }

    [Fact]
    public void A_list_names_exactly_the_listed_bits()
    {
        Span<byte> buffer = stackalloc byte[512];
        var w = new NetlinkWriter(buffer);
        w.WriteFlag(ETHTOOL_A_BITSET_NOMASK);
        w.WriteU32(ETHTOOL_A_BITSET_SIZE, 64);
        int bits = w.BeginNested(ETHTOOL_A_BITSET_BITS);
        Bit(ref w, 0, "tx-scatter-gather", value: false);
        Bit(ref w, 27, "rx-ntuple-filter", value: false);
        w.EndNested(bits);
        Assert.Equal(["rx-ntuple-filter", "tx-scatter-gather"], Parse(w.Written).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_value_mask_set_names_only_the_bits_with_a_value()
    {
        Span<byte> buffer = stackalloc byte[512];
        var w = new NetlinkWriter(buffer);
        w.WriteU32(ETHTOOL_A_BITSET_SIZE, 64);
        int bits = w.BeginNested(ETHTOOL_A_BITSET_BITS);
        Bit(ref w, 0, "tx-scatter-gather", value: true);
        Bit(ref w, 2, "", value: true); // unnamed bits exist (netdev_features_strings has holes)
        Bit(ref w, 27, "rx-ntuple-filter", value: false);
        w.EndNested(bits);
        HashSet<string> set = Parse(w.Written);
        Assert.Contains("tx-scatter-gather", set);
        Assert.DoesNotContain("rx-ntuple-filter", set);
        Assert.DoesNotContain("", set);
        Assert.False(new EthtoolFeatures(set, set, new HashSet<string>(), set).Supports(EthtoolFeatures.Ntuple));
    }
}
