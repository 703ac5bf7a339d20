using System.Reflection;
using Xunit.v3;

namespace Devmem.TestSupport;

/// <summary>
/// Every test class of the assembly this file is compiled into says its tier, and every guest class the
/// NIC it is written for: scripts/test.sh selects the testnic guest runs by these traits, so a class
/// without them would silently not run there.
/// </summary>
[Tier(Tier.Pure)]
public sealed class TierTraitTests
{
    [Fact]
    public void Every_test_class_has_one_tier_and_every_guest_class_a_nic()
    {
        Type[] classes = [.. typeof(TierTraitTests).Assembly.GetTypes().Where(IsTestClass)];
        Assert.Contains(typeof(TierTraitTests), classes);
        var wrong = new List<string>();
        foreach (Type t in classes)
        {
            ILookup<string, string> traits = t.GetCustomAttributes(inherit: true).OfType<ITraitAttribute>()
                .SelectMany(a => a.GetTraits()).ToLookup(kv => kv.Key, kv => kv.Value);
            string[] tier = [.. traits[TierAttribute.Name]];
            string[] nic = [.. traits[NicAttribute.Name]];
            if (tier.Length != 1 || !TierAttribute.Values.Values.Contains(tier[0]))
            {
                wrong.Add($"{t.FullName}: tier '{string.Join(',', tier)}' (one of {string.Join(", ", TierAttribute.Values.Values)} expected)");
            }
            else if (tier[0] == TierAttribute.Values[Tier.Guest] && (nic.Length == 0 || nic.Any(n => !NicAttribute.Values.Values.Contains(n))))
            {
                wrong.Add($"{t.FullName}: guest class with nic '{string.Join(',', nic)}' (one or more of {string.Join(", ", NicAttribute.Values.Values)} expected)");
            }
            else if (tier[0] != TierAttribute.Values[Tier.Guest] && nic.Length != 0)
            {
                wrong.Add($"{t.FullName}: nic '{string.Join(',', nic)}' on a {tier[0]} class (only guest classes boot a NIC)");
            }
        }

        Assert.True(wrong.Count == 0, "test classes without a right [Tier] (and, in the guest tier, [Nic]):\n" + string.Join('\n', wrong));
    }

    private static bool IsTestClass(Type t) =>
        t.IsClass && !t.IsAbstract && t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)
            .Any(m => m.GetCustomAttributes(inherit: true).OfType<IFactAttribute>().Any());
}
