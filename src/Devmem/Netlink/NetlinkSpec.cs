using System.Collections.Frozen;

namespace Devmem.Netlink;

// A small, hand-transcribed subset of a YNL spec (Documentation/netlink/specs/*.yaml): attribute
// names, types, enums and nesting, op names and commands. The spec is the source of truth for ids and
// names, as for the kernel's own YNL (tools/net/ynl); these tables are used to turn
// extended-ack offsets into attribute paths, to name missing attributes, and to print YNL's JSON.

/// <summary>How an attribute's payload is encoded (the YNL spec's <c>type</c>).</summary>
internal enum NetlinkAttributeKind
{
    Pad,
    Flag,
    U8,
    U16,
    U32,
    U64,
    S32,
    UInt,
    SInt,
    String,
    Binary,
    Nest,
}

/// <summary>A YNL enum or flags definition.</summary>
internal sealed class NetlinkEnumSpec(string name, bool isFlags, string[] entries, ulong first = 0)
{
    private readonly string[] _names = entries;
    private readonly ulong _first = first;

    public string Name { get; } = name;

    /// <summary>Flags: entry i is bit i. Enum: entry i has value first + i.</summary>
    public bool IsFlags { get; } = isFlags;

    /// <summary>The name of an enum value, or null if the spec has none (YNL: "Unknown(N)").</summary>
    public string? NameOf(ulong value) =>
        value >= _first && value - _first < (ulong)_names.Length ? _names[(int)(value - _first)] : null;

    /// <summary>The name of flag bit <paramref name="bit"/>, or null.</summary>
    public string? NameOfBit(int bit) => bit < _names.Length ? _names[bit] : null;

    /// <summary>The value of an enum entry, or the bit of a flag entry.</summary>
    public bool TryGetValue(string name, out ulong value)
    {
        int i = Array.IndexOf(_names, name);
        value = i < 0 ? 0 : IsFlags ? 1UL << i : _first + (ulong)i;
        return i >= 0;
    }
}

/// <summary>One attribute of an attribute set.</summary>
internal sealed record NetlinkAttributeSpec(
    ushort Id,
    string Name,
    NetlinkAttributeKind Kind,
    NetlinkEnumSpec? Enum = null,
    string? NestedSet = null,
    bool Multi = false,
    string? Doc = null);

/// <summary>A YNL attribute set.</summary>
internal sealed class NetlinkAttributeSetSpec(string name, params NetlinkAttributeSpec[] attributes)
{
    private readonly FrozenDictionary<ushort, NetlinkAttributeSpec> _byId = attributes.ToFrozenDictionary(a => a.Id);

    public string Name { get; } = name;

    public IReadOnlyList<NetlinkAttributeSpec> Attributes { get; } = attributes;

    public NetlinkAttributeSpec? this[ushort id] => _byId.GetValueOrDefault(id);

    public NetlinkAttributeSpec? Find(string name) => Attributes.FirstOrDefault(a => a.Name == name);
}

/// <summary>One operation of a family.</summary>
/// <param name="Name">The spec's op name, e.g. "bind-rx".</param>
/// <param name="Command">The genl command of the request.</param>
/// <param name="AttributeSet">The attribute set of request and reply.</param>
/// <param name="AddedIn">First kernel that has the op, or null if it predates what we support.</param>
/// <param name="ConfigOption">A Kconfig option the op also depends on, if any.</param>
/// <param name="ReplyCommand">The genl command of replies, where it differs from the request's.</param>
internal sealed record NetlinkOperationSpec(
    string Name,
    byte Command,
    string AttributeSet,
    string? AddedIn = null,
    string? ConfigOption = null,
    byte? ReplyCommand = null);

/// <summary>What we know about a family from its spec.</summary>
internal sealed class NetlinkFamilySpec(string name, byte version, NetlinkOperationSpec[] operations, NetlinkAttributeSetSpec[] sets)
{
    private readonly FrozenDictionary<string, NetlinkAttributeSetSpec> _sets = sets.ToFrozenDictionary(s => s.Name);

    public string Name { get; } = name;

    public byte Version { get; } = version;

    public IReadOnlyList<NetlinkOperationSpec> Operations { get; } = operations;

    public NetlinkAttributeSetSpec Set(string name) => _sets[name];

    public NetlinkOperationSpec Operation(string name) =>
        Operations.FirstOrDefault(o => o.Name == name) ?? throw new ArgumentException($"{Name} has no operation '{name}' in its spec.", nameof(name));
}
