namespace Devmem.Netlink.Tests;

// samples/devmem-info as a user meets it: tables, errors in one line, exit codes.
[Tier(Tier.HostKernel)]
public class DevmemInfoCliTests
{
    [Fact]
    public void Unknown_interface_is_one_line_and_exit_1()
    {
        Tools.Result r = Tools.Run(Tools.DevmemInfo, "queue", "--ifname", "no-such-if0");
        Assert.Equal(1, r.ExitCode);
        Assert.Empty(r.Stdout);
        Assert.Equal("devmem-info: no interface named 'no-such-if0' in this network namespace (see 'ip link').", r.Stderr.TrimEnd());
    }

    [Fact]
    public void Bad_usage_is_exit_2_without_a_stack_trace()
    {
        foreach (string[] args in (string[][])[[], ["bogus"], ["dev", "--scope", "queue"], ["qstats", "--scope", "sideways"], ["dev", "--ifname"]])
        {
            Tools.Result r = Tools.Run(Tools.DevmemInfo, args);
            Assert.Equal(2, r.ExitCode);
            Assert.Single(r.Stderr.TrimEnd().Split('\n'));
            Assert.StartsWith("devmem-info: ", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Help_lists_exactly_the_commands_that_work()
    {
        Tools.Result r = Tools.Run(Tools.DevmemInfo, "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (string c in (string[])["dev", "queue", "napi", "page-pool", "qstats"])
        {
            Assert.Contains($"  {c} ", r.Stdout, StringComparison.Ordinal);
            Assert.Equal(0, Tools.Run(Tools.DevmemInfo, c).ExitCode);
        }
    }

    [Fact]
    public void Tables_name_every_interface_and_align_columns()
    {
        Tools.Result r = Tools.Run(Tools.DevmemInfo, "queue");
        Assert.Equal(0, r.ExitCode);
        string[] lines = r.Stdout.TrimEnd().Split('\n');
        Assert.StartsWith("IFNAME", lines[0], StringComparison.Ordinal);
        int typeColumn = lines[0].IndexOf("TYPE", StringComparison.Ordinal);
        Dictionary<string, int> sysfs = HostNetdevTests.SysfsInterfaces();
        foreach (string line in lines[1..])
        {
            string name = line.Split(' ', 2)[0];
            Assert.True(sysfs.ContainsKey(name), $"'{name}' is not an interface");
            Assert.Matches("^(rx|tx) ", line[typeColumn..]);
        }
    }
}
