using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Devmem.Interop;

namespace Devmem.Abi.Tests;

/// <summary>One C assertion: <c>_Static_assert(Expr, Id)</c>.</summary>
/// <param name="Id">What is checked, in C# terms (shown when it fails).</param>
/// <param name="Expr">A C integer constant expression that is true when the declaration is right.</param>
/// <param name="Subject">The C identifier the check depends on (for the 6.12 absence probes).</param>
/// <param name="Since">[KernelSince] of the declaration, if any.</param>
/// <param name="Kind">"struct", "field", "field-size", "field-sign", "constant", "string" or "macro".</param>
/// <param name="Text">For a "string" check: the expected string (Expr is then the macro name).</param>
internal sealed record Check(string Id, string Expr, string Subject, Version? Since, string Kind, string? Text = null);

/// <summary>One translation unit: a C# type's checks and the headers they need.</summary>
internal sealed record Unit(string TypeName, IReadOnlyList<string> Headers, IReadOnlyList<Check> Checks)
{
    /// <summary>True when every header is the kernel's (linux/, asm/, asm-generic/), none glibc's.</summary>
    public bool UapiOnly => Headers.All(h => h.StartsWith("linux/", StringComparison.Ordinal) ||
        h.StartsWith("asm/", StringComparison.Ordinal) || h.StartsWith("asm-generic/", StringComparison.Ordinal));
}

/// <summary>A [NotInUapi] constant: checked against its stated source where that is a kernel file.</summary>
internal sealed record NotInUapiValue(string Id, string CName, string Source, string CType, string Literal);

/// <summary>
/// Everything in Devmem.Interop that has a C counterpart, found by reflection (public and internal,
/// nested included), turned into C assertions. Types with fields but no mapping are <see cref="Problems"/>.
/// </summary>
internal sealed class AbiModel
{
    public List<Unit> Units { get; } = [];
    public List<NotInUapiValue> NotInUapi { get; } = [];
    public List<string> ManagedOnly { get; } = [];
    public List<string> Problems { get; } = [];

    public static Assembly InteropAssembly => typeof(Errno).Assembly;

    public static AbiModel Build() => Build(InteropAssembly);

    public static AbiModel Build(Assembly assembly)
    {
        var model = new AbiModel();
        foreach (Type type in assembly.GetTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            model.AddType(type);
        }
        return model;
    }

    private const BindingFlags AllDeclared = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic |
        BindingFlags.Static | BindingFlags.Instance;

    private static bool IsCompilerGenerated(MemberInfo m) =>
        m.Name.StartsWith('<') || m.IsDefined(typeof(CompilerGeneratedAttribute), false) ||
        (m is Type { DeclaringType: { } d } && IsCompilerGenerated(d));

    private void AddType(Type type)
    {
        if (IsCompilerGenerated(type) || typeof(Attribute).IsAssignableFrom(type))
        {
            return;
        }
        FieldInfo[] fields = type.GetFields(AllDeclared).Where(f => !IsCompilerGenerated(f)).ToArray();
        bool isStruct = type.IsValueType && !type.IsEnum;
        if (type.GetCustomAttribute<ManagedOnlyAttribute>() is { } managed)
        {
            ManagedOnly.Add($"{type.FullName}: {managed.Reason}");
            return;
        }
        if (!isStruct && !type.IsEnum && fields.Length == 0)
        {
            return; // methods only (Libc, CMSG helpers): nothing with a layout or a value
        }
        string[] headers = type.GetCustomAttributes<UapiHeaderAttribute>().Select(h => h.Path).ToArray();
        NotInUapiAttribute? typeNotInUapi = type.GetCustomAttribute<NotInUapiAttribute>();
        if (headers.Length == 0 && typeNotInUapi is null)
        {
            Problems.Add($"{type.FullName} declares {(isStruct ? "a struct" : $"{fields.Length} fields")} but has no [UapiHeader], [NotInUapi] or [ManagedOnly]: the ABI test cannot check it");
            return;
        }
        Version? typeSince = ParseSince(type.GetCustomAttribute<KernelSinceAttribute>());
        var checks = new List<Check>();
        if (isStruct && typeNotInUapi is null)
        {
            AddStruct(type, typeSince, checks);
        }
        foreach (FieldInfo f in fields.Where(f => f.IsStatic && (f.IsLiteral || f.IsInitOnly)))
        {
            AddConstant(type, f, typeNotInUapi, typeSince, checks);
        }
        foreach (FieldInfo f in fields.Where(f => f.IsStatic && !f.IsLiteral && !f.IsInitOnly))
        {
            Problems.Add($"{type.FullName}.{f.Name} is a mutable static field: declarations must be const or static readonly");
        }
        if (checks.Count > 0)
        {
            Units.Add(new Unit(type.FullName!, headers, checks));
        }
        else if (typeNotInUapi is not null && isStruct)
        {
            NotInUapi.Add(new NotInUapiValue(type.FullName!, CTypeOf(type), typeNotInUapi.Source, "", ""));
        }
    }

