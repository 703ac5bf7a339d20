using System.Runtime.InteropServices;
using Devmem.Interop;
using Devmem.Memory;
using Devmem.Sys;

namespace Devmem.Zcrx;

/// <summary>
/// One io_uring, called directly (no liburing): set up with 32-byte CQEs, its SQ/CQ rings and SQE array
/// mapped (man 2 io_uring_setup, "Ring setup"), SQEs filled in place and submitted with
/// <c>io_uring_enter</c>. Not thread-safe: with IORING_SETUP_SINGLE_ISSUER the kernel accepts
/// submissions and registrations only from the thread that created the ring (EEXIST otherwise), so one
/// thread owns it (<see cref="ZcrxInstance"/>'s loop thread).
/// </summary>
/// <remarks>
/// Memory ordering follows liburing's: the kernel's CQ tail and SQ head are read with acquire
/// (<c>Volatile.Read</c>), our SQ tail and CQ head written with release
/// (<c>Volatile.Write</c>), so the kernel sees a filled SQE before its tail and
/// we see a CQE's contents after its tail.
/// </remarks>
internal sealed unsafe class IoUringRing : IDisposable
{
    /// <summary>A CQE with IORING_SETUP_CQE32: <c>struct io_uring_cqe</c> and 16 bytes of big_cqe.</summary>
    public const int CqeSize = 32;

    private readonly SafeFdHandle _fd;
    private readonly SafeMappingHandle _rings;
    private readonly SafeMappingHandle? _cqRing;
    private readonly SafeMappingHandle _sqeMap;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint _sqEntries;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly byte* _cqes;
    private readonly io_uring_sqe* _sqes;
    private uint _sqTailLocal;

    private IoUringRing(SafeFdHandle fd, in io_uring_params p)
    {
        _fd = fd;
        Flags = p.flags;
        Features = p.features;
        nuint sqSize = p.sq_off.array + (p.sq_entries * sizeof(uint));
        nuint cqSize = p.cq_off.cqes + (p.cq_entries * (nuint)CqeSize);
        bool single = (p.features & linux_io_uring.IORING_FEAT_SINGLE_MMAP) != 0;
        if (single)
        {
            sqSize = cqSize = Math.Max(sqSize, cqSize);
        }

        _rings = Map(fd, sqSize, (long)linux_io_uring.IORING_OFF_SQ_RING, "the SQ ring");
        byte* sq = (byte*)_rings.DangerousGetHandle();
        byte* cq = sq;
        if (!single)
        {
            _cqRing = Map(fd, cqSize, (long)linux_io_uring.IORING_OFF_CQ_RING, "the CQ ring");
            cq = (byte*)_cqRing.DangerousGetHandle();
        }

        _sqeMap = Map(fd, p.sq_entries * (nuint)sizeof(io_uring_sqe), (long)linux_io_uring.IORING_OFF_SQES, "the SQE array");
        _sqes = (io_uring_sqe*)_sqeMap.DangerousGetHandle();
        _sqHead = (uint*)(sq + p.sq_off.head);
        _sqTail = (uint*)(sq + p.sq_off.tail);
        _sqMask = *(uint*)(sq + p.sq_off.ring_mask);
        _sqEntries = *(uint*)(sq + p.sq_off.ring_entries);
        _cqHead = (uint*)(cq + p.cq_off.head);
        _cqTail = (uint*)(cq + p.cq_off.tail);
        _cqMask = *(uint*)(cq + p.cq_off.ring_mask);
        _cqes = cq + p.cq_off.cqes;

        // The SQ array maps ring slots to SQE indexes; slot i always names SQE i.
        uint* array = (uint*)(sq + p.sq_off.array);
        for (uint i = 0; i < _sqEntries; i++)
        {
            array[i] = i;
        }

        _sqTailLocal = *_sqTail;
    }

    /// <summary>The setup flags the kernel took.</summary>
    public uint Flags { get; }

    /// <summary>IORING_FEAT_* of the kernel.</summary>
    public uint Features { get; }

    /// <summary>The ring's fd, for registrations. Closing it ends every request and unregisters every zcrx instance of the ring.</summary>
    public SafeFdHandle Handle => _fd;

