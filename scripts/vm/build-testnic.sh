#!/usr/bin/env bash
# Build the software devmem NIC (tests/testnic/) for exactly the kernel a VM guest boots.
#   scripts/vm/build-testnic.sh --kernel 6.12|latest
# Prints the .ko's path on stdout (logs go to stderr). The module is built in the cached trixie
# chroot (scripts/vm/chroot.sh) against Debian's linux-headers package of that kernel, and cached at
# .cache/testnic/KVER/testnic.ko; it is rebuilt when the sources in tests/testnic/ change.
# Compiler warnings fail the build.
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

series=""
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel) series=${2:-}; shift 2 ;;
        *) echo "build-testnic.sh: unknown argument '$1' (usage: --kernel 6.12|latest)" >&2; exit 2 ;;
    esac
done
[ -n "$series" ] || { echo "build-testnic.sh: --kernel 6.12|latest is required" >&2; exit 2; }

read -r suite kver < <(vm_kernel_resolve "$series") || { echo "build-testnic.sh: cannot resolve kernel '$series'" >&2; exit 1; }
src=$root/tests/testnic
hash=$(cd "$src" && cat Kbuild testnic.c | sha256sum | cut -c1-16)
out=$DEVMEM_CACHE/testnic/$kver
if [ -f "$out/testnic.ko" ] && [ "$(cat "$out/src-hash" 2>/dev/null)" = "$hash" ]; then
    echo "$out/testnic.ko"
    exit 0
fi

case "$suite" in
    trixie | trixie-backports) csuite=trixie ;;
    *) csuite=$suite ;;
esac
dir=$(build_chroot "$csuite")
hdr_ver=$(debian_candidate "$suite" "linux-headers-$kver") || true
[ -n "$hdr_ver" ] || { echo "build-testnic.sh: linux-headers-$kver not found in $suite" >&2; exit 1; }
build_chroot_apt "$dir" make gcc-14 "linux-headers-$kver=$hdr_ver"

# Build in a private copy inside the chroot (the kbuild tree writes next to the sources).
work=/build/testnic-$kver
rm -rf "${dir:?}$work"
mkdir -p "$dir$work"
cp "$src/Kbuild" "$src/testnic.c" "$dir$work/"
echo "build-testnic.sh: building testnic for $kver ($suite)" >&2
log=$dir$work/build.log
if ! build_chroot_run "$dir" make -C "/lib/modules/$kver/build" M="$work" modules >"$log" 2>&1; then
    cat "$log" >&2
    echo "build-testnic.sh: build failed for $kver" >&2
    exit 1
fi
if grep -E "warning:" "$log" >&2; then
    echo "build-testnic.sh: the build for $kver has warnings (see above); fix them" >&2
    exit 1
fi
mkdir -p "$out"
cp "$dir$work/testnic.ko" "$out/testnic.ko.tmp"
mv "$out/testnic.ko.tmp" "$out/testnic.ko"
echo "$hash" >"$out/src-hash"
echo "$out/testnic.ko"
