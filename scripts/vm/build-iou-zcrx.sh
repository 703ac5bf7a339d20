#!/usr/bin/env bash
# Build the kernel's iou-zcrx (tools/testing/selftests/drivers/net/hw/iou-zcrx.c: io_uring zero-copy
# receive, the tool nk_qlease.py and iou-zcrx.py drive) from Debian's linux-source of the newest kernel.
#   scripts/vm/build-iou-zcrx.sh
# Prints the path of a statically linked iou-zcrx on stdout (logs on stderr). It needs a liburing with
# io_uring_register_ifq and the zcrx structures (the kernel's Makefile builds it only then): trixie has
# 2.9, which lacks them, so liburing-dev comes from sid (its headers and liburing.a, unpacked into the
# cached trixie chroot, scripts/vm/chroot.sh) and is linked in statically.
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

tree=$(kernel_source newest tools/testing/selftests/drivers/net/hw)
name=$(basename "$(dirname "$(dirname "$tree")")")      # linux-source-X.Y-VERSION
out=$DEVMEM_CACHE/ncdevmem/$name
if [ -x "$out/iou-zcrx" ]; then
    echo "$out/iou-zcrx"
    exit 0
fi
debian_update sid || exit 1
ver=$(debian_candidate sid liburing-dev) && [ -n "$ver" ] || { echo "build-iou-zcrx.sh: no liburing-dev in sid" >&2; exit 1; }
deb=$(debian_download sid "liburing-dev=$ver") || exit 1
dir=$(build_chroot trixie)
build_chroot_apt "$dir" gcc libc6-dev
lib=/build/liburing-dev-$ver
[ -f "$dir$lib/usr/include/liburing.h" ] || debian_extract "$deb" "$dir$lib" || exit 1
work=/build/iou-zcrx-$name
rm -rf "${dir:?}$work"; mkdir -p "$dir$work"
cp "$tree/tools/testing/selftests/drivers/net/hw/iou-zcrx.c" "$dir$work/"
echo "build-iou-zcrx.sh: building iou-zcrx from $name with liburing $ver (sid)" >&2
if ! build_chroot_run "$dir" sh -c "cd $work && gcc -O2 -I$lib/usr/include iou-zcrx.c -o iou-zcrx -static \
        $lib/usr/lib/x86_64-linux-gnu/liburing.a -lpthread" >"$dir$work/build.log" 2>&1; then
    cat "$dir$work/build.log" >&2
    echo "build-iou-zcrx.sh: build failed" >&2
    exit 1
fi
mkdir -p "$out"
cp "$dir$work/iou-zcrx" "$out/iou-zcrx.tmp"
mv "$out/iou-zcrx.tmp" "$out/iou-zcrx"
echo "$out/iou-zcrx"
