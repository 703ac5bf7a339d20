namespace Devmem.Netlink;

// Placeholder until the interop layer's typed errno lands; replaced by it.
internal static class Errno
{
    public static string NameOf(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        34 => "ERANGE",
        61 => "ENODATA",
        77 => "EBADFD",
        92 => "ENOPROTOOPT",
        95 => "EOPNOTSUPP",
        105 => "ENOBUFS",
        113 => "EHOSTUNREACH",
        525 => "ETOOSMALL",
        _ => "errno " + errno,
    };
}
