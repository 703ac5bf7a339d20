using System.Text.RegularExpressions;
using Devmem.Setup;

namespace Devmem.Tests.Core;

/// <summary>
/// docs/troubleshooting.md against the code, so that it cannot drift: every public exception type has a
/// section, every setup step and fallback kind is named, and every errno-keyed hint the library attaches
/// (the <c>Errno.X =&gt; "..."</c> tables in src/Devmem and src/Hosting) is on a line that names its errno.
/// </summary>
[Tier(Tier.Pure)]
public partial class TroubleshootingDocTests
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(SourceTree.Root, "docs/troubleshooting.md"));

    // Errno.A or Errno.B => "text" (or $"text with {holes}").
    [GeneratedRegex("""((?:(?:Interop\.)?Errno\.\w+)(?:\s+or\s+(?:Interop\.)?Errno\.\w+)*)\s*=>\s*\$?"((?:[^"\\]|\\.)*)" """, RegexOptions.IgnorePatternWhitespace)]
    private static partial Regex ErrnoHint();

    [GeneratedRegex(@"Errno\.(\w+)")]
    private static partial Regex ErrnoName();

    [GeneratedRegex(@"\{[^{}]*\}")]
    private static partial Regex Hole();

    [Fact]
    public void Every_public_exception_type_has_a_section()
    {
        Type[] types = [.. typeof(DevmemIOException).Assembly.GetExportedTypes().Where(t => typeof(Exception).IsAssignableFrom(t))];
        Assert.NotEmpty(types);
        foreach (Type t in types)
        {
            Assert.True(Doc.Contains($"\n### {t.Name}\n", StringComparison.Ordinal), $"docs/troubleshooting.md has no '### {t.Name}' section");
        }
    }

    [Fact]
    public void Every_setup_step_and_fallback_kind_is_named()
    {
        foreach (string name in Enum.GetNames<DevmemSetupStep>().Concat(Enum.GetNames<DevmemFallbackKind>()))
        {
            Assert.True(Doc.Contains($"| `{name}` |", StringComparison.Ordinal), $"docs/troubleshooting.md has no table row for `{name}`");
        }
    }

    [Fact]
    public void Every_errno_hint_in_the_code_is_in_the_doc_on_a_line_naming_its_errno()
    {
        string[] lines = Doc.Split('\n');
        var missing = new List<string>();
        int hints = 0;
        foreach (string dir in (string[])["src/Devmem", "src/Hosting"])
        {
            foreach (string file in Directory.EnumerateFiles(Path.Combine(SourceTree.Root, dir), "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains("/obj/", StringComparison.Ordinal))
                {
                    continue;
                }

                foreach (Match m in ErrnoHint().Matches(File.ReadAllText(file)))
                {
                    hints++;
                    // The constant text: the longest piece between interpolation holes (a hole with a string
                    // inside it ends the literal's match early: what follows its '{' is not text).
                    string constant = Hole().Replace(m.Groups[2].Value, "\u0001");
                    int open = constant.IndexOf('{', StringComparison.Ordinal);
                    constant = open < 0 ? constant : constant[..open];
                    string text = constant.Split('\u0001').OrderByDescending(p => p.Length).First().Replace("\\\"", "\"", StringComparison.Ordinal);
                    string[] errnos = [.. ErrnoName().Matches(m.Groups[1].Value).Select(e => e.Groups[1].Value)];
                    bool found = lines.Any(l => l.Contains(text, StringComparison.Ordinal) && errnos.All(e => l.Contains(e, StringComparison.Ordinal)));
                    if (!found)
                    {
                        missing.Add($"{Path.GetRelativePath(SourceTree.Root, file)}: {string.Join(", ", errnos)} => \"{text}\"");
                    }
                }
            }
        }

        Assert.True(hints >= 25, $"only {hints} errno hints found in the source: the scan is broken");
        Assert.True(missing.Count == 0, "errno hints not in docs/troubleshooting.md (on a line naming the errno):\n" + string.Join('\n', missing));
    }
}
