using Microsoft.Win32.SafeHandles;

namespace Devmem.Netlink.Tests;

// A private network namespace with a veth pair, made with ip(8) and always deleted afterwards, so that
// tests can change devices without touching the host's own interfaces. Code that must open its sockets
// inside the namespace runs on a fresh thread that joined it with setns(2) (a netlink or ioctl socket
// stays in the namespace it was created in).
internal sealed class NetNamespace : IDisposable
{
    private static int s_counter;

    public NetNamespace()
    {
        Name = $"dmnl{Environment.ProcessId}x{Interlocked.Increment(ref s_counter)}";
        Ip("netns", "add", Name);
        try
        {
            Ip("-n", Name, "link", "add", "va", "numrxqueues", "2", "numtxqueues", "2", "type", "veth", "peer", "name", "vb", "numrxqueues", "2", "numtxqueues", "2");
            Ip("-n", Name, "link", "set", "va", "up");
            Ip("-n", Name, "link", "set", "vb", "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }

    public int Ifindex(string ifname) => int.Parse(Exec("cat", $"/sys/class/net/{ifname}/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs a command inside the namespace (ip netns exec remounts /sys for it).</summary>
    public string Exec(string file, params string[] args) => Run("ip", ["netns", "exec", Name, file, .. args]);

    public static void Ip(params string[] args) => Run("ip", args);

    public void Dispose()
    {
        try
        {
            Run("ip", "netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Runs <paramref name="f"/> on a new thread that has joined the namespace.</summary>
    public T Enter<T>(Func<T> f)
    {
        T? result = default;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                using SafeFileHandle ns = File.OpenHandle($"/var/run/netns/{Name}");
                if (Tmds.Linux.LibC.setns((int)ns.DangerousGetHandle(), Tmds.Linux.LibC.CLONE_NEWNET) != 0)
                {
                    throw new InvalidOperationException($"setns({Name}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
                }

                result = f();
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        if (error is not null)
        {
            throw new AggregateException(error);
        }

        return result!;
    }

    private static string Run(string file, params string[] args)
    {
        ProcessResult r = ProcessRunner.Run(file, args);
        return r.ExitCode == 0 ? r.Stdout : throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr.Trim()}");
    }
}
