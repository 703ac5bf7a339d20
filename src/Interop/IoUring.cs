namespace Devmem.Interop;

// io_uring (include/uapi/linux/io_uring.h) and its zero-copy receive, zcrx
// (include/uapi/linux/io_uring/zcrx.h, include/uapi/linux/io_uring/query.h; io_uring/zcrx.c).
// Only what the zcrx receiver uses: ring setup and mapping, the SQE/CQE layouts, the opcodes it
// submits (RECV_ZC, READ for its wake-up eventfd, ASYNC_CANCEL), the register opcodes (PROBE,
// ZCRX_IFQ, ZCRX_CTRL) and the zcrx registration, refill-ring and event structures.
// The three system calls have no glibc wrapper: they go through syscall(2) with the numbers below.
// Versions: io_uring 5.1; IORING_SETUP_SINGLE_ISSUER 6.0, DEFER_TASKRUN 6.1 (both in 6.12's header);
// io_uring_region_desc 6.13; zcrx (RECV_ZC, ZCRX_IFQ) 6.15; dma-buf areas 6.16; QUERY 6.18;
// ZCRX_CTRL 6.19; rx_buf_len, events and ZCRX_REG_NODEV in 7.x (all in 7.3's headers). Versions after
// 6.16 are inferred from the upstream history; the ABI test checks everything against 7.3's headers and
// that 6.12's lack what is marked newer.

/// <summary>The io_uring system call numbers, <c>asm/unistd.h</c> (the same on x86_64 and arm64: asm-generic numbering since 5.1).</summary>
[UapiHeader("asm/unistd.h")]
internal static class asm_unistd_io_uring
{
    public const int __NR_io_uring_setup = 425;
    public const int __NR_io_uring_enter = 426;
    public const int __NR_io_uring_register = 427;
}

/// <summary>Flags and values of <c>linux/io_uring.h</c> that the zcrx receiver uses.</summary>
[UapiHeader("linux/io_uring.h")]
internal static class linux_io_uring
{
    // io_uring_setup(2) flags.
    public const uint IORING_SETUP_CLAMP = 1U << 4;
    public const uint IORING_SETUP_R_DISABLED = 1U << 6;
    public const uint IORING_SETUP_SUBMIT_ALL = 1U << 7;
    public const uint IORING_SETUP_COOP_TASKRUN = 1U << 8;
    public const uint IORING_SETUP_CQE32 = 1U << 11;
    public const uint IORING_SETUP_SINGLE_ISSUER = 1U << 12;
    public const uint IORING_SETUP_DEFER_TASKRUN = 1U << 13;

    // io_uring_params.features.
    public const uint IORING_FEAT_SINGLE_MMAP = 1U << 0;
    public const uint IORING_FEAT_NODROP = 1U << 1;

    // mmap offsets of the rings.
    public const ulong IORING_OFF_SQ_RING = 0;
    public const ulong IORING_OFF_CQ_RING = 0x8000000;
    public const ulong IORING_OFF_SQES = 0x10000000;

    // io_uring_enter(2) flags.
    public const uint IORING_ENTER_GETEVENTS = 1U << 0;

    // Opcodes (enum io_uring_op).
    public const byte IORING_OP_NOP = 0;
    public const byte IORING_OP_ACCEPT = 13;
    public const byte IORING_OP_ASYNC_CANCEL = 14;
    public const byte IORING_OP_READ = 22;
    [KernelSince("6.15")] public const byte IORING_OP_RECV_ZC = 58;

    // sqe->ioprio for receives.
    public const ushort IORING_RECV_MULTISHOT = 1 << 1;

    // sqe->cancel_flags.
    public const uint IORING_ASYNC_CANCEL_ALL = 1U << 0;
    public const uint IORING_ASYNC_CANCEL_USERDATA = 1U << 4;

    // cqe->flags.
    public const uint IORING_CQE_F_MORE = 1U << 1;

    // io_uring_register(2) opcodes (enum io_uring_register_op).
    public const uint IORING_REGISTER_PROBE = 8;
    public const uint IORING_REGISTER_ENABLE_RINGS = 12;
    [KernelSince("6.15")] public const uint IORING_REGISTER_ZCRX_IFQ = 32;
    [KernelSince("6.19")] public const uint IORING_REGISTER_ZCRX_CTRL = 36;

    // struct io_uring_probe_op.flags.
    public const ushort IO_URING_OP_SUPPORTED = 1 << 0;

    // struct io_uring_region_desc.flags.
    [KernelSince("6.13")] public const uint IORING_MEM_REGION_TYPE_USER = 1;
}

/// <summary>
/// zcrx values. 7.3 declares them in <c>linux/io_uring/zcrx.h</c>, which <c>linux/io_uring.h</c>
/// includes; they were first in <c>linux/io_uring.h</c> itself, which is the header named here.
/// </summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.15")]
internal static class linux_io_uring_zcrx
{
    /// <summary>The bit from which the area id is encoded into CQE and refill offsets.</summary>
    public const int IORING_ZCRX_AREA_SHIFT = 48;

