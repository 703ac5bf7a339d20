namespace Devmem.Interop;

// io_uring_setup(2), io_uring_enter(2), io_uring_register(2): through syscall(2) (Libc.Native.cs says why).
internal static unsafe partial class Libc
{
    /// <summary>io_uring_setup(2): a new io_uring fd; <paramref name="p"/> comes back with the ring offsets and features.</summary>
    public static SysResult io_uring_setup(uint entries, io_uring_params* p)
    {
        CheckArch();
        return SysResult.FromReturn((nint)Native.syscall(asm_unistd_io_uring.__NR_io_uring_setup, entries, (long)p, 0, 0, 0, 0));
    }

    /// <summary>io_uring_enter(2) without a signal mask: submits <paramref name="toSubmit"/> SQEs and, with IORING_ENTER_GETEVENTS, waits for <paramref name="minComplete"/> CQEs.</summary>
    public static SysResult io_uring_enter(int fd, uint toSubmit, uint minComplete, uint flags)
    {
        CheckArch();
        return SysResult.FromReturn((nint)Native.syscall(asm_unistd_io_uring.__NR_io_uring_enter, fd, toSubmit, minComplete, flags, 0, 0));
    }

    /// <summary>io_uring_register(2); <paramref name="fd"/> -1 for the opcodes that need no ring.</summary>
    public static SysResult io_uring_register(int fd, uint opcode, void* arg, uint nrArgs)
    {
        CheckArch();
        return SysResult.FromReturn((nint)Native.syscall(asm_unistd_io_uring.__NR_io_uring_register, fd, opcode, (long)arg, nrArgs, 0, 0));
    }
}