    private static Version? ParseSince(KernelSinceAttribute? a) => a is null ? null : Version.Parse(a.Version);

    private static Version? Max(Version? a, Version? b) => a is null ? b : b is null ? a : (a > b ? a : b);

    /// <summary>The C type of a struct: struct TAG, or [CName] ("tag" or "union tag").</summary>
    public static string CTypeOf(Type type)
    {
        string? c = type.GetCustomAttribute<CNameAttribute>()?.Name;
        return c is null ? $"struct {type.Name}" : c.Contains(' ', StringComparison.Ordinal) ? c : $"struct {c}";
    }

    private static int ManagedSize(Type t) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;

    private static int FieldSize(FieldInfo f)
    {
        if (f.GetCustomAttribute<FixedBufferAttribute>() is { } fixedBuffer)
        {
            return fixedBuffer.Length * ManagedSize(fixedBuffer.ElementType);
        }
        return f.FieldType.IsPointer || f.FieldType.IsFunctionPointer ? IntPtr.Size : ManagedSize(f.FieldType);
    }

    private static bool? IsSignedInteger(Type t) => Type.GetTypeCode(t.IsEnum ? Enum.GetUnderlyingType(t) : t) switch
    {
        TypeCode.SByte or TypeCode.Int16 or TypeCode.Int32 or TypeCode.Int64 => true,
        TypeCode.Byte or TypeCode.UInt16 or TypeCode.UInt32 or TypeCode.UInt64 => false,
        _ when t == typeof(nint) => true,
        _ when t == typeof(nuint) => false,
        _ => null,
    };

