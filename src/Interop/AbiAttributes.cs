namespace Devmem.Interop;

// Attributes that tell the ABI test (tests/Devmem.Abi.Tests) how each declaration maps onto the
// kernel's uapi headers. The test finds every struct and constant in this assembly by reflection,
// generates a C file of _Static_assert(sizeof/offsetof/NAME == value) and compiles it with gcc
// against Debian's linux-libc-dev for 6.12 and for the newest kernel. Conventions:
//   - a struct's C# name is its C struct tag (struct nlmsghdr → `nlmsghdr`), unless [CName] says otherwise:
//     a bare tag ("ethtool_flow_union" → struct ethtool_flow_union) or a full C type with its keyword
//     ("union ethtool_flow_union");
//   - a field's C# name is its C member name, unless [CName] gives the member designator ("fs.location");
//   - a constant (const field, or enum member) has its C macro/enumerator name, unless [CName] says otherwise;
//   - a struct field that exists only to spell out padding the C struct leaves implicit is [Padding];
//   - [UapiHeader] on a type names the header(s) its declarations come from (glibc headers such as
//     <sys/socket.h> too, for what user space gets from libc rather than from uapi);
//   - a C flexible array member is [FlexibleArray]: on the struct when the C# struct leaves it out, or on
//     the C# field that stands for its first element;
//   - a P/Invoke ([LibraryImport]/[DllImport]) carries [UapiHeader] naming its prototype's header; its
//     C# signature must be call-compatible with the prototype (const pointees and variadic tails allowed);
//   - a type that declares nothing native (a managed helper) is [ManagedOnly]; any other type with
//     fields and no [UapiHeader] fails the ABI test, so nothing escapes the check.

/// <summary>
/// The header (path under usr/include, e.g. "linux/netlink.h") that declares this type's members, or,
/// on a P/Invoke, the function's prototype (the ABI test checks the signature against it).
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct | AttributeTargets.Enum | AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
internal sealed class UapiHeaderAttribute(string path) : Attribute
{
    /// <summary>The header path, as in <c>#include &lt;path&gt;</c>.</summary>
    public string Path { get; } = path;
}

/// <summary>The C spelling of a declaration whose C# name differs (struct tag, member designator or macro).</summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Field, Inherited = false)]
internal sealed class CNameAttribute(string name) : Attribute
{
    /// <summary>The C name.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// First kernel version whose uapi headers have this declaration. The ABI test checks it only against
/// headers at least that new (so against the newest headers, not 6.12's).
/// </summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Field | AttributeTargets.Class | AttributeTargets.Enum, Inherited = false)]
internal sealed class KernelSinceAttribute(string version) : Attribute
{
    /// <summary>The version, e.g. "6.14".</summary>
    public string Version { get; } = version;
}

/// <summary>
/// A value that no uapi header declares (kernel-internal, or defined by a tool such as ncdevmem).
/// <see cref="Source"/> says where it comes from; the ABI test checks it against that source where it can.
/// </summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Struct, Inherited = false)]
internal sealed class NotInUapiAttribute(string source) : Attribute
{
    /// <summary>Where the value is defined, e.g. "include/linux/socket.h (kernel-internal)".</summary>
    public string Source { get; } = source;
}

/// <summary>A struct field that names padding the C declaration leaves implicit; checked through sizeof only.</summary>
[AttributeUsage(AttributeTargets.Field, Inherited = false)]
internal sealed class PaddingAttribute : Attribute;

/// <summary>
/// A C flexible array member. On a struct: the C struct ends in the flexible array <see cref="Name"/> of
/// <see cref="ElementType"/>, which the C# struct leaves out; the ABI test checks that the array starts at
/// the C# struct's size. On a field: the field is the first element of the flexible array of its name
/// (e.g. <c>ethtool_rxnfc.rule_locs[]</c>, which starts inside the tail padding); the ABI test checks its
/// offset and the element's size and signedness instead of the member's size.
/// </summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Field, Inherited = false)]
internal sealed class FlexibleArrayAttribute : Attribute
{
    /// <summary>On a field: the field is the first element of the C flexible array member of its name.</summary>
    public FlexibleArrayAttribute()
    {
    }

    /// <summary>On a struct: the C struct ends in flexible array <paramref name="name"/> of <paramref name="elementType"/>.</summary>
    public FlexibleArrayAttribute(string name, Type elementType)
    {
        Name = name;
        ElementType = elementType;
    }

    /// <summary>The C member name of the flexible array (struct usage).</summary>
    public string? Name { get; }

    /// <summary>The element type, a struct of this assembly or a primitive (struct usage).</summary>
    public Type? ElementType { get; }
}

/// <summary>
/// A type of this assembly that declares nothing native (a managed helper such as a result type); the
/// ABI test lists it with <see cref="Reason"/> instead of failing on its missing <see cref="UapiHeaderAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, Inherited = false)]
internal sealed class ManagedOnlyAttribute(string reason) : Attribute
{
    /// <summary>Why the type has no C counterpart.</summary>
    public string Reason { get; } = reason;
}
