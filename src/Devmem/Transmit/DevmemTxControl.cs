using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Receive;

namespace Devmem.Transmit;

/// <summary>A zerocopy completion: the kernel is done with the sends numbered <see cref="First"/> to <see cref="Last"/> (inclusive).</summary>
/// <param name="First">The first completed send (<c>ee_info</c>).</param>
/// <param name="Last">The last completed send (<c>ee_data</c>).</param>
/// <param name="Copied">
/// <c>ee_code</c> was <c>SO_EE_CODE_ZEROCOPY_COPIED</c>: the kernel copied the data instead of sending it
/// from the pages (net/core/skbuff.c <c>__msg_zerocopy_callback</c>); for devmem it should not happen.
/// </param>
public readonly record struct DevmemTxCompletion(uint First, uint Last, bool Copied)
{
    /// <summary>How many sends the range covers (sequence numbers wrap at 2^32).</summary>
    public long Count => (long)unchecked(Last - First) + 1;

    /// <summary>The kernel tool's line for it, "tx complete [lo,hi]".</summary>
    public override string ToString() => $"tx complete [{First},{Last}]";
}

/// <summary>What one <see cref="DevmemTxSocket.Send(long, long, int)"/> did.</summary>
/// <param name="FirstSequence">The zerocopy sequence number of its first <c>sendmsg</c>.</param>
/// <param name="LastSequence">That of its last (the same unless a short send made it call again).</param>
/// <param name="Bytes">Bytes handed to the kernel (all of them).</param>
public readonly record struct DevmemTxSend(uint FirstSequence, uint LastSequence, long Bytes)
{
    /// <summary>How many <c>sendmsg</c> calls it took.</summary>
    public long Calls => (long)unchecked(LastSequence - FirstSequence) + 1;
}

/// <summary>
/// The bytes of devmem TX: the <c>SCM_DEVMEM_DMABUF</c> cmsg a <c>sendmsg</c> carries, and the
/// <c>sock_extended_err</c> completions read back with <c>MSG_ERRQUEUE</c>. Pure: no syscalls.
/// </summary>
public static class DevmemTxControl
{
    /// <summary>
    /// <c>cmsg_len</c> of the TX cmsg: exactly <c>CMSG_LEN(sizeof(__u32))</c> = 20 on 64-bit; the kernel
    /// refuses any other length with EINVAL (net/core/sock.c <c>__sock_cmsg_send</c>, case SCM_DEVMEM_DMABUF).
    /// </summary>
    public static readonly int MessageLength = (int)sys_socket_cmsg.CMSG_LEN(sizeof(uint));

    /// <summary>Control-buffer bytes the TX cmsg takes, padding included: <c>CMSG_SPACE(sizeof(__u32))</c> = 24 (the kernel tool's <c>msg_controllen</c>).</summary>
    public static readonly int Space = (int)sys_socket_cmsg.CMSG_SPACE(sizeof(uint));

    /// <summary>A control buffer large enough for one error-queue notification (the kernel tool uses <c>CMSG_SPACE(100)</c>).</summary>
    public static readonly int CompletionControlSpace = (int)sys_socket_cmsg.CMSG_SPACE(100);

    private static readonly int SerrLength = Marshal.SizeOf<sock_extended_err>();