    // enum io_uring_zcrx_area_flags.
    [KernelSince("6.16")] public const uint IORING_ZCRX_AREA_DMABUF = 1;

    // enum zcrx_reg_flags (inferred versions: IMPORT with ZCRX_CTRL, NODEV later).
    [KernelSince("6.19")] public const uint ZCRX_REG_IMPORT = 1;
    [KernelSince("7.2")] public const uint ZCRX_REG_NODEV = 2;

    // enum zcrx_event_type and enum zcrx_event_desc_flags: present in 7.3 (its first release is not
    // established here; the 6.12 probe checks only that 6.12 lacks it).
    [KernelSince("7.3")] public const uint ZCRX_EVENT_ALLOC_FAIL = 0;
    [KernelSince("7.3")] public const uint ZCRX_EVENT_COPY = 1;
    [KernelSince("7.3")] public const uint ZCRX_EVENT_DESC_FLAG_STATS = 1U << 0;

    // enum zcrx_ctrl_op (inferred).
    [KernelSince("6.19")] public const uint ZCRX_CTRL_FLUSH_RQ = 0;
    [KernelSince("7.3")] public const uint ZCRX_CTRL_ARM_EVENT = 2;
}

/// <summary><c>struct io_sqring_offsets</c>: where the SQ ring's fields sit in its mapping.</summary>
[UapiHeader("linux/io_uring.h")]
internal struct io_sqring_offsets
{
    public uint head;
    public uint tail;
    public uint ring_mask;
    public uint ring_entries;
    public uint flags;
    public uint dropped;
    public uint array;
    public uint resv1;
    public ulong user_addr;
}

/// <summary><c>struct io_cqring_offsets</c>: where the CQ ring's fields sit in its mapping.</summary>
[UapiHeader("linux/io_uring.h")]
internal struct io_cqring_offsets
{
    public uint head;
    public uint tail;
    public uint ring_mask;
    public uint ring_entries;
    public uint overflow;
    public uint cqes;
    public uint flags;
    public uint resv1;
    public ulong user_addr;
}

/// <summary><c>struct io_uring_params</c>: io_uring_setup(2)'s argument and answer.</summary>
[UapiHeader("linux/io_uring.h")]
internal unsafe struct io_uring_params
{
    public uint sq_entries;
    public uint cq_entries;
    public uint flags;
    public uint sq_thread_cpu;
    public uint sq_thread_idle;
    public uint features;
    public uint wq_fd;
    public fixed uint resv[3];
    public io_sqring_offsets sq_off;
    public io_cqring_offsets cq_off;
}

/// <summary>
/// <c>struct io_uring_sqe</c> (64 bytes), its unions flattened to the members the receiver sets: the
/// first member of each union keeps the C name (<c>off</c>, <c>addr</c>, <c>rw_flags</c>,
/// <c>buf_index</c>), and <c>zcrx_ifq_idx</c> is the 6.15 member of the union at offset 44.
/// </summary>
[UapiHeader("linux/io_uring.h")]
internal unsafe struct io_uring_sqe
{
    public byte opcode;
    public byte flags;
    /// <summary>For receives: IORING_RECV_MULTISHOT and other IORING_RECVSEND_* flags.</summary>
    public ushort ioprio;
    public int fd;
    public ulong off;
    public ulong addr;
    public uint len;
    /// <summary>The op's flags (rw_flags; msg_flags, cancel_flags... share it).</summary>
    public uint rw_flags;
    public ulong user_data;
    public ushort buf_index;
    public ushort personality;
    /// <summary>For IORING_OP_RECV_ZC: the zcrx instance (io_uring_zcrx_ifq_reg.zcrx_id).</summary>
    [KernelSince("6.15")] public uint zcrx_ifq_idx;
    public ulong addr3;
    public fixed ulong __pad2[1];
}

/// <summary>
/// <c>struct io_uring_cqe</c> (16 bytes); with IORING_SETUP_CQE32 each is followed by 16 more bytes, the
/// flexible array <c>big_cqe[]</c>, which for RECV_ZC holds an <see cref="io_uring_zcrx_cqe"/>.
/// </summary>
[UapiHeader("linux/io_uring.h")]
[FlexibleArray("big_cqe", typeof(ulong))]
internal struct io_uring_cqe
{
    public ulong user_data;
    public int res;
    public uint flags;
}

/// <summary><c>struct io_uring_probe_op</c>: one opcode in IORING_REGISTER_PROBE's answer.</summary>
[UapiHeader("linux/io_uring.h")]
internal struct io_uring_probe_op
{
    public byte op;
    public byte resv;
    /// <summary>IO_URING_OP_SUPPORTED when the kernel has the opcode.</summary>
    public ushort flags;
    public uint resv2;
}

/// <summary><c>struct io_uring_probe</c>: IORING_REGISTER_PROBE's answer, followed by <c>ops_len</c> <see cref="io_uring_probe_op"/>s.</summary>
[UapiHeader("linux/io_uring.h")]
[FlexibleArray("ops", typeof(io_uring_probe_op))]
internal unsafe struct io_uring_probe
{
    public byte last_op;
    public byte ops_len;
    public ushort resv;
    public fixed uint resv2[3];
}

