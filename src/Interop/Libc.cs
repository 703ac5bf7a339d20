using System.Runtime.CompilerServices;

namespace Devmem.Interop;

/// <summary>
/// The system calls this project makes, in their C spelling, each returning a <see cref="SysResult"/>
/// whose <see cref="SysResult.Errno"/> was captured right after the call. File descriptors are raw
/// <c>int</c>s here; the layer above owns them through SafeHandles (allocated before the call).
/// </summary>
/// <remarks>
/// Calls go through Tmds.LibC where its declaration is right (a <c>DllImport</c> with
/// <c>SetLastError = true</c> and C's parameter types); the rest are this assembly's own source-generated
/// <c>LibraryImport</c>s (Libc.Native.cs says which and why). Either way errno is saved by the P/Invoke
/// stub as the call returns and read by <see cref="SysResult.FromReturn"/> before anything else runs.
/// No call uses <c>SuppressGCTransition</c>: several can block.
/// </remarks>
internal static unsafe partial class Libc
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckArch()
    {
        if (!LinuxArch.IsSupported)
        {
            LinuxArch.ThrowIfUnsupported();
        }
    }
}

/// <summary>Shared objects the P/Invokes load.</summary>
[ManagedOnly("names of shared objects to load, not C values")]
internal static class LibraryNames
{
    /// <summary>glibc's soname on x86_64 and arm64.</summary>
    public const string Libc = "libc.so.6";
}
