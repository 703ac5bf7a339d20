using System.Globalization;
using System.Text;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;
using Microsoft.Extensions.Logging;

namespace Devmem.Setup;

/// <summary>
/// A write-ahead record of what a <see cref="DevmemRxSetup"/> changed on a NIC, in a file per process and
/// interface (<c>/run/devmem/IFNAME.PID.journal</c>, or under <c>DEVMEM_STATE_DIR</c>). A process killed
/// with SIGKILL cannot undo anything itself; the kernel drops its binding with its netlink socket, but
/// header split, the RSS table and the flow rule stay. The next setup on the same interface finds the
/// journal of the dead process and undoes those changes first. /run is a tmpfs, so a reboot forgets
/// journals along with the NIC state they describe.
/// </summary>
internal sealed partial class DevmemSetupJournal
{
    private readonly string? _path;
    private readonly List<string> _lines = [];

    private DevmemSetupJournal(string? path, string header)
    {
        _path = path;
        _lines.Add(header);
    }

    public static string Directory => Environment.GetEnvironmentVariable("DEVMEM_STATE_DIR") is { Length: > 0 } d ? d : "/run/devmem";

    /// <summary>Starts this process's journal for <paramref name="ifname"/>; a no-op journal where the directory cannot be written.</summary>
    public static DevmemSetupJournal Begin(string ifname, ILogger logger)
    {
        int pid = Environment.ProcessId;
        string header = $"pid {pid.ToString(CultureInfo.InvariantCulture)} {StartTime(pid) ?? "?"}";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            return new DevmemSetupJournal(Path.Combine(Directory, $"{ifname}.{pid.ToString(CultureInfo.InvariantCulture)}.journal"), header);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNoJournal(logger, Directory, e.Message);
            return new DevmemSetupJournal(null, header);
        }
    }

    /// <summary>Records one change (before it is made, so a kill between the two leaves an undo that is harmless to repeat).</summary>
    public void Add(string entry)
    {
        _lines.Add(entry);
        Write();
    }

    /// <summary>The journal's file, or null when the directory could not be written.</summary>
    public string? FilePath => _path;

    /// <summary>Whether it records no change (only its header).</summary>
    public bool IsEmpty => _lines.Count <= 1;

    /// <summary>Removes the latest record equal to <paramref name="entry"/> (the change was undone, or never made).</summary>
    public void Remove(string entry)
    {
        int i = _lines.LastIndexOf(entry);
        if (i >= 1)
        {
            _lines.RemoveAt(i);
            Write();
        }
    }

    /// <summary>Deletes the journal (everything was undone).</summary>
    public void Delete()
    {
        if (_path is not null)
        {
            try
            {
                File.Delete(_path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>
    /// Undoes what dead processes' journals for exactly <paramref name="ifname"/> recorded, newest change
    /// first. A journal whose every undo worked is deleted; one with an undo that failed keeps those
    /// records (and only those), so the next setup tries them again, and each failure is reported.
    /// Journals of live processes, and of other interfaces (eth1.5 is not eth1), are left alone.
    /// </summary>
    /// <returns>One line per change undone, and one per undo that failed (starting "could not undo").</returns>
    public static IReadOnlyList<string> RecoverAbandoned(EthtoolClient ethtool, string ifname, ILogger logger)
    {
        var done = new List<string>();
        string[] files;
        try
        {
            // Every journal, then the name matched exactly: a glob would take eth1.5's journals for
            // eth1's, and interface names may hold '*', '?' or '[' (net/core/dev.c dev_valid_name).
            files = System.IO.Directory.Exists(Directory) ? System.IO.Directory.GetFiles(Directory, "*.journal") : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return done;
        }

        foreach (string file in files)
        {
            if (!IsJournalOf(Path.GetFileName(file), ifname))
            {
                continue;
            }

            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (lines.Length == 0 || lines[0].Split(' ') is not ["pid", var p, var start] || !int.TryParse(p, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            if (StartTime(pid) is { } now && (now == start || start == "?"))
            {
                continue; // that process is alive: its setup is its own
            }

            var failed = new List<string>();
            for (int i = lines.Length - 1; i >= 1; i--)
            {
                (string? what, string? error) = Undo(ethtool, ifname, lines[i]);
                if (error is not null)
                {
                    failed.Insert(0, lines[i]);
                    done.Add($"could not undo '{lines[i]}' (left by process {pid}, which ended without undoing it): {error}; kept in {file} for the next setup");
                    LogUndoFailed(logger, ifname, lines[i], pid, error, file);
                }
                else if (what is not null)
                {
                    done.Add($"{what} (left by process {pid}, which ended without undoing it)");
                    LogRecovered(logger, ifname, pid, what);
                }
            }

            try
            {
                if (failed.Count == 0)
                {
                    File.Delete(file);
                }
                else
                {
                    string tmp = file + ".tmp";
                    File.WriteAllText(tmp, string.Join('\n', [lines[0], .. failed]) + "\n", Encoding.ASCII);
                    File.Move(tmp, file, overwrite: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return done;
    }

    /// <summary>Whether FILE is IFNAME.PID.journal for exactly <paramref name="ifname"/>.</summary>
    internal static bool IsJournalOf(string fileName, string ifname)
    {
        const string Suffix = ".journal";
        if (!fileName.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return false;
        }

        string stem = fileName[..^Suffix.Length];
        int dot = stem.LastIndexOf('.');
        return dot > 0
            && dot < stem.Length - 1 && !stem.AsSpan(dot + 1).ContainsAnyExceptInRange('0', '9')
            && string.Equals(stem[..dot], ifname, StringComparison.Ordinal);
    }

    // (what was undone or null when nothing needed it, null or why the undo failed)
    private static (string? What, string? Error) Undo(EthtoolClient ethtool, string ifname, string line)
    {
        string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        try
        {
            switch (f)
            {
                case ["split", var split, var hds]:
                    ethtool.SetRings(ifname, new EthtoolRingsSettings(
                        TcpDataSplit: split == "-" ? null : (EthtoolTcpDataSplit)byte.Parse(split, CultureInfo.InvariantCulture),
                        HdsThresh: hds == "-" ? null : uint.Parse(hds, CultureInfo.InvariantCulture)));
                    return ($"tcp-data-split/hds-thresh restored ({split}/{hds})", null);
                case ["rss", var table]:
                    uint[] t = [.. table.Split(',').Select(x => uint.Parse(x, CultureInfo.InvariantCulture))];
                    ethtool.RestoreRssIndirection(ifname, new EthtoolRss(null, t, ReadOnlyMemory<byte>.Empty, null, []));
                    return ("RSS indirection table restored", null);
                case ["rule", var loc]:
                    uint location = uint.Parse(loc, CultureInfo.InvariantCulture);
                    if (ethtool.GetFlowRules(ifname).Any(r => r.Location == location))
                    {
                        ethtool.DeleteFlowRule(ifname, location);
                        return ($"flow rule {location} deleted", null);
                    }

                    return (null, null);
                default:
                    return (null, null); // "bind": the kernel unbound it with the dead process's netlink socket
            }
        }
        catch (Exception e) when (e is NetlinkException or EthtoolIoctlException or FormatException or OverflowException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks): tells a live process from a reused pid.</summary>
    private static string? StartTime(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
            string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return rest.Length > 19 ? rest[19] : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void Write()
    {
        if (_path is null)
        {
            return;
        }

        try
        {
            string tmp = _path + ".tmp";
            File.WriteAllText(tmp, string.Join('\n', _lines) + "\n", Encoding.ASCII);
            File.Move(tmp, _path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "no setup journal in {Directory} ({Error}): a SIGKILL would leave the NIC configured")]
    private static partial void LogNoJournal(ILogger logger, string directory, string error);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "{Interface}: {What}, left by process {Pid}, which ended without undoing its setup")]
    private static partial void LogRecovered(ILogger logger, string @interface, int pid, string what);

    [LoggerMessage(EventId = 22, Level = LogLevel.Error, Message = "{Interface}: could not undo '{Record}', left by process {Pid}, which ended without undoing its setup: {Error}; the record stays in {File} for the next setup")]
    private static partial void LogUndoFailed(ILogger logger, string @interface, string record, int pid, string error, string file);
}