    /// <summary>
    /// io_uring_setup(2) with <paramref name="flags"/> and 32-byte CQEs, then maps the rings. Failures are
    /// <see cref="ZcrxException"/>s with the kernel's errno and what it means here.
    /// </summary>
    public static IoUringRing Create(uint entries, uint flags)
    {
        var p = new io_uring_params { flags = flags | linux_io_uring.IORING_SETUP_CQE32 };
        var fd = new SafeFdHandle();
        SysResult r = Syscalls.IoUringSetup(entries, &p);
        if (r.IsError)
        {
            fd.Dispose();
            throw ZcrxException.SetupFailed(r.Errno, p.flags);
        }

        fd.Own(r.Int32);
        try
        {
            return new IoUringRing(fd, p);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    private static SafeMappingHandle Map(SafeFdHandle fd, nuint length, long offset, string what)
    {
        var m = new SafeMappingHandle();
        SysResult r = Syscalls.MapShared(fd, length, offset);
        if (r.IsError)
        {
            m.Dispose();
            throw DevmemException.Syscall($"mmap of the io_uring's {what} ({length} bytes)", r.Errno,
                r.Errno == Errno.ENOMEM ? "Locked memory is limited: raise RLIMIT_MEMLOCK (ulimit -l) or use a smaller ring." : null);
        }

        m.Own(r.Value, length);
        return m;
    }

    /// <summary>SQEs filled and not yet handed to the kernel.</summary>
    public uint Unsubmitted => _sqTailLocal - Volatile.Read(ref *_sqHead);

    /// <summary>The next free SQE, zeroed; null when the SQ ring is full (submit first).</summary>
    public io_uring_sqe* TryGetSqe()
    {
        if (_sqTailLocal - Volatile.Read(ref *_sqHead) >= _sqEntries)
        {
            return null;
        }

        io_uring_sqe* sqe = &_sqes[_sqTailLocal & _sqMask];
        *sqe = default;
        _sqTailLocal++;
        return sqe;
    }

    /// <summary>
    /// Submits what is queued and, when <paramref name="wait"/>, waits for at least one CQE (with
    /// IORING_SETUP_DEFER_TASKRUN this is also when the kernel posts completions). Returns false when a
    /// signal interrupted the wait (the caller just loops).
    /// </summary>
    public bool Enter(bool wait)
    {
        // Publish the filled SQEs (release: their contents before the tail); the kernel reads them only in
        // io_uring_enter, there is no SQ poll thread.
        Volatile.Write(ref *_sqTail, _sqTailLocal);
        uint pending = Unsubmitted;
        SysResult r = Syscalls.IoUringEnter(_fd, pending, wait ? 1u : 0u, wait ? linux_io_uring.IORING_ENTER_GETEVENTS : 0);
        if (!r.IsError)
        {
            return true;
        }

        if (r.Errno is Errno.EINTR or Errno.EAGAIN or Errno.EBUSY)
        {
            // EAGAIN/EBUSY: the kernel is short of request memory or the CQ overflow list is not drained;
            // reaping CQEs and entering again is the documented answer (man 2 io_uring_enter).
            return false;
        }

        throw DevmemException.Syscall("io_uring_enter", r.Errno);
    }

    /// <summary>The next CQE, or null when the CQ ring is empty. Valid until <see cref="AdvanceCq"/>.</summary>
    public io_uring_cqe* PeekCqe(uint index)
    {
        uint head = *_cqHead + index;
        if (head == Volatile.Read(ref *_cqTail))
        {
            return null;
        }

        return (io_uring_cqe*)(_cqes + ((head & _cqMask) * (nuint)CqeSize));
    }

    /// <summary>Hands <paramref name="count"/> CQEs back to the kernel.</summary>
    public void AdvanceCq(uint count) => Volatile.Write(ref *_cqHead, *_cqHead + count);

    /// <summary>io_uring_register(2) on this ring.</summary>
    public SysResult Register(uint opcode, void* argument, uint count) => Syscalls.IoUringRegister(_fd, opcode, argument, count);

    /// <summary>Whether the kernel has <paramref name="opcode"/> (IORING_REGISTER_PROBE); null when the probe itself fails.</summary>
    public bool? Supports(byte opcode)
    {
        const int ops = 256;
        byte* buffer = stackalloc byte[sizeof(io_uring_probe) + (ops * sizeof(io_uring_probe_op))];
        new Span<byte>(buffer, sizeof(io_uring_probe) + (ops * sizeof(io_uring_probe_op))).Clear();
        SysResult r = Register(linux_io_uring.IORING_REGISTER_PROBE, buffer, ops);
        if (r.IsError)
        {
            return null;
        }

        var probe = (io_uring_probe*)buffer;
        if (opcode > probe->last_op || opcode >= probe->ops_len)
        {
            return false;
        }

        var op = (io_uring_probe_op*)(buffer + sizeof(io_uring_probe)) + opcode;
        return (op->flags & linux_io_uring.IO_URING_OP_SUPPORTED) != 0;
    }

    /// <summary>Unmaps the rings and closes the fd (which ends every request and zcrx instance of the ring).</summary>
    public void Dispose()
    {
        _sqeMap.Dispose();
        _cqRing?.Dispose();
        _rings.Dispose();
        _fd.Dispose();
    }
}
