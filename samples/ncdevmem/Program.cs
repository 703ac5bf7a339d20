// ncdevmem: a C# counterpart of the kernel selftest tools/testing/selftests/drivers/net/hw/ncdevmem.c.
// What exists today is only this entry point; the receive path and the flags arrive with later work.

namespace Devmem.Cli;

internal static class Program
{
    private const string Usage = """
        Usage: ncdevmem [--help] [--demo]

        A C# ncdevmem (devmem TCP receive into a dma-buf), compatible with the kernel selftest.
        This build is the project skeleton: the server, client and self-test modes are not built yet.

          --help    show this text and exit
          --demo    the loopback demo (not built yet: exits 2)
        """;

    private static int Main(string[] args)
    {
        if (args.Length == 0 || args is ["--help"] or ["-h"])
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        if (args is ["--demo"])
        {
            Console.Error.WriteLine("ncdevmem: the --demo mode is not built yet in this version (see README.md).");
            return 2;
        }

        Console.Error.WriteLine($"ncdevmem: unknown argument '{args[0]}'. Run 'ncdevmem --help' for the options this build has.");
        return 2;
    }
}
