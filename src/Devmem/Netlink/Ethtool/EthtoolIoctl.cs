using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Devmem.Interop;
using Devmem.Sys;
using static Devmem.Interop.Ethtool;

namespace Devmem.Netlink.Ethtool;

/// <summary>
/// The SIOCETHTOOL (and SIOCGIFINDEX) transport: an AF_INET datagram socket and the ioctl commands
/// ethtool has no netlink op for (flow rules, the RSS table before 6.17, driver info, the RX ring
/// count). Each command fills the kernel's struct and returns what it answered; a refusal throws
/// <see cref="EthtoolIoctlException"/> with the errno, the only thing the ioctl interface says
/// (net/ethtool/ioctl.c). The socket lives in the network namespace of the thread that opened it.
/// </summary>
internal sealed class EthtoolIoctl : IDisposable
{
    private readonly SafeSocketFdHandle _socket;

    private EthtoolIoctl(SafeSocketFdHandle socket) => _socket = socket;

    /// <summary>Opens the AF_INET datagram socket the ioctls go through.</summary>
    internal static EthtoolIoctl Open()
    {
        var socket = new SafeSocketFdHandle();
        SysResult r = Syscalls.Socket(sys_socket.AF_INET, sys_socket_type.SOCK_DGRAM | sys_socket_type.SOCK_CLOEXEC, 0);
        if (r.IsError)
        {
            socket.Dispose();
            throw Syscalls.Failure("socket(AF_INET, SOCK_DGRAM) for SIOCETHTOOL", r.Errno);
        }

        socket.Own(r.Int32);
        return new EthtoolIoctl(socket);
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose() => _socket.Dispose();

    /// <summary>ETHTOOL_GRXFHINDIR: the RSS indirection table (empty when the device has none).</summary>
    internal unsafe uint[] GetRssIndirection(string ifname)
    {
        // First call with size 0 returns the device's size (net/ethtool/ioctl.c ethtool_get_rxfh_indir).
        ethtool_rxfh_indir head = new() { cmd = ETHTOOL_GRXFHINDIR, size = 0 };
        Ethtool(ifname, &head, "ETHTOOL_GRXFHINDIR");
        if (head.size == 0)
        {
            return [];
        }

        byte[] buffer = IndirectionBuffer(ETHTOOL_GRXFHINDIR, head.size);
        fixed (byte* p = buffer)
        {
            Ethtool(ifname, p, "ETHTOOL_GRXFHINDIR");
        }

        return MemoryMarshal.Cast<byte, uint>(buffer.AsSpan(sizeof(ethtool_rxfh_indir))).ToArray();
    }

    /// <summary>ETHTOOL_SRXFHINDIR: the table (exactly the device's size) or empty for the kernel's default.</summary>
    internal unsafe void SetRssIndirection(string ifname, ReadOnlySpan<uint> table)
    {
        byte[] buffer = IndirectionBuffer(ETHTOOL_SRXFHINDIR, (uint)table.Length);
        MemoryMarshal.AsBytes(table).CopyTo(buffer.AsSpan(sizeof(ethtool_rxfh_indir)));
        fixed (byte* p = buffer)
        {
            Ethtool(ifname, p, "ETHTOOL_SRXFHINDIR");
        }
    }

    // struct ethtool_rxfh_indir: cmd, size, then ring_index[size] (include/uapi/linux/ethtool.h).
    private static unsafe byte[] IndirectionBuffer(uint cmd, uint size)
    {
        var buffer = new byte[sizeof(ethtool_rxfh_indir) + (4 * (int)size)];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, cmd);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), size);
        return buffer;
    }

    /// <summary>SIOCGIFINDEX: the ifindex in this socket's network namespace.</summary>
    internal unsafe int GetInterfaceIndex(string ifname)
    {
        ifreq ifr = default;
        Ioctl(ifname, ref ifr, Sockios.SIOCGIFINDEX, "SIOCGIFINDEX");
        // ifr_ifindex is an int at offset 16, in the union where ifr_data lies (linux/if.h).
        return *(int*)&ifr.ifr_data;
    }

    /// <summary>ETHTOOL_GDRVINFO: the driver's name and bus address ("" when it reports none).</summary>
    internal unsafe (string Driver, string BusInfo) GetDriverInfo(string ifname)
    {
        ethtool_drvinfo info = new() { cmd = ETHTOOL_GDRVINFO };
        Ethtool(ifname, &info, "ETHTOOL_GDRVINFO");
        return (CString(info.driver, 32), CString(info.bus_info, 32));

        static string CString(byte* p, int max)
        {
            var span = new ReadOnlySpan<byte>(p, max);
            int end = span.IndexOf((byte)0);
            return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
        }
    }

    /// <summary>ETHTOOL_GRXRINGS: the number of RX rings.</summary>
    internal unsafe uint GetRxRingCount(string ifname)
    {
        ethtool_rxnfc nfc = new() { cmd = ETHTOOL_GRXRINGS };
        Ethtool(ifname, &nfc, "ETHTOOL_GRXRINGS");
        return (uint)nfc.data;
    }

    /// <summary>ETHTOOL_GRXCLSRLCNT, GRXCLSRLALL, then GRXCLSRULE for each location.</summary>
    internal unsafe IReadOnlyList<EthtoolFlowRule> GetFlowRules(string ifname)
    {
        ethtool_rxnfc count = new() { cmd = ETHTOOL_GRXCLSRLCNT };
        Ethtool(ifname, &count, "ETHTOOL_GRXCLSRLCNT");
        uint n = count.rule_cnt;
        if (n == 0)
        {
            return [];
        }

        // rule_locs[] starts at offset 188, inside struct ethtool_rxnfc's tail padding (its size is 192):
        // the kernel writes rule_cnt locations from there (net/ethtool/ioctl.c ethtool_rxnfc_copy_to_user,
        // include/uapi/linux/ethtool.h), so the buffer is whichever is larger.
        int offset = (int)Marshal.OffsetOf<ethtool_rxnfc>(nameof(ethtool_rxnfc.rule_locs));
        var buffer = new byte[Math.Max(sizeof(ethtool_rxnfc), offset + (4 * (int)n))];
        uint[] locations;
        fixed (byte* p = buffer)
        {
            var all = (ethtool_rxnfc*)p;
            all->cmd = ETHTOOL_GRXCLSRLALL;
            all->rule_cnt = n;
            Ethtool(ifname, p, "ETHTOOL_GRXCLSRLALL");
            locations = MemoryMarshal.Cast<byte, uint>(buffer.AsSpan(offset, 4 * (int)Math.Min(n, all->rule_cnt))).ToArray();
        }

        var rules = new List<EthtoolFlowRule>(locations.Length);
        foreach (uint loc in locations)
        {
            ethtool_rxnfc one = new() { cmd = ETHTOOL_GRXCLSRULE };
            one.fs.location = loc;
            Ethtool(ifname, &one, "ETHTOOL_GRXCLSRULE");
            rules.Add(EthtoolFlowRuleCodec.Decode(one.fs));
        }

        return rules;
    }

    /// <summary>ETHTOOL_SRXCLSRLINS: adds the rule and returns the location it got.</summary>
    internal unsafe uint AddFlowRule(string ifname, EthtoolFlowRule rule)
    {
        ethtool_rxnfc nfc = new() { cmd = ETHTOOL_SRXCLSRLINS, fs = EthtoolFlowRuleCodec.Encode(rule) };
        Ethtool(ifname, &nfc, "ETHTOOL_SRXCLSRLINS");
        return nfc.fs.location;
    }

    /// <summary>ETHTOOL_SRXCLSRLDEL: deletes the rule at <paramref name="location"/>.</summary>
    internal unsafe void DeleteFlowRule(string ifname, uint location)
    {
        ethtool_rxnfc nfc = new() { cmd = ETHTOOL_SRXCLSRLDEL };
        nfc.fs.location = location;
        Ethtool(ifname, &nfc, "ETHTOOL_SRXCLSRLDEL");
    }

    // SIOCETHTOOL: ifr_data points at the command's struct, whose first u32 is the command.
    private unsafe void Ethtool(string ifname, void* data, string command)
    {
        ifreq ifr = default;
        ifr.ifr_data = data;
        Ioctl(ifname, ref ifr, Sockios.SIOCETHTOOL, command);
    }

    private unsafe void Ioctl(string ifname, ref ifreq ifr, uint request, string command)
    {
        // UTF-8, as every other place a name reaches the kernel (ETHTOOL_A_HEADER_DEV_NAME, IFLA_IFNAME).
        byte[] name = InterfaceNames.ToBytes(ifname, nameof(ifname));
        fixed (ifreq* p = &ifr)
        {
            name.CopyTo(new Span<byte>(p->ifr_name, If.IFNAMSIZ));
            SysResult r = Syscalls.Ioctl(_socket, request, p);
            if (r.IsError)
            {
                throw EthtoolIoctlException.Failed(ifname, command, r.Errno);
            }
        }
    }
}
