# shellcheck shell=bash
# Debian package access through a private apt configuration.
#
# The machine's own apt sources are never touched: we read the mirror URL from them and write a
# private sources list per suite under the cache, with private lists, caches and archives.
# Source this file; it defines debian_* functions. Needs: apt-get, dpkg (present on Debian).

DEVMEM_ROOT=${DEVMEM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DEVMEM_CACHE=${DEVMEM_CACHE:-$DEVMEM_ROOT/.cache}

# The machine's Debian mirror, from its deb822 or one-line sources.
debian_mirror() {
    local uri=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
            /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }' \
            /etc/apt/sources.list | head -n1)
    fi
    [ -n "$uri" ] || { echo "debian.sh: no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2; return 1; }
    echo "${uri%/}"
}

_debian_dir() { echo "$DEVMEM_CACHE/apt/$1"; }

# apt-get with the private configuration of SUITE: debian_apt SUITE ARGS...
debian_apt() {
    local suite=$1; shift
    local d; d=$(_debian_dir "$suite")
    apt-get -q \
        -o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" \
        -o Dir::Cache::archives="$d/archives" -o Debug::NoLocking=1 \
        -o Acquire::Check-Valid-Until=false -o APT::Get::List-Cleanup=0 "$@"
}

debian_apt_cache() {
    local suite=$1; shift
    local d; d=$(_debian_dir "$suite")
    apt-cache \
        -o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" "$@"
}

# Write the private sources list and refresh its package lists (at most every 6 hours).
debian_update() {
    local suite=$1 d mirror
    d=$(_debian_dir "$suite")
    mkdir -p "$d/lists/partial" "$d/cache" "$d/archives/partial" "$d/debs"
    mirror=$(debian_mirror) || return 1
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    echo "deb [signed-by=$keyring] $mirror $suite main" >"$d/sources.list"
    if [ -f "$d/updated" ] && [ -n "$(find "$d/updated" -mmin -360 2>/dev/null)" ]; then
        return 0
    fi
    debian_apt "$suite" update >"$d/update.log" 2>&1 || {
        echo "debian.sh: apt-get update for $suite failed (mirror $mirror):" >&2
        tail -n 5 "$d/update.log" >&2
        return 1
    }
    touch "$d/updated"
}

# The candidate version of PACKAGE in SUITE (empty if none).
debian_candidate() {
    local suite=$1 pkg=$2
    debian_apt_cache "$suite" policy "$pkg" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2; exit }'
}

# The first dependency of a metapackage that matches a pattern: debian_depends SUITE PKG REGEX
debian_depends() {
    local suite=$1 pkg=$2 re=$3 ver
    ver=$(debian_candidate "$suite" "$pkg")
    [ -n "$ver" ] || return 1
    debian_apt_cache "$suite" show "$pkg=$ver" 2>/dev/null |
        awk -F': ' '/^Depends:/ { print $2; exit }' | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -E "$re" | head -n1
}

# Download PACKAGE[=VERSION]... of SUITE into the cache; prints each .deb's path.
debian_download() {
    local suite=$1; shift
    local d; d=$(_debian_dir "$suite")
    local pkg name ver deb
    for pkg in "$@"; do
        name=${pkg%%=*}
        if [[ $pkg == *=* ]]; then ver=${pkg#*=}; else ver=$(debian_candidate "$suite" "$name"); fi
        [ -n "$ver" ] || { echo "debian.sh: $name has no version in $suite" >&2; return 1; }
        deb=$(find "$d/debs" -maxdepth 1 -name "${name}_${ver//:/%3a}_*.deb" | head -n1)
        if [ -z "$deb" ]; then
            (cd "$d/debs" && debian_apt "$suite" download "$name=$ver" >"$d/download.log" 2>&1) || {
                echo "debian.sh: apt-get download $name=$ver from $suite failed:" >&2
                tail -n 5 "$d/download.log" >&2
                return 1
            }
            deb=$(find "$d/debs" -maxdepth 1 -name "${name}_${ver//:/%3a}_*.deb" | head -n1)
        fi
        [ -n "$deb" ] || { echo "debian.sh: downloaded $name=$ver but cannot find the .deb" >&2; return 1; }
        echo "$deb"
    done
}

# Which of the given suites has the newest version of PACKAGE: debian_newest_suite PKG SUITE...
debian_newest_suite() {
    local pkg=$1; shift
    local best="" bestver="" s v
    for s in "$@"; do
        debian_update "$s" || return 1
        v=$(debian_candidate "$s" "$pkg")
        [ -n "$v" ] || continue
        if [ -z "$bestver" ] || dpkg --compare-versions "$v" gt "$bestver"; then
            best=$s; bestver=$v
        fi
    done
    [ -n "$best" ] || { echo "debian.sh: no suite of '$*' has $pkg" >&2; return 1; }
    echo "$best"
}

# Unpack a .deb into DIR (once): debian_extract DEB DIR
debian_extract() {
    local deb=$1 dir=$2
    if [ ! -f "$dir/.extracted-$(basename "$deb")" ]; then
        mkdir -p "$dir"
        dpkg -x "$deb" "$dir"
        touch "$dir/.extracted-$(basename "$deb")"
    fi
}