    /// <summary>
    /// Writes the cmsg that names the TX binding, as the kernel's ncdevmem <c>do_client</c> does:
    /// <c>cmsg_len</c> = CMSG_LEN(4), <c>cmsg_level</c> = SOL_SOCKET, <c>cmsg_type</c> = SCM_DEVMEM_DMABUF,
    /// then the u32 binding id in host byte order; the padding up to <see cref="Space"/> is zeroed.
    /// </summary>
    /// <param name="destination">At least <see cref="Space"/> bytes.</param>
    /// <param name="bindingId">The id bind-tx returned.</param>
    /// <returns>The bytes to pass as <c>msg_controllen</c> (<see cref="Space"/>).</returns>
    public static unsafe int WriteBindingId(Span<byte> destination, uint bindingId)
    {
        if (destination.Length < Space)
        {
            throw new ArgumentException($"The TX control buffer needs {Space} bytes (CMSG_SPACE(4)).", nameof(destination));
        }

        destination[..Space].Clear();
        var header = new cmsghdr { cmsg_len = (nuint)MessageLength, cmsg_level = asm_socket.SOL_SOCKET, cmsg_type = asm_socket.SCM_DEVMEM_DMABUF };
        MemoryMarshal.Write(destination, in header);
        MemoryMarshal.Write(destination[(int)sys_socket_cmsg.CMSG_ALIGN((nuint)sizeof(cmsghdr))..], in bindingId);
        return Space;
    }

    /// <summary>
    /// Finds the zerocopy completion in one <c>recvmsg(MSG_ERRQUEUE)</c>'s control data: the first
    /// <c>SOL_IP</c>/<c>IP_RECVERR</c> or <c>SOL_IPV6</c>/<c>IPV6_RECVERR</c> cmsg, whose payload starts
    /// with a <c>sock_extended_err</c>. Other cmsgs are skipped, as the kernel tool's <c>wait_compl</c> does.
    /// </summary>
    /// <param name="control">The <c>msg_controllen</c> bytes the kernel filled.</param>
    /// <param name="completion">The completed range.</param>
    /// <returns>False if there was no error-queue cmsg.</returns>
    /// <exception cref="DevmemException">The notification is not a zerocopy completion (another origin),
    /// or reports an errno, or is too short.</exception>
    public static unsafe bool TryParseCompletion(ReadOnlySpan<byte> control, out DevmemTxCompletion completion)
    {
        int dataOffset = (int)sys_socket_cmsg.CMSG_ALIGN((nuint)sizeof(cmsghdr));
        for (int at = sys_socket_cmsg.CMSG_FIRSTHDR(control); at >= 0; at = sys_socket_cmsg.CMSG_NXTHDR(control, at))
        {
            cmsghdr h = MemoryMarshal.Read<cmsghdr>(control[at..]);
            bool recverr = (h.cmsg_level == netinet_in.SOL_IP && h.cmsg_type == linux_in.IP_RECVERR)
                || (h.cmsg_level == netinet_in.SOL_IPV6 && h.cmsg_type == linux_in.IPV6_RECVERR);
            if (!recverr)
            {
                continue;
            }

            if (h.cmsg_len < (nuint)(dataOffset + SerrLength) || (long)at + (long)h.cmsg_len > control.Length)
            {
                throw DevmemException.Condition("recvmsg(MSG_ERRQUEUE)", $"recvmsg(MSG_ERRQUEUE): an error-queue message of {h.cmsg_len} bytes cannot hold a sock_extended_err ({dataOffset + SerrLength} bytes)");
            }

            sock_extended_err serr = MemoryMarshal.Read<sock_extended_err>(control[(at + dataOffset)..]);
            if (serr.ee_origin != linux_errqueue.SO_EE_ORIGIN_ZEROCOPY)
            {
                throw DevmemException.Condition("recvmsg(MSG_ERRQUEUE)",
                    $"recvmsg(MSG_ERRQUEUE): wrong origin {serr.ee_origin} (a zerocopy completion has SO_EE_ORIGIN_ZEROCOPY = {linux_errqueue.SO_EE_ORIGIN_ZEROCOPY}; errno {serr.ee_errno})");
            }

            if (serr.ee_errno != 0)
            {
                throw DevmemException.Syscall("zerocopy completion", (Errno)serr.ee_errno, "The kernel reported an error for the sends it completed.");
            }

            completion = new DevmemTxCompletion(serr.ee_info, serr.ee_data, serr.ee_code == linux_errqueue.SO_EE_CODE_ZEROCOPY_COPIED);
            return true;
        }

        completion = default;
        return false;
    }
}
