using System.Globalization;
using System.Text;

namespace Devmem.Netlink;

/// <summary>
/// Renders netlink attributes as the kernel's YNL CLI does with <c>--output-json</c>
/// (<c>tools/net/ynl/pyynl/cli.py</c>: <c>json.dumps</c> with the default separators ", " and ": ";
/// <c>lib/ynl.py</c> <c>_decode</c>): keys are spec names in message order, enums are names, flags are
/// name lists sorted as Python sorts strings, binaries are lower-case hex, pads are skipped,
/// multi-attributes become lists, and attributes the spec lacks appear as "UnknownAttr(N)" (as with
/// YNL's <c>--process-unknown</c>).
/// </summary>
internal sealed class YnlJson
{
    private readonly StringBuilder _sb = new();
    private readonly Stack<bool> _first = new();

    public override string ToString() => _sb.ToString();

    public void StartArray() => Open('[');

    public void EndArray() => Close(']');

    /// <summary>Writes one message's attributes as an object (an array element).</summary>
    public void WriteMessage(NetlinkAttributeReader attributes, NetlinkFamilySpec family, NetlinkAttributeSetSpec set)
    {
        Separator();
        WriteObject(attributes, family, set);
    }

    private void WriteObject(NetlinkAttributeReader attributes, NetlinkFamilySpec family, NetlinkAttributeSetSpec? set)
    {
        Open('{');
        var done = new HashSet<ushort>();
        NetlinkAttributeReader scan = attributes;
        foreach (NetlinkAttr a in attributes)
        {
            NetlinkAttributeSpec? spec = set?[a.Type];
            if (spec?.Kind == NetlinkAttributeKind.Pad || done.Contains(a.Type))
            {
                continue;
            }

            int count = 0;
            foreach (NetlinkAttr b in scan)
            {
                if (b.Type == a.Type)
                {
                    count++;
                }
            }

            // YNL: a spec'd multi-attr is always a list; a repeated unknown attribute becomes a list;
            // a repeated single attribute keeps the last value at the first one's position.
            bool list = spec is null ? count > 1 : spec.Multi;
            Key(spec?.Name ?? "UnknownAttr(" + a.Type.ToString(CultureInfo.InvariantCulture) + ")");
            if (list || count > 1)
            {
                done.Add(a.Type);
                if (list)
                {
                    Open('[');
                }

                NetlinkAttr last = a;
                foreach (NetlinkAttr b in scan)
                {
                    if (b.Type != a.Type)
                    {
                        continue;
                    }

                    if (list)
                    {
                        Separator();
                        Value(b, family, spec);
                    }

                    last = b;
                }

                if (list)
                {
                    Close(']');
                }
                else
                {
                    Value(last, family, spec);
                }
            }
            else
            {
                Value(a, family, spec);
            }
        }

        Close('}');
    }

    private void Value(NetlinkAttr a, NetlinkFamilySpec family, NetlinkAttributeSpec? spec)
    {
        if (spec is null)
        {
            if (a.IsNested)
            {
                WriteObject(a.GetNested(), family, null);
            }
            else
            {
                Hex(a.Payload);
            }

            return;
        }

        switch (spec.Kind)
        {
            case NetlinkAttributeKind.Flag:
                _sb.Append("true");
                return;
            case NetlinkAttributeKind.String:
                String(a.GetString());
                return;
            case NetlinkAttributeKind.Binary:
                Hex(a.Payload);
                return;
            case NetlinkAttributeKind.Nest:
                WriteObject(a.GetNested(), family, spec.NestedSet is null ? null : family.Set(spec.NestedSet));
                return;
            case NetlinkAttributeKind.S32:
                _sb.Append(a.GetS32().ToString(CultureInfo.InvariantCulture));
                return;
            case NetlinkAttributeKind.SInt:
                _sb.Append(a.GetSInt().ToString(CultureInfo.InvariantCulture));
                return;
            default:
                break;
        }

        ulong v = spec.Kind switch
        {
            NetlinkAttributeKind.U8 => a.GetU8(),
            NetlinkAttributeKind.U16 => a.GetU16(),
            NetlinkAttributeKind.U32 => a.GetU32(),
            NetlinkAttributeKind.U64 => a.GetU64(),
            _ => a.GetUInt(),
        };
        if (spec.Enum is null)
        {
            _sb.Append(v.ToString(CultureInfo.InvariantCulture));
        }
        else if (spec.Enum.IsFlags)
        {
            var names = new List<string>();
            for (int bit = 0; v != 0; bit++, v >>= 1)
            {
                if ((v & 1) != 0)
                {
                    names.Add(spec.Enum.NameOfBit(bit) ?? $"Unknown({bit})");
                }
            }

            names.Sort(string.CompareOrdinal);
            Open('[');
            foreach (string n in names)
            {
                Separator();
                String(n);
            }

            Close(']');
        }
        else
        {
            String(spec.Enum.NameOf(v) ?? $"Unknown({v})");
        }
    }

    private void Key(string name)
    {
        Separator();
        String(name);
        _sb.Append(": ");
    }

    private void Open(char c)
    {
        _sb.Append(c);
        _first.Push(true);
    }

    private void Close(char c)
    {
        _first.Pop();
        _sb.Append(c);
    }

    private void Separator()
    {
        if (_first.Count == 0)
        {
            return;
        }

        if (_first.Peek())
        {
            _first.Pop();
            _first.Push(false);
        }
        else
        {
            _sb.Append(", ");
        }
    }

    private void Hex(ReadOnlySpan<byte> bytes) => String(Convert.ToHexStringLower(bytes));

    // Python json.dumps with ensure_ascii=True.
    private void String(string s)
    {
        _sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': _sb.Append("\\\""); break;
                case '\\': _sb.Append("\\\\"); break;
                case '\n': _sb.Append("\\n"); break;
                case '\r': _sb.Append("\\r"); break;
                case '\t': _sb.Append("\\t"); break;
                case '\b': _sb.Append("\\b"); break;
                case '\f': _sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e)
                    {
                        _sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        _sb.Append(c);
                    }

                    break;
            }
        }

        _sb.Append('"');
    }
}
