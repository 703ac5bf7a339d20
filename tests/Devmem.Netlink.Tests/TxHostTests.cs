using System.Net;
using System.Net.Sockets;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Netlink.Netdev;
using Devmem.Receive;
using Devmem.Transmit;

namespace Devmem.Netlink.Tests;

// Devmem TX against the host kernel (6.18: bind-tx exists, but no device here supports netmem TX):
// the refusals, and the kernel's own parse of the cmsg we build. Sending from a dma-buf runs in the
// testnic guest (scripts/checks/lib/ncdevmem-guest.sh, G).
[Tier(Tier.HostKernel)]
public sealed class TxHostTests
{
    private static bool KernelHasBindTx()
    {
        using NetdevClient netdev = NetdevClient.Open();
        return netdev.Supports("bind-tx");
    }

    [Fact]
    public void Loopback_is_refused_by_the_kernel_with_its_message()
    {
        Assert.SkipUnless(KernelHasBindTx(), $"the running kernel ({RunningKernel.Release}) has no bind-tx (6.16+)");
        NetlinkException e = Assert.Throws<NetlinkException>(() => DevmemTxSocket.CheckInterface("lo"));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("bind-tx", e.Operation);
        Assert.Equal("Driver does not support netmem TX", e.KernelMessage);
    }

    [Fact]
    public void A_veth_in_a_namespace_is_found_there_and_refused_by_the_kernel()
    {
        Assert.SkipUnless(KernelHasBindTx(), $"the running kernel ({RunningKernel.Release}) has no bind-tx (6.16+)");
        using var ns = new NetNamespace();
        // "va" exists only in the namespace: finding it there (not ENODEV) and the driver's refusal prove the
        // ifindex lookup and the netlink socket both live in the caller's namespace.
        NetlinkException e = ns.Enter(() => Assert.Throws<NetlinkException>(() => DevmemTxSocket.CheckInterface("va")));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal("Driver does not support netmem TX", e.KernelMessage);
    }

    [Fact]
    public void An_unknown_interface_is_ENODEV()
    {
        DevmemException e = Assert.Throws<DevmemException>(() => DevmemTxSocket.CheckInterface("nosuchif0"));
        Assert.Equal("ENODEV", e.ErrnoName);
        Assert.Contains("ip link", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Host_memory_is_refused_before_any_socket_is_made()
    {
        using HostMemory memory = HostMemory.Create(1 << 20, "tx-host");
        ArgumentException e = Assert.Throws<ArgumentException>(() => DevmemTxSocket.Connect(memory, "lo", new IPEndPoint(IPAddress.Loopback, 9)));
        Assert.Contains("not a dma-buf", e.Message, StringComparison.Ordinal);
    }

    // The kernel parses our cmsg (net/core/sock.c __sock_cmsg_send, net/ipv4/tcp.c tcp_sendmsg_locked):
    // with binding id 0 it is accepted and means "no devmem", so the iov offset 0 is taken as a user
    // pointer and the zerocopy send faults (EFAULT); an unknown id is EINVAL (net_devmem_get_binding);
    // the same bytes with cmsg_len 24 instead of CMSG_LEN(4) = 20 are EINVAL.
    [Fact]
    public unsafe void The_kernel_accepts_the_cmsg_layout_and_refuses_a_wrong_length_and_an_unknown_id()
    {
        Assert.SkipUnless(KernelHasBindTx(), $"the running kernel ({RunningKernel.Release}) has no bind-tx (6.16+): 6.12 refuses any SCM_DEVMEM_DMABUF on send");
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using Socket accepted = listener.Accept();
        int fd = (int)client.SafeHandle.DangerousGetHandle();
        int one = 1;
        Assert.False(Libc.setsockopt(fd, asm_socket.SOL_SOCKET, asm_socket.SO_ZEROCOPY, &one, sizeof(int)).IsError);

        Errno Send(uint id, ulong cmsgLen)
        {
            byte[] control = new byte[DevmemTxControl.Space];
            DevmemTxControl.WriteBindingId(control, id);
            BitConverter.TryWriteBytes(control, cmsgLen);
            fixed (byte* c = control)
            {
                var iov = new iovec { iov_base = null, iov_len = 64 };
                msghdr m = default;
                m.msg_iov = &iov;
                m.msg_iovlen = 1;
                m.msg_control = c;
                m.msg_controllen = (nuint)control.Length;
                SysResult r = Libc.sendmsg(fd, &m, sys_socket.MSG_ZEROCOPY | sys_socket.MSG_DONTWAIT);
                return r.IsError ? r.Errno : Errno.None;
            }
        }

        Assert.Equal(Errno.EFAULT, Send(0, (ulong)DevmemTxControl.MessageLength));
        Assert.Equal(Errno.EINVAL, Send(0x7fff_fff0, (ulong)DevmemTxControl.MessageLength));
        Assert.Equal(Errno.EINVAL, Send(0, 24));
    }
}
