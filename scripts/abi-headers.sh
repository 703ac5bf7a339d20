#!/usr/bin/env bash
# The kernel's uapi headers for the ABI test: Debian's linux-libc-dev, unpacked under .cache/.
#   scripts/abi-headers.sh 6.12|newest
# prints the unpacked package root (headers under usr/include and usr/include/x86_64-linux-gnu) and,
# on a second line, the package version. 6.12 is trixie's; newest is whichever of sid and
# trixie-backports has the newer linux-libc-dev. Uses a private apt configuration (scripts/lib/debian.sh);
# the machine's apt sources are never touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
# shellcheck source=lib/debian.sh
source "$root/scripts/lib/debian.sh"

series=${1:-}
case "$series" in
    6.12) suite=trixie ;;
    newest) suite=$(debian_newest_suite linux-libc-dev sid trixie-backports) ;;
    *) echo "usage: $0 6.12|newest" >&2; exit 2 ;;
esac
debian_update "$suite"
deb=$(debian_download "$suite" linux-libc-dev)
ver=$(dpkg-deb -f "$deb" Version)
if [ "$series" = 6.12 ] && [[ $ver != 6.12.* ]]; then
    echo "abi-headers.sh: $suite's linux-libc-dev is $ver, not a 6.12 kernel's" >&2
    exit 1
fi
dir=$DEVMEM_CACHE/abi-headers/linux-libc-dev_${ver}_$(dpkg-deb -f "$deb" Architecture)
debian_extract "$deb" "$dir"
[ -f "$dir/usr/include/linux/version.h" ] || { echo "abi-headers.sh: $deb has no usr/include/linux/version.h" >&2; exit 1; }
echo "$dir"
echo "$ver"
