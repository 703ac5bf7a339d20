using System.Diagnostics;
using System.Globalization;
using Devmem.Netlink.Ethtool;
using Devmem.Setup;
using Microsoft.Extensions.Logging.Abstractions;

namespace Devmem.Netlink.Tests;

// The setup journal that lets the next setup undo what a SIGKILLed process left on a NIC. The changes
// themselves are undone on the testnic guests (scripts/checks/lib/ncdevmem-guest.sh); here: which
// journals are taken (a dead process's) and which are not (a live one's), against the host kernel's
// answers on lo, which has nothing to restore.
[Collection(nameof(SetupJournalTests))]
[Tier(Tier.HostKernel)]
public sealed class SetupJournalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("devmem-journal").FullName;
    private readonly string? _saved = Environment.GetEnvironmentVariable("DEVMEM_STATE_DIR");

    public SetupJournalTests() => Environment.SetEnvironmentVariable("DEVMEM_STATE_DIR", _dir);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("DEVMEM_STATE_DIR", _saved);
        Directory.Delete(_dir, recursive: true);
    }

    private static int DeadPid()
    {
        using Process p = Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void A_dead_processs_journal_is_undone_newest_first_and_removed_and_a_live_ones_is_left()
    {
        int dead = DeadPid();
        string deadFile = Path.Combine(_dir, $"lo.{dead}.journal");
        // The dead process recorded a header split change, then a flow rule at location 7 (not on lo).
        File.WriteAllText(deadFile, $"pid {dead} 12345\nsplit 1 -\nrule 7\n");
        string liveFile = Path.Combine(_dir, $"lo.{Environment.ProcessId}.journal");
        string self = File.ReadAllText($"/proc/{Environment.ProcessId}/stat");
        string start = self[(self.LastIndexOf(')') + 2)..].Split(' ')[19];
        File.WriteAllText(liveFile, $"pid {Environment.ProcessId} {start}\nsplit 1 -\n");

        using EthtoolClient ethtool = EthtoolClient.Open();
        IReadOnlyList<string> done = DevmemSetupJournal.RecoverAbandoned(ethtool, "lo", NullLogger.Instance);
        TestContext.Current.SendDiagnosticMessage(string.Join(" | ", done));
        // lo has neither ntuple rules nor header split: the kernel refuses both undos (EOPNOTSUPP), and
        // each refusal is reported, newest change first, not thrown.
        Assert.Equal(2, done.Count);
        Assert.StartsWith("could not undo 'rule 7' (left by process", done[0], StringComparison.Ordinal);
        Assert.Contains("ethtool ETHTOOL_GRXCLSRLCNT on lo: EOPNOTSUPP", done[0], StringComparison.Ordinal);
        Assert.StartsWith("could not undo 'split 1 -'", done[1], StringComparison.Ordinal);
        Assert.All(done, d => Assert.Contains($"process {dead.ToString(CultureInfo.InvariantCulture)}", d, StringComparison.Ordinal));
        // Failed undos are not forgotten: the journal stays, for the next setup to try again.
        Assert.Equal([$"pid {dead} 12345", "split 1 -", "rule 7"], File.ReadAllLines(deadFile));
        Assert.True(File.Exists(liveFile));
    }

    [Fact]
    public void Only_the_records_whose_undo_failed_are_kept_and_a_journal_with_none_left_is_deleted()
    {
        int dead = DeadPid();
        string file = Path.Combine(_dir, $"lo.{dead}.journal");
        // "bind 3": the kernel unbound it with the dead process's socket (nothing to undo); "rule 7" fails on lo.
        File.WriteAllText(file, $"pid {dead} 1\nbind 3\nrule 7\n");
        using EthtoolClient ethtool = EthtoolClient.Open();
        IReadOnlyList<string> done = DevmemSetupJournal.RecoverAbandoned(ethtool, "lo", NullLogger.Instance);
        Assert.StartsWith("could not undo 'rule 7'", Assert.Single(done), StringComparison.Ordinal);
        Assert.Contains($"kept in {file}", done[0], StringComparison.Ordinal);
        Assert.Equal([$"pid {dead} 1", "rule 7"], File.ReadAllLines(file));

        File.WriteAllText(file, $"pid {dead} 1\nbind 3\n");
        Assert.Empty(DevmemSetupJournal.RecoverAbandoned(ethtool, "lo", NullLogger.Instance));
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void Recovery_for_an_interface_takes_only_its_own_journals_not_those_of_a_name_it_prefixes()
    {
        int dead = DeadPid();
        // A dead process's journal for "lo.5" (a VLAN-style name): its undo is not lo's to do. Before the
        // exact match, recovery for lo globbed "lo.*.journal", took this one, applied its undo to lo and deleted it.
        string other = Path.Combine(_dir, $"lo.5.{dead}.journal");
        File.WriteAllText(other, $"pid {dead} 1\nrule 7\n");
        using EthtoolClient ethtool = EthtoolClient.Open();
        Assert.Empty(DevmemSetupJournal.RecoverAbandoned(ethtool, "lo", NullLogger.Instance));
        Assert.True(File.Exists(other));
        // A name is not a pattern: '*' is a valid name character (dev_valid_name), "l*" is not "lo.5".
        Assert.Empty(DevmemSetupJournal.RecoverAbandoned(ethtool, "l*", NullLogger.Instance));
        Assert.True(File.Exists(other));
        Assert.True(DevmemSetupJournal.IsJournalOf($"lo.5.{dead}.journal", "lo.5"));
        Assert.False(DevmemSetupJournal.IsJournalOf($"lo.5.{dead}.journal", "lo"));
        Assert.False(DevmemSetupJournal.IsJournalOf($"lo.{dead}.journal.tmp", "lo"));
        Assert.False(DevmemSetupJournal.IsJournalOf("lo.x.journal", "lo"));
    }

    [Fact]
    public void A_journal_is_written_ahead_and_deleted_when_everything_was_undone()
    {
        var journal = DevmemSetupJournal.Begin("lo", NullLogger.Instance);
        string file = Path.Combine(_dir, $"lo.{Environment.ProcessId}.journal");
        journal.Add("rss 0,1,0,1");
        Assert.Equal($"rss 0,1,0,1", File.ReadAllLines(file)[1]);
        Assert.StartsWith($"pid {Environment.ProcessId} ", File.ReadAllLines(file)[0], StringComparison.Ordinal);
        journal.Add("rule 3");
        // An undone change leaves the journal, wherever it is in it; one whose undo failed stays.
        journal.Remove("rss 0,1,0,1");
        Assert.Equal(["rule 3"], File.ReadAllLines(file)[1..]);
        Assert.False(journal.IsEmpty);
        journal.Remove("rule 3");
        Assert.Single(File.ReadAllLines(file));
        Assert.True(journal.IsEmpty);
        Assert.Equal(file, journal.FilePath);
        journal.Delete();
        Assert.False(File.Exists(file));
    }
}
