using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Devmem.Hosting.Tests;

/// <summary>
/// Every <c>```csharp</c> block of README.md and docs/*.md compiles, as written, against the libraries a
/// package user gets (Devmem, Devmem.Hosting) and the framework: a snippet is a whole file (its usings
/// included, beyond the implicit ones every `dotnet new console` project has), a program when it has
/// top-level statements, else a library. Warnings that a reader would
/// see in their own build fail it too.
/// </summary>
[Tier(Tier.Pure)]
public sealed partial class DocSnippetTests
{
    [GeneratedRegex(@"^```csharp\n(.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    public static TheoryData<string, int> Snippets()
    {
        var data = new TheoryData<string, int>();
        foreach (string file in DocFiles())
        {
            int count = CSharpBlock().Count(File.ReadAllText(Path.Combine(SourceTree.Root, file)));
            for (int i = 0; i < count; i++)
            {
                data.Add(file, i);
            }
        }

        return data;
    }

    private static readonly string[] Readme = ["README.md"];

    private static IEnumerable<string> DocFiles() =>
        Readme.Concat(Directory.EnumerateFiles(Path.Combine(SourceTree.Root, "docs"), "*.md")
            .Select(f => Path.GetRelativePath(SourceTree.Root, f)).Order(StringComparer.Ordinal));

    [Fact]
    public void The_guide_has_snippets_to_compile()
    {
        // The guide's pages each show code; a page losing all of them (or the regex breaking) fails here.
        foreach (string page in (string[])["README.md", "docs/getting-started.md", "docs/concepts.md", "docs/design.md"])
        {
            string text = File.ReadAllText(Path.Combine(SourceTree.Root, page));
            Assert.True(CSharpBlock().Count(text) > 0, $"{page} has no ```csharp block");
        }
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_compiles_as_written(string file, int index)
    {
        string code = CSharpBlock().Matches(File.ReadAllText(Path.Combine(SourceTree.Root, file)))[index].Groups[1].Value;
        var options = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest);
        var ct = TestContext.Current.CancellationToken;
        SyntaxTree tree = CSharpSyntaxTree.ParseText(code, options, path: $"{file}#{index}", cancellationToken: ct);
        bool program = tree.GetRoot(ct).DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax>().Any();
        var compilation = CSharpCompilation.Create(
            $"snippet_{index}",
            [tree, CSharpSyntaxTree.ParseText(ImplicitUsings, options, path: "ImplicitUsings.cs", cancellationToken: ct)],
            References(),
            new CSharpCompilationOptions(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: false));
        using var pe = new MemoryStream();
        var result = compilation.Emit(pe, cancellationToken: ct);
        var problems = result.Diagnostics
            .Where(d => d.Severity == DiagnosticSeverity.Error || (d.Severity == DiagnosticSeverity.Warning && d.WarningLevel <= 4))
            .Select(d => d.ToString())
            .ToArray();
        Assert.True(result.Success && problems.Length == 0, $"{file}, C# block {index + 1}:\n{string.Join('\n', problems)}\n---\n{code}");
    }

    // What the .NET SDK generates for a Microsoft.NET.Sdk project with ImplicitUsings (the console template's default).
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    // The framework (this process's trusted assemblies) and what the test references: Devmem,
    // Devmem.Hosting, Microsoft.Extensions.* (what a user's project gets with the two packages and the
    // Generic Host).
    private static List<MetadataReference> References()
    {
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        var paths = tpa.Split(Path.PathSeparator).ToHashSet(StringComparer.Ordinal);
        string here = Path.GetDirectoryName(typeof(DocSnippetTests).Assembly.Location)!;
        foreach (string dll in Directory.EnumerateFiles(here, "*.dll"))
        {
            string name = Path.GetFileName(dll);
            if (name.StartsWith("Devmem.", StringComparison.Ordinal) && !name.Contains("Tests", StringComparison.Ordinal) && name != "Devmem.Testing.dll"
                || name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal))
            {
                paths.Add(dll);
            }
        }

        return paths.Where(p => IsManaged(p)).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();

        static bool IsManaged(string path)
        {
            try
            {
                AssemblyName.GetAssemblyName(path);
                return true;
            }
            catch (BadImageFormatException)
            {
                return false;
            }
        }
    }
}
