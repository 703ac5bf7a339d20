using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Receive;
using Devmem.Setup;
using Devmem.Validation;

namespace Devmem.Netlink.Tests;

// DevmemRxSetup against the host kernel. The host has no NIC that can take a dma-buf, so what runs
// here is every refusal before bind-rx (the kernel's answers to the ioctls and netlink requests the
// checks make) and the copy fallback; the setup that succeeds runs in the testnic guests.
public sealed class RxSetupHostTests
{
    [Fact]
    public void Loopback_is_refused_at_the_check_step_for_having_no_parent_device_and_nothing_changes()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-lo");
        DevmemNicState before = DevmemNicState.Capture("lo");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() =>
            DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("lo") { Steering = new DevmemFlowSteering(IPAddress.Loopback, 5201) }));
        TestContext.Current.SendDiagnosticMessage(e.Message);
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Equal("lo", e.InterfaceName);
        Assert.StartsWith("check on lo: lo has no parent device", e.Message, StringComparison.Ordinal);
        Assert.Contains("devmem RX needs a NIC whose driver supports it", e.Hint, StringComparison.Ordinal);
        Assert.Equal(before.ToString(), DevmemNicState.Capture("lo").ToString());
    }

    [Fact]
    public void An_unknown_interface_is_ENODEV_at_the_check_step()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-none");
        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("nosuchif0")));
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Equal("ENODEV", e.ErrnoName);
        Assert.Contains("no such interface in this network namespace", e.Message, StringComparison.Ordinal);
        Assert.IsType<Devmem.Netlink.Ethtool.EthtoolIoctlException>(e.InnerException);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("sixteen-chars-xx")]
    public void A_bad_interface_name_is_refused_before_any_call(string name)
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-bad");
        if (name.Length == 0)
        {
            Assert.Throws<ArgumentException>(() => new DevmemRxSetupOptions(name));
            return;
        }

        DevmemSetupException e = Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions(name)));
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Contains("not a valid interface name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_veth_in_a_namespace_is_found_by_the_namespaces_ifindex_and_refused_for_having_no_parent()
    {
        using var ns = new NetNamespace();
        using HostMemory memory = HostMemory.Create(1 << 20, "setup-veth");
        // The thread joined the namespace with setns(2) but sysfs still shows the host's devices: the
        // setup must find "va" through the namespace's own ioctl socket.
        DevmemSetupException e = ns.Enter(() => Assert.Throws<DevmemSetupException>(() => DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("va"))));
        Assert.Equal(DevmemSetupStep.Check, e.Step);
        Assert.Contains("va has no parent device (a virtual interface, driver veth)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Copy_fallback_on_loopback_receives_the_ncdevmem_pattern_validated_through_the_same_fragments()
    {
        using HostMemory memory = HostMemory.Create(4 << 20, "setup-copy");
        using DevmemRxSetup setup = DevmemRxSetup.Apply(memory, new DevmemRxSetupOptions("lo") { Fallback = DevmemFallback.Copy });
        Assert.False(setup.IsZeroCopy);
        Assert.Equal(DevmemSetupStep.Check, setup.FallbackCause!.Step);
        Assert.Contains("lo has no parent device", setup.FallbackReason, StringComparison.Ordinal);
        Assert.Null(setup.Binding);
        Assert.Empty(setup.Changes);

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        const long Total = 32L << 20;
        var pattern = new NcdevmemPattern(7);
        Task sender = Task.Run(() =>
        {
            using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            c.Connect(listener.LocalEndPoint!);
            new NcdevmemPattern(7).Send(c, Total);
            c.Shutdown(SocketShutdown.Send);
        }, TestContext.Current.CancellationToken);
        using Socket conn = listener.Accept();
        using DevmemSocket rx = setup.Wrap(conn);
        Assert.False(rx.IsZeroCopy);
        var fragments = new DevmemFragment[64];
        var linear = new byte[256 << 10];
        long received = 0;
        while (true)
        {
            DevmemReceiveResult r = rx.Receive(fragments, linear);
            if (r.EndOfStream)
            {
                break;
            }

            foreach (DevmemFragment f in fragments.AsSpan(0, r.Fragments))
            {
                pattern.Validate(memory.GetSpan((long)f.Offset, (int)f.Length));
                received += f.Length;
            }

            rx.Release(fragments.AsSpan(0, r.Fragments));
        }

        await sender;
        Assert.Equal(Total, received);
        Assert.Equal(0, pattern.Errors);
        Assert.Equal(Total, pattern.Bytes);
    }
}
