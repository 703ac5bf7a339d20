using System.Diagnostics.CodeAnalysis;

namespace Devmem.Netlink;

/// <summary>
/// One netlink request, as YNL builds them: the socket numbered it and set its flags when it was created
/// (<see cref="GenericNetlinkSocket.CreateRequest(ushort, byte, byte, bool, string, string)"/>), so a caller
/// cannot send it with another request's sequence number or mode. Write attributes through
/// <see cref="Writer"/>, then <see cref="Send"/> it once and enumerate the replies.
/// </summary>
internal ref struct NetlinkRequest
{
    private readonly GenericNetlinkSocket _socket;
    private readonly NetlinkRequestContext _context;
    private NetlinkWriter _writer;
    private bool _sent;

    internal NetlinkRequest(GenericNetlinkSocket socket, NetlinkWriter writer, uint sequence, bool dump, NetlinkRequestContext context)
    {
        _socket = socket;
        _writer = writer;
        _context = context;
        Sequence = sequence;
        IsDump = dump;
        _sent = false;
    }

    /// <summary>The sequence number every reply must carry.</summary>
    public uint Sequence { get; }

    /// <summary>Whether this is a dump (NLM_F_DUMP) rather than a do (NLM_F_ACK).</summary>
    public bool IsDump { get; }

    /// <summary>Where the request's attributes go; positioned after the headers.</summary>
    [UnscopedRef]
    public ref NetlinkWriter Writer => ref _writer;

    /// <summary>Sends the request and returns its replies: enumerate them to the end (the enumeration stops at the ACK or NLMSG_DONE and throws on an error).</summary>
    /// <returns>The replies.</returns>
    /// <exception cref="InvalidOperationException">The request was already sent.</exception>
    public NetlinkReplies Send()
    {
        if (_sent)
        {
            throw new InvalidOperationException($"{_context.Family} {_context.Operation}: this request was already sent; create a new one.");
        }

        _sent = true;
        return new NetlinkReplies(_socket, ref _writer, Sequence, IsDump, _context);
    }
}