/// <summary><c>struct io_uring_region_desc</c>: memory the application gives the kernel (here the zcrx refill ring).</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.13")]
internal unsafe struct io_uring_region_desc
{
    public ulong user_addr;
    public ulong size;
    /// <summary>IORING_MEM_REGION_TYPE_USER: <see cref="user_addr"/> is the application's memory.</summary>
    public uint flags;
    public uint id;
    public ulong mmap_offset;
    public fixed ulong __resv[4];
}

/// <summary><c>struct io_uring_zcrx_rqe</c>: one refill-ring entry, a buffer given back to the kernel.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.15")]
internal struct io_uring_zcrx_rqe
{
    /// <summary>The CQE's offset without the area bits, ORed with the area's rq_area_token.</summary>
    public ulong off;
    public uint len;
    public uint __pad;
}

/// <summary><c>struct io_uring_zcrx_cqe</c>: the second half of a RECV_ZC CQE (CQE32).</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.15")]
internal struct io_uring_zcrx_cqe
{
    /// <summary>Area id in the bits from IORING_ZCRX_AREA_SHIFT, the offset in the area below them.</summary>
    public ulong off;
    public ulong __pad;
}

/// <summary><c>struct io_uring_zcrx_offsets</c>: where the refill ring's head, tail and entries sit in its region.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.15")]
internal unsafe struct io_uring_zcrx_offsets
{
    public uint head;
    public uint tail;
    public uint rqes;
    public uint __resv2;
    public fixed ulong __resv[2];
}

/// <summary><c>struct io_uring_zcrx_area_reg</c>: the memory the NIC writes payload into.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.15")]
internal unsafe struct io_uring_zcrx_area_reg
{
    /// <summary>Host memory: its address (page-aligned). A dma-buf: 0.</summary>
    public ulong addr;
    public ulong len;
    /// <summary>Set by the kernel: the area id in the bits from IORING_ZCRX_AREA_SHIFT, for refill entries.</summary>
    public ulong rq_area_token;
    /// <summary>IORING_ZCRX_AREA_DMABUF or 0.</summary>
    public uint flags;
    public uint dmabuf_fd;
    public fixed ulong __resv2[2];
}

/// <summary><c>struct zcrx_stats</c>: what the kernel copied instead of receiving by zero copy.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("7.3")]
internal struct zcrx_stats
{
    public ulong copy_count;
    public ulong copy_bytes;
}

/// <summary><c>struct zcrx_event_desc</c>: which events post a CQE, and where the stats live in the refill region.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("7.3")]
internal unsafe struct zcrx_event_desc
{
    public ulong user_data;
    /// <summary>1 &lt;&lt; ZCRX_EVENT_* for each event wanted.</summary>
    public uint type_mask;
    /// <summary>ZCRX_EVENT_DESC_FLAG_STATS when <see cref="stats_offset"/> is valid.</summary>
    public uint flags;
    public ulong stats_offset;
    public fixed ulong __resv2[9];
}

/// <summary><c>struct io_uring_zcrx_ifq_reg</c>: IORING_REGISTER_ZCRX_IFQ's argument and answer.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("6.15")]
internal unsafe struct io_uring_zcrx_ifq_reg
{
    public uint if_idx;
    public uint if_rxq;
    public uint rq_entries;
    /// <summary>ZCRX_REG_* flags.</summary>
    public uint flags;
    /// <summary>Pointer to the <see cref="io_uring_zcrx_area_reg"/>.</summary>
    public ulong area_ptr;
    /// <summary>Pointer to the refill ring's <see cref="io_uring_region_desc"/>.</summary>
    public ulong region_ptr;
    public io_uring_zcrx_offsets offsets;
    /// <summary>Set by the kernel: the id RECV_ZC names (sqe->zcrx_ifq_idx).</summary>
    public uint zcrx_id;
    /// <summary>The buffer size asked for (0: a page); set by the kernel to the size it uses (7.0).</summary>
    [KernelSince("7.0")] public uint rx_buf_len;
    /// <summary>Pointer to a <see cref="zcrx_event_desc"/> or 0.</summary>
    [KernelSince("7.3")] public ulong event_desc;
    public fixed ulong __resv[2];
}

/// <summary><c>struct zcrx_ctrl_arm_event</c>: the ZCRX_CTRL_ARM_EVENT argument.</summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("7.3")]
internal unsafe struct zcrx_ctrl_arm_event
{
    public uint event_type;
    public fixed uint __resv[11];
}

/// <summary>
/// <c>struct zcrx_ctrl</c>: IORING_REGISTER_ZCRX_CTRL's argument. Its union is declared through its
/// ARM_EVENT member (every member is 48 bytes); FLUSH_RQ takes it zeroed.
/// </summary>
[UapiHeader("linux/io_uring.h")]
[KernelSince("7.3")]
internal unsafe struct zcrx_ctrl
{
    public uint zcrx_id;
    public uint op;
    public fixed ulong __resv[2];
    public zcrx_ctrl_arm_event zc_arm_event;
}
