#!/usr/bin/env bash
# Build the kernel's own ncdevmem (the devmem TCP selftest tool, our oracle) for a guest kernel series.
#   scripts/vm/build-ncdevmem.sh --kernel 6.12|latest
# Prints the path of a statically linked ncdevmem on stdout (logs on stderr). Built from Debian's
# linux-source package of that series inside the cached trixie chroot (scripts/vm/chroot.sh): this
# machine's glibc is older than the one the YNL code generator's output and the headers need.
# What building it from Debian's linux-source needs: MAINTAINERS must be present (else the YNL generator
# loops forever), `make headers` first, and the full path of the tool as the make target.
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
        *) echo "build-ncdevmem.sh: unknown argument '$1' (usage: --kernel 6.12|latest)" >&2; exit 2 ;;
    esac
done
case "$series" in
    6.12) src_series=6.12 ;;
    latest) src_series=newest ;;
    *) echo "build-ncdevmem.sh: --kernel 6.12|latest is required" >&2; exit 2 ;;
esac

read -r _ kver < <(vm_kernel_resolve "$series") || exit 1
paths=(Makefile Kbuild Kconfig MAINTAINERS arch/x86 include scripts tools usr Documentation/netlink)
# kernel_source downloads and unpacks the package; the tree itself is extracted straight from its
# tarball into the chroot (the shared cache's tree may hold only parts of these folders).
tree=$(kernel_source "$src_series" Makefile) || exit 1
name=$(basename "$(dirname "$(dirname "$tree")")")      # linux-source-X.Y-VERSION
tarball=$(find "$(dirname "$(dirname "$tree")")/deb/usr/src" -maxdepth 1 -name 'linux-source-*.tar.*' | head -n1)
[ -n "$tarball" ] || { echo "build-ncdevmem.sh: no source tarball for $name" >&2; exit 1; }
# The tool must come from the same X.Y as the guest's kernel.
xy=${name#linux-source-}; xy=${xy%%-*}
case "$kver" in
    "$xy".*) ;;
    *) echo "build-ncdevmem.sh: $name does not match the guest kernel $kver" >&2; exit 1 ;;
esac
out=$DEVMEM_CACHE/ncdevmem/$name
if [ -x "$out/ncdevmem" ]; then
    echo "$out/ncdevmem"
    exit 0
fi

dir=$(build_chroot trixie)
build_chroot_apt "$dir" make gcc libc6-dev libmnl-dev python3 python3-yaml python3-jsonschema
work=/build/$name
if [ ! -f "$dir$work/.copied" ]; then
    echo "build-ncdevmem.sh: copying the $name tree into the chroot" >&2
    rm -rf "${dir:?}$work"
    mkdir -p "$dir$work"
    top=$(basename "$tree")
    tar -C "$dir$work" --strip-components=1 -xf "$tarball" "${paths[@]/#/$top/}"
    touch "$dir$work/.copied"
fi
if [ -d "$dir$work/tools/testing/selftests/drivers/net/hw" ] &&
    grep -q ncdevmem "$dir$work/tools/testing/selftests/drivers/net/hw/Makefile"; then
    sub=tools/testing/selftests/drivers/net/hw      # 7.x
else
    sub=tools/testing/selftests/net                 # 6.12
fi
log=$dir$work/ncdevmem-build.log
echo "build-ncdevmem.sh: building $sub/ncdevmem from $name (make headers first, about a minute)" >&2
if ! build_chroot_run "$dir" sh -c "cd $work && make -s headers && make -C $sub $work/$sub/ncdevmem LDFLAGS=-static" \
    >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build-ncdevmem.sh: ncdevmem build failed for $name (log: $log)" >&2
    exit 1
fi
mkdir -p "$out"
cp "$dir$work/$sub/ncdevmem" "$out/ncdevmem.tmp"
mv "$out/ncdevmem.tmp" "$out/ncdevmem"
echo "$out/ncdevmem"
