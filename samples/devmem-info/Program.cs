// devmem-info: shows what the kernel knows about devmem-capable NICs, in the kernel's own terms.
// What exists today is only this entry point; the netdev dumps arrive with later work.

namespace Devmem.Cli;

internal static class Program
{
    private const string Usage = """
        Usage: devmem-info [--help]

        Shows the kernel's netdev state relevant to devmem TCP.
        This build is the project skeleton: no subcommands are built yet.

          --help    show this text and exit
        """;

    private static int Main(string[] args)
    {
        if (args is ["--help"] or ["-h"])
        {
            Console.Out.WriteLine(Usage);
            return 0;
        }

        if (args.Length == 0)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        Console.Error.WriteLine($"devmem-info: unknown argument '{args[0]}'. Run 'devmem-info --help' for what this build has.");
        return 2;
    }
}
