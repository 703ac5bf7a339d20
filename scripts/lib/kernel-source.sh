# shellcheck shell=bash
# The kernel's own sources, from Debian's linux-source-* packages, unpacked (in part) into the cache.
#   kernel_source SERIES [PATH...]   SERIES: 6.12 (trixie) or newest (sid or trixie-backports, whichever
#                                    is newer); prints the tree's directory; extracts only PATHs if given
#                                    (adding to what an earlier call extracted).
# Needs: scripts/lib/debian.sh sourced first; xz-utils, tar.

kernel_source_suite() {
    case "$1" in
        6.12) echo trixie ;;
        newest) debian_newest_suite linux-source sid trixie-backports ;;
        *) echo "kernel-source.sh: unknown series '$1' (6.12 or newest)" >&2; return 1 ;;
    esac
}

kernel_source() {
    local series=$1; shift
    local suite ver pkg deb dir tarball
    suite=$(kernel_source_suite "$series") || return 1
    debian_update "$suite" || return 1
    # linux-source is a metapackage depending on linux-source-X.Y.
    pkg=$(debian_depends "$suite" linux-source '^linux-source-[0-9]') || {
        echo "kernel-source.sh: cannot resolve linux-source in $suite" >&2; return 1; }
    ver=$(debian_candidate "$suite" "$pkg")
    deb=$(debian_download "$suite" "$pkg=$ver") || return 1
    dir=$DEVMEM_CACHE/linux-source/$pkg-$ver
    debian_extract "$deb" "$dir/deb" || return 1
    tarball=$(find "$dir/deb/usr/src" -maxdepth 1 -name 'linux-source-*.tar.*' | head -n1)
    [ -n "$tarball" ] || { echo "kernel-source.sh: no tarball in $deb" >&2; return 1; }
    local top; top=$(basename "$tarball"); top=${top%.tar.*}
    kernel_source_extract "$tarball" "$dir/tree" "$top" "$@" || return 1
    echo "$dir/tree/$top"
}

# Unpack a kernel tarball, whole or in part, adding to what earlier calls unpacked:
#   kernel_source_extract TARBALL TREEDIR TOP [PATH...]
# A path counts as unpacked only when it, or a directory above it, was asked for before (listed in
# TREEDIR/.extracted): that a directory exists says nothing, since unpacking drivers/net/hw creates
# drivers/net without its other files.
kernel_source_extract() {
    local tarball=$1 tree=$2 top=$3; shift 3
    mkdir -p "$tree"
    if [ $# -eq 0 ]; then
        [ -f "$tree/.complete" ] || { tar -C "$tree" -xf "$tarball" && touch "$tree/.complete"; } || return 1
        return 0
    fi
    [ -f "$tree/.complete" ] && return 0
    local p q done_p want=()
    for p in "$@"; do
        p=${p%/}
        done_p=
        if [ -f "$tree/.extracted" ]; then
            while IFS= read -r q; do
                case "$p" in "$q"|"$q"/*) done_p=1; break ;; esac
            done <"$tree/.extracted"
        fi
        [ -n "$done_p" ] || want+=("$p")
    done
    [ ${#want[@]} -gt 0 ] || return 0
    tar -C "$tree" -xf "$tarball" "${want[@]/#/$top/}" || {
        echo "kernel-source.sh: could not extract ${want[*]} from $tarball" >&2; return 1; }
    printf '%s\n' "${want[@]}" >>"$tree/.extracted"
}

# The Debian kernel a VM series boots: prints "SUITE KVER" (e.g. "trixie 6.12.117+deb13-amd64").
#   vm_kernel_resolve 6.12|latest
# Resolved from the suite's linux-image-amd64 metapackage, never hard-coded. 'latest' is whichever of
# sid and trixie-backports has the newer kernel. The VM harness and the module builds both use this,
# so a module is always built for exactly the kernel the guest boots.
vm_kernel_resolve() {
    local series=$1 suite img
    case "$series" in
        6.12) suite=trixie ;;
        latest|newest) suite=$(debian_newest_suite linux-image-amd64 sid trixie-backports) || return 1 ;;
        *) echo "kernel-source.sh: unknown kernel series '$series' (6.12 or latest)" >&2; return 1 ;;
    esac
    debian_update "$suite" || return 1
    img=$(debian_depends "$suite" linux-image-amd64 '^linux-image-[0-9]') || {
        echo "kernel-source.sh: cannot resolve linux-image-amd64 in $suite" >&2; return 1; }
    echo "$suite ${img#linux-image-}"
}
