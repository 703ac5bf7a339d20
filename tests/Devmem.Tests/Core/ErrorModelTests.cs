using System.Reflection;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink;
using Devmem.Setup;

namespace Devmem.Tests.Core;

// One exception root: every failure type the library throws for the host's conditions derives from
// DevmemIOException, with the same property names, and the syscall rules hold in the source.
[Tier(Tier.Pure)]
public class ErrorModelTests
{
    private static readonly Assembly Library = typeof(DevmemIOException).Assembly;

    [Fact]
    public void Every_public_exception_type_of_the_library_derives_from_the_one_root()
    {
        Type[] exceptions = [.. Library.GetExportedTypes().Where(t => typeof(Exception).IsAssignableFrom(t))];
        Assert.True(exceptions.Length >= 9, $"only {exceptions.Length} exception types found");
        foreach (Type t in exceptions)
        {
            Assert.True(t == typeof(DevmemIOException) || t.IsSubclassOf(typeof(DevmemIOException)), $"{t.FullName} does not derive from DevmemIOException");
            Assert.True(t.IsAbstract || t.IsSealed, $"{t.FullName} is neither abstract nor sealed");
            Assert.Empty(t.GetConstructors()); // named factories only: no public positional constructors
            // No second spelling of the errno beside the root's Errno/ErrnoName.
            foreach (string legacy in (string[])["ErrorNumber", "ErrorName", "ErrnoNumber", "Step"])
            {
                if (t == typeof(DevmemSetupException) && legacy == "Step")
                {
                    continue; // the setup's step is an enum of its own (DevmemSetupStep), Operation is its name
                }

                Assert.Null(t.GetProperty(legacy, BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly));
            }
        }
    }

    [Fact]
    public void The_root_carries_the_errno_operation_kernel_message_and_hint_under_one_set_of_names()
    {
        DevmemIOException io = DmabufException.Syscall("UDMABUF_CREATE", Errno.EINVAL, "check the size");
        Assert.Equal(Errno.EINVAL, io.Errno);
        Assert.Equal("EINVAL", io.ErrnoName);
        Assert.Equal("UDMABUF_CREATE", io.Operation);
        Assert.Equal("check the size", io.Hint);
        Assert.Equal((int)Errno.EINVAL, io.HResult);

        DevmemIOException refused = DmabufException.Refused("UDMABUF_CREATE", "over the limit");
        Assert.Equal(Errno.None, refused.Errno);
        Assert.Equal("", refused.ErrnoName);

        string cut = new('x', DevmemIOException.KernelFormattedMessageLimit);
        var setup = DevmemSetupException.From(DevmemSetupStep.BindRx, "eth0", "cannot bind",
            NetlinkException.FromKernel("netdev", "bind-rx", Errno.EINVAL, cut, ".queues.id", null, null));
        Assert.Equal(Errno.EINVAL, setup.Errno);
        Assert.Equal("bind-rx", setup.Operation);
        Assert.Equal(cut, setup.KernelMessage);
        Assert.Equal(".queues.id", setup.BadAttribute);
        Assert.True(setup.KernelMessageMayBeTruncated);
        Assert.Contains("cut short", setup.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_code_outside_the_syscall_layer_calls_libc_or_takes_a_handle_reference_by_hand()
    {
        string src = Path.Combine(SourceTree.Root, "src", "Devmem");
        var offenders = new List<string>();
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(src, file);
            if (rel.StartsWith("Sys" + Path.DirectorySeparatorChar, StringComparison.Ordinal) || rel.StartsWith("obj", StringComparison.Ordinal) || rel.StartsWith("bin", StringComparison.Ordinal))
            {
                continue;
            }

            int n = 0;
            foreach (string line in File.ReadLines(file))
            {
                n++;
                string code = line.TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal))
                {
                    continue;
                }

                if (code.Contains("DangerousAddRef", StringComparison.Ordinal) || code.Contains("Libc.", StringComparison.Ordinal))
                {
                    offenders.Add($"{rel}:{n}: {code}");
                }
            }
        }

        Assert.True(offenders.Count == 0, "system calls outside src/Devmem/Sys:\n" + string.Join('\n', offenders));
    }
}
