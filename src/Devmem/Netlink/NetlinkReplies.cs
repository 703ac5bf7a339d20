using static Devmem.Interop.Netlink;

namespace Devmem.Netlink;

/// <summary>Who sent a request, for error messages and attribute paths.</summary>
internal readonly record struct NetlinkRequestContext(string Family, string Operation, NetlinkFamilySpec? Spec, NetlinkOperationSpec? Op);

/// <summary>
/// The replies to one request, read from the socket as they are enumerated: the family's messages are
/// returned; the final ACK or NLMSG_DONE ends the enumeration; an NLMSG_ERROR (or a failed DONE) throws
/// <see cref="NetlinkException"/>; a dump marked NLM_F_DUMP_INTR throws
/// <see cref="NetlinkDumpInterruptedException"/> once it is complete. Each message is valid only until
/// the next <see cref="MoveNext"/>.
/// </summary>
/// <remarks>
/// Every reply must carry this request's sequence number and the socket's port id. Replies with an
/// older sequence number (left over from a request whose replies were abandoned) are skipped; anything
/// else out of place is a <see cref="NetlinkProtocolException"/>.
/// </remarks>
internal ref struct NetlinkReplies
{
    private readonly GenericNetlinkSocket _socket;
    private readonly uint _sequence;
    private readonly bool _dump;
    private readonly NetlinkRequestContext _context;
    private NetlinkMessageReader _reader;
    private NetlinkMessage _current;
    private bool _done;
    private bool _interrupted;

    internal NetlinkReplies(GenericNetlinkSocket socket, scoped ref NetlinkWriter request, uint sequence, bool dump, NetlinkRequestContext context)
    {
        _socket = socket;
        _sequence = sequence;
        _dump = dump;
        _context = context;
        request.EndMessage();
        socket.Transmit(request.Written);
        _reader = default;
        _current = default;
        _done = false;
        _interrupted = false;
    }

    /// <summary>The reply <see cref="MoveNext"/> moved to.</summary>
    public readonly NetlinkMessage Current => _current;

    /// <summary>Returns this object, for <c>foreach</c>.</summary>
    /// <returns>This object.</returns>
    public readonly NetlinkReplies GetEnumerator() => this;

    /// <summary>Moves to the next reply of the family, receiving datagrams as needed.</summary>
    /// <returns>false once the ACK or NLMSG_DONE arrived.</returns>
    public bool MoveNext()
    {
        while (!_done)
        {
            if (!_reader.TryRead(out NetlinkMessage m))
            {
                _reader = new NetlinkMessageReader(_socket.ReceiveDatagram());
                continue;
            }

            if (m.Sequence != _sequence)
            {
                // Sequence numbers only grow (with wrap-around); anything "behind" ours is a leftover.
                if ((int)(_sequence - m.Sequence) > 0 && m.PortId == _socket.PortId)
                {
                    continue;
                }

                throw NetlinkProtocolException.Malformed($"{_context.Family} {_context.Operation}: reply with sequence {m.Sequence}, expected {_sequence}.");
            }

            if (m.PortId != _socket.PortId)
            {
                throw NetlinkProtocolException.Malformed($"{_context.Family} {_context.Operation}: reply for port id {m.PortId}, this socket is {_socket.PortId}.");
            }

            if ((m.Flags & NLM_F_DUMP_INTR) != 0)
            {
                _interrupted = true;
            }

            switch (m.Type)
            {
                case NLMSG_NOOP:
                    continue;
                case NLMSG_ERROR:
                {
                    _done = true;
                    int error = NetlinkErrors.ParseError(m, out NetlinkExtAck ack);
                    if (error == 0)
                    {
                        return false;
                    }

                    throw NetlinkErrors.Create(_context.Spec, _context.Family, _context.Op, _context.Operation, -error, ack, _socket.LastRequest);
                }

                case NLMSG_DONE:
                {
                    _done = true;
                    int error = NetlinkErrors.ParseDone(m, out NetlinkExtAck ack);
                    if (error < 0)
                    {
                        throw NetlinkErrors.Create(_context.Spec, _context.Family, _context.Op, _context.Operation, -error, ack, _socket.LastRequest);
                    }

                    if (_interrupted)
                    {
                        throw NetlinkDumpInterruptedException.For(_context.Family, _context.Operation);
                    }

                    return false;
                }

                case NLMSG_OVERRUN:
                    throw NetlinkProtocolException.Malformed($"{_context.Family} {_context.Operation}: NLMSG_OVERRUN (data lost).");
                default:
                    if (m.Type < NLMSG_MIN_TYPE)
                    {
                        throw NetlinkProtocolException.Malformed($"{_context.Family} {_context.Operation}: unknown control message type {m.Type}.");
                    }

                    if (!_dump && (m.Flags & NLM_F_MULTI) != 0)
                    {
                        // A do request answered as multipart: tolerated, it still ends with the ACK.
                    }

                    _current = m;
                    return true;
            }
        }

        return false;
    }

    /// <summary>Reads all remaining replies, discarding them (to reach the ACK of a request without reply payload).</summary>
    public void Drain()
    {
        while (MoveNext())
        {
        }
    }
}
