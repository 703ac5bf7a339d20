using System.Collections.Frozen;
using System.Globalization;
using Devmem.Sys;

namespace Devmem.Netlink;

/// <summary>Flags of a generic netlink operation, as nlctrl reports them (<c>GENL_*</c> in linux/genetlink.h).</summary>
[Flags]
public enum GenericNetlinkOperationCapabilities : uint
{
    /// <summary>No flags.</summary>
    None = 0,

    /// <summary>GENL_ADMIN_PERM: needs CAP_NET_ADMIN in the initial user namespace.</summary>
    AdminPermission = 0x01,

    /// <summary>GENL_CMD_CAP_DO: has a do handler.</summary>
    Do = 0x02,

    /// <summary>GENL_CMD_CAP_DUMP: has a dump handler.</summary>
    Dump = 0x04,

    /// <summary>GENL_CMD_CAP_HASPOL: has an attribute policy.</summary>
    HasPolicy = 0x08,

    /// <summary>GENL_UNS_ADMIN_PERM: needs CAP_NET_ADMIN in the network namespace's user namespace.</summary>
    UserNamespaceAdminPermission = 0x10,
}

/// <summary>
/// A generic netlink family as the running kernel describes it through nlctrl (CTRL_CMD_GETFAMILY):
/// its id, version, operations with their flags, and multicast groups.
/// </summary>
public sealed class GenericNetlinkFamily
{
    internal GenericNetlinkFamily(string name, ushort id, uint version, uint headerSize, uint maxAttribute,
        IDictionary<byte, GenericNetlinkOperationCapabilities> operations, IDictionary<string, uint> multicastGroups)
    {
        Name = name;
        Id = id;
        Version = version;
        HeaderSize = headerSize;
        MaxAttribute = maxAttribute;
        Operations = operations.ToFrozenDictionary();
        MulticastGroups = multicastGroups.ToFrozenDictionary();
    }

    /// <summary>The family name, e.g. "netdev".</summary>
    public string Name { get; }

    /// <summary>The family id (the nlmsg_type of its messages), assigned at boot.</summary>
    public ushort Id { get; }

    /// <summary>The family version (CTRL_ATTR_VERSION).</summary>
    public uint Version { get; }

    /// <summary>Size of the family's fixed header after genlmsghdr (CTRL_ATTR_HDRSIZE; 0 for netdev and ethtool).</summary>
    public uint HeaderSize { get; }

    /// <summary>The highest attribute type (CTRL_ATTR_MAXATTR).</summary>
    public uint MaxAttribute { get; }

    /// <summary>The operations the running kernel offers, by command number, with their flags.</summary>
    public IReadOnlyDictionary<byte, GenericNetlinkOperationCapabilities> Operations { get; }

    /// <summary>Multicast groups by name, with their ids (for NETLINK_ADD_MEMBERSHIP).</summary>
    public IReadOnlyDictionary<string, uint> MulticastGroups { get; }

    /// <summary>Whether the running kernel offers command <paramref name="command"/> in the given mode.</summary>
    /// <param name="command">The genl command.</param>
    /// <param name="dump">true for the dump mode, false for do.</param>
    /// <returns>true if the op list has it with that mode.</returns>
    public bool Supports(byte command, bool dump) =>
        Operations.TryGetValue(command, out GenericNetlinkOperationCapabilities f) &&
        (f & (dump ? GenericNetlinkOperationCapabilities.Dump : GenericNetlinkOperationCapabilities.Do)) != 0;

    /// <summary>Throws <see cref="NetlinkNotSupportedException"/> unless the kernel offers the op in that mode.</summary>
    internal void Require(NetlinkOperationSpec op, bool dump)
    {
        if (Supports(op.Command, dump))
        {
            return;
        }

        string kernel = KernelFiles.KernelRelease;
        string message;
        if (Operations.ContainsKey(op.Command))
        {
            message = $"{Name} {op.Name} has no {(dump ? "dump" : "do")} mode in the running kernel ({kernel}).";
        }
        else if (op.ConfigOption is not null)
        {
            message = $"{Name} {op.Name} is not available in the running kernel ({kernel}): it needs Linux {op.AddedIn ?? "?"} or newer built with {op.ConfigOption}.";
        }
        else if (op.AddedIn is not null)
        {
            message = $"{Name} {op.Name} is not available in the running kernel ({kernel}): it was added in Linux {op.AddedIn}.";
        }
        else
        {
            message = $"{Name} {op.Name} (command {op.Command.ToString(CultureInfo.InvariantCulture)}) is not available in the running kernel ({kernel}).";
        }

        throw NetlinkNotSupportedException.MissingOperation(Name, op.Name, op.AddedIn, message);
    }
}
