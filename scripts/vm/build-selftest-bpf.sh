#!/usr/bin/env bash
# Build the BPF objects of the kernel's drv-net selftests (tools/testing/selftests/drivers/net/hw/*.bpf.c:
# nk_forward.bpf.o and nk_primary_rx_redirect.bpf.o, which NetDrvContEnv attaches with tc for the netkit
# tests; and tools/testing/selftests/net/lib/xdp_dummy.bpf.c, which nk_qlease.py tries to attach) from
# Debian's linux-source of the newest kernel.
#   scripts/vm/build-selftest-bpf.sh
# Prints the directory that holds the .bpf.o files on stdout (logs on stderr); xdp_dummy.bpf.o is in its
# net-lib/ subdirectory (the test looks for it in net/lib). Compiled in the cached
# trixie chroot (scripts/vm/chroot.sh) with clang and libbpf-dev's bpf_helpers.h against the tree's own
# uapi headers (`make headers`, done by build-ncdevmem.sh), with the flags of the kernel's
# tools/testing/selftests/net/bpf.mk (which builds its own libbpf first; the packaged headers do here).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
# shellcheck source=../lib/debian.sh
source "$root/scripts/lib/debian.sh"
# shellcheck source=../lib/kernel-source.sh
source "$root/scripts/lib/kernel-source.sh"
# shellcheck source=../lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"
# shellcheck source=chroot.sh
source "$root/scripts/vm/chroot.sh"

# The tree in the chroot, with `make headers` done: build-ncdevmem.sh leaves it there (cached).
"$root/scripts/vm/build-ncdevmem.sh" --kernel latest >/dev/null
tree=$(kernel_source newest Makefile)
name=$(basename "$(dirname "$(dirname "$tree")")")      # linux-source-X.Y-VERSION
out=$DEVMEM_CACHE/ncdevmem/$name/bpf
sub=tools/testing/selftests/drivers/net/hw
if [ -f "$out/.complete" ]; then
    echo "$out"
    exit 0
fi
dir=$(build_chroot trixie)
work=/build/$name
[ -f "$dir$work/usr/include/linux/bpf.h" ] || { echo "build-selftest-bpf.sh: no uapi headers in $dir$work (build-ncdevmem.sh makes them)" >&2; exit 1; }
build_chroot_apt "$dir" clang llvm libbpf-dev
log=$dir$work/selftest-bpf-build.log
echo "build-selftest-bpf.sh: compiling $sub/*.bpf.c from $name" >&2
# bpf.mk's get_sys_includes: clang's default include directories, after the tree's own.
if ! build_chroot_run "$dir" sh -c "cd $work/$sub && mkdir -p /tmp/selftest-bpf && \
        sys=\$(clang -v -E - </dev/null 2>&1 | sed -n '/<...> search starts here:/,/End of search list./{ s| \\(/.*\\)|-idirafter \\1|p }') && \
        for f in *.bpf.c ../../../net/lib/xdp_dummy.bpf.c; do \
            clang -O2 -g --target=bpf -I$work/usr/include \$sys -c \$f -o /tmp/selftest-bpf/\$(basename \${f%.c}).o || exit 1; done" \
        >"$log" 2>&1; then
    cat "$log" >&2
    echo "build-selftest-bpf.sh: BPF build failed for $name" >&2
    exit 1
fi
mkdir -p "$out/net-lib"
mv "$dir"/tmp/selftest-bpf/xdp_dummy.bpf.o "$out/net-lib/"
cp "$dir"/tmp/selftest-bpf/*.bpf.o "$out/"
touch "$out/.complete"
echo "$out"
