using System.Text.RegularExpressions;

namespace Devmem.Tests.Core;

/// <summary>
/// What the packages say to their users: no string in the shipped libraries (src/Devmem, src/Hosting,
/// src/Interop) points to a file of this repository or to one of its CLIs, which a package user does not
/// have. Comments and XML docs are for contributors and are not checked.
/// </summary>
[Tier(Tier.Pure)]
public partial class MessageSourceTests
{
    // A string literal (regular, verbatim or interpolated) on a line that is not a comment.
    [GeneratedRegex("""\$?@?"(?:[^"\\]|\\.)*" """, RegexOptions.IgnorePatternWhitespace)]
    private static partial Regex StringLiteral();

    // Repository paths and the repository's CLIs: the top-level folders (and the workspace folder beside
    // them), any Markdown file (the repository's documents), anything reached through a parent directory.
    [GeneratedRegex(@"(?<![\w.-])(docs|scripts|samples|tests|src|bench|shared)/|devmem-info|\.cache/|\w\.md\b|\.\./")]
    private static partial Regex RepositoryReference();

    [Fact]
    public void No_library_string_points_to_a_repository_path_or_a_CLI()
    {
        string root = SourceTree.Root;
        var offenders = new List<string>();
        int literals = 0;
        foreach (string dir in (string[])["src/Devmem", "src/Hosting", "src/Interop"])
        {
            foreach (string file in Directory.EnumerateFiles(Path.Combine(root, dir), "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains("/obj/", StringComparison.Ordinal) || file.Contains("/bin/", StringComparison.Ordinal))
                {
                    continue;
                }

                string[] lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                {
                    string line = lines[i].TrimStart();
                    if (line.StartsWith("//", StringComparison.Ordinal) || line.StartsWith('[') || line.StartsWith('#'))
                    {
                        continue; // comments, XML docs, attributes ([UapiHeader("...")] names headers), directives
                    }

                    foreach (Match m in StringLiteral().Matches(line))
                    {
                        literals++;
                        if (RepositoryReference().IsMatch(m.Value))
                        {
                            offenders.Add($"{Path.GetRelativePath(root, file)}:{i + 1}: {m.Value}");
                        }
                    }
                }
            }
        }

        Assert.True(literals > 500, $"only {literals} string literals found: the scan is not reading the sources");
        Assert.True(offenders.Count == 0, "library strings that name a repository path or CLI:\n" + string.Join('\n', offenders));
    }
}