    private void AddStruct(Type type, Version? typeSince, List<Check> checks)
    {
        string ctype = CTypeOf(type);
        string tag = ctype[(ctype.LastIndexOf(' ') + 1)..];
        string id = type.FullName!;
        int size = ManagedSize(type);
        int marshalSize;
        try
        {
            marshalSize = Marshal.SizeOf(type);
        }
        catch (ArgumentException e)
        {
            Problems.Add($"{id} is not blittable ({e.Message})");
            return;
        }
        if (marshalSize != size)
        {
            Problems.Add($"{id}: managed size {size} differs from its native (marshalled) size {marshalSize}: not blittable");
        }
        checks.Add(new Check($"{id}: sizeof({ctype}) == {size}", $"sizeof({ctype}) == {size}", tag, typeSince, "struct"));
        foreach (FieldInfo f in type.GetFields(BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (f.IsDefined(typeof(PaddingAttribute), false))
            {
                continue; // implicit padding in C: covered by sizeof and the next member's offset
            }
            string member = f.GetCustomAttribute<CNameAttribute>()?.Name ?? f.Name;
            string subject = member[(member.LastIndexOfAny(['.', '>']) + 1)..];
            Version? since = Max(typeSince, ParseSince(f.GetCustomAttribute<KernelSinceAttribute>()));
            int offset = (int)Marshal.OffsetOf(type, f.Name);
            string fid = $"{id}.{f.Name}";
            checks.Add(new Check($"{fid}: offsetof({ctype}, {member}) == {offset}", $"offsetof({ctype}, {member}) == {offset}", subject, since, "field"));
            int fsize = FieldSize(f);
            // A [FlexibleArray] field is the first element of a C flexible array member: size the element.
            string lvalue = f.IsDefined(typeof(FlexibleArrayAttribute), false) ? $"(({ctype} *)0)->{member}[0]" : $"(({ctype} *)0)->{member}";
            checks.Add(new Check($"{fid}: sizeof({lvalue}) == {fsize}", $"sizeof({lvalue}) == {fsize}", subject, since, "field-size"));
            if (f.GetCustomAttribute<FixedBufferAttribute>() is null && IsSignedInteger(f.FieldType) is bool signed)
            {
                checks.Add(new Check($"{fid}: {lvalue} is {(signed ? "signed" : "unsigned")}",
                    $"((__typeof__({lvalue}))-1 < 0) == {(signed ? 1 : 0)}", subject, since, "field-sign"));
            }
        }
        if (type.GetCustomAttribute<FlexibleArrayAttribute>() is { Name: null } or { ElementType: null })
        {
            Problems.Add($"{id}: [FlexibleArray] on a struct needs the member's name and element type");
        }
        else if (type.GetCustomAttribute<FlexibleArrayAttribute>() is { Name: { } flexName, ElementType: { } flexType })
        {
            var flex = (Name: flexName, ElementType: flexType);
            int esize = ManagedSize(flex.ElementType);
            checks.Add(new Check($"{id}: flexible array {flex.Name}[] starts at {size}", $"offsetof({ctype}, {flex.Name}) == {size}", flex.Name, typeSince, "field"));
            checks.Add(new Check($"{id}: flexible array element sizeof({flex.Name}[0]) == {esize}", $"sizeof((({ctype} *)0)->{flex.Name}[0]) == {esize}", flex.Name, typeSince, "field-size"));
        }
    }

    private void AddConstant(Type type, FieldInfo f, NotInUapiAttribute? typeNotInUapi, Version? typeSince, List<Check> checks)
    {
        object? value = f.IsLiteral ? f.GetRawConstantValue() : f.GetValue(null);
        string cname = f.GetCustomAttribute<CNameAttribute>()?.Name ?? f.Name;
        string id = $"{type.FullName}.{f.Name}";
        Version? since = Max(typeSince, ParseSince(f.GetCustomAttribute<KernelSinceAttribute>()));
        if (value is string text)
        {
            if ((f.GetCustomAttribute<NotInUapiAttribute>() ?? typeNotInUapi) is { } notInUapiText)
            {
                NotInUapi.Add(new NotInUapiValue(id, cname, notInUapiText.Source, "", ""));
                return;
            }
            // Checked by preprocessing (gcc -E): C has no constant expression that compares strings.
            checks.Add(new Check($"{id}: {cname} == \"{text}\"", cname, cname, since, "string", text));
            return;
        }
        if (!TryLiteral(value, out string ctype, out string literal))
        {
            Problems.Add($"{id}: constant of type {value?.GetType().Name ?? "null"} cannot be checked (use an integer or char type)");
            return;
        }
        if ((f.GetCustomAttribute<NotInUapiAttribute>() ?? typeNotInUapi) is { } notInUapi)
        {
            NotInUapi.Add(new NotInUapiValue(id, cname, notInUapi.Source, ctype, literal));
            return;
        }
        checks.Add(new Check($"{id}: {cname} == {value}", $"(({ctype})({cname})) == ({ctype}){literal}", cname, since, "constant"));
    }

    /// <summary>A C type and literal for an integer value (enum members by their underlying type).</summary>
    public static bool TryLiteral(object? value, out string ctype, out string literal)
    {
        if (value is Enum e)
        {
            value = Convert.ChangeType(e, Enum.GetUnderlyingType(e.GetType()), CultureInfo.InvariantCulture);
        }
        (ctype, literal) = value switch
        {
            sbyte v => ("int8_t", Signed(v)),
            short v => ("int16_t", Signed(v)),
            int v => ("int32_t", Signed(v)),
            long v => ("int64_t", Signed(v)),
            nint v => ("intptr_t", Signed(v)),
            byte v => ("uint8_t", Unsigned(v)),
            ushort v => ("uint16_t", Unsigned(v)),
            char v => ("uint16_t", Unsigned(v)),
            uint v => ("uint32_t", Unsigned(v)),
            ulong v => ("uint64_t", Unsigned(v)),
            nuint v => ("uintptr_t", Unsigned(v)),
            _ => ("", ""),
        };
        return ctype.Length > 0;

        static string Signed(long v) => v == long.MinValue ? "(-0x7fffffffffffffffLL - 1)" : v < 0 ? $"({v.ToString(CultureInfo.InvariantCulture)}LL)" : $"{v.ToString(CultureInfo.InvariantCulture)}LL";
        static string Unsigned(ulong v) => $"0x{v.ToString("x", CultureInfo.InvariantCulture)}ULL";
    }

    public int StructCount => Units.Sum(u => u.Checks.Count(c => c.Kind == "struct"));
    public int FieldCount => Units.Sum(u => u.Checks.Count(c => c.Kind == "field"));
    public int ConstantCount => Units.Sum(u => u.Checks.Count(c => c.Kind is "constant" or "string"));
}
