# shellcheck shell=bash
# A cached Debian trixie chroot (with trixie-backports in its own sources) for building what must
# match Debian's guest kernels: out-of-tree modules and the kernel's ncdevmem. This machine's
# bookworm toolchain cannot run those kernels' kbuild host tools (they need glibc 2.38).
#
#   build_chroot [SUITE]              create (once) and print the chroot's directory; SUITE is trixie
#                                     (default; trixie-backports is in its sources too) or sid
#   build_chroot_apt DIR PKG...       apt-get install PKG... inside it (proc and /dev mounted only meanwhile)
#   build_chroot_run DIR CMD...       run CMD inside it (proc mounted only meanwhile)
#
# Needs: scripts/lib/debian.sh and scripts/lib/prereqs.sh sourced first; root. The chroot lives in
# $DEVMEM_CACHE/chroot/trixie (about 1 GB with both kernels' headers); a lock file serialises
# concurrent users (the VM harness and the checks may build at the same time).

_build_chroot_dir() { echo "$DEVMEM_CACHE/chroot/${1:-trixie}"; }

_build_chroot_locked() {   # _build_chroot_locked DIR CMD...: run CMD under DIR's lock
    local lock="$1.lock"; shift
    mkdir -p "$(dirname "$lock")"
    (
        flock 9 || exit 1
        "$@"
    ) 9>"$lock"
}

_build_chroot_create() {
    local suite=$1 dir=$2 mirror keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$dir/.complete" ] && return 0
    ensure_apt debootstrap debian-archive-keyring || return 1
    mirror=$(debian_mirror) || return 1
    # A half-made chroot (interrupted run) is removed; nothing is mounted in it outside our calls.
    if [ -e "$dir" ]; then
        _build_chroot_umount "$dir"
        rm -rf --one-file-system "$dir"
    fi
    echo "chroot.sh: debootstrap $suite into $dir (mirror $mirror)" >&2
    debootstrap --variant=minbase --keyring="$keyring" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 || {
        echo "chroot.sh: debootstrap failed, last lines of $dir.log:" >&2
        tail -n 5 "$dir.log" >&2
        return 1
    }
    # The chroot's own sources: trixie and trixie-backports (the newest kernel's headers are there).
    # apt's default pin keeps backports below trixie, so they are asked for by exact version.
    if [ "$suite" = trixie ]; then
        printf 'deb %s trixie main\ndeb %s trixie-updates main\ndeb %s trixie-backports main\n' \
            "$mirror" "$mirror" "$mirror" >"$dir/etc/apt/sources.list"
    fi
    printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
        >"$dir/etc/apt/apt.conf.d/90devmem"
    touch "$dir/.complete"
}

_build_chroot_umount() {
    local dir=$1 m
    for m in dev proc; do
        if mountpoint -q "$dir/$m"; then umount -l "$dir/$m" || true; fi
    done
}

build_chroot() {
    local suite=${1:-trixie} dir
    case "$suite" in
        trixie | sid) ;;
        *) echo "chroot.sh: no build chroot for suite '$suite' (trixie or sid)" >&2; return 1 ;;
    esac
    dir=$(_build_chroot_dir "$suite")
    _build_chroot_locked "$dir" _build_chroot_create "$suite" "$dir" || return 1
    echo "$dir"
}

_build_chroot_apt_locked() {
    local dir=$1; shift
    local missing=() p
    for p in "$@"; do
        chroot "$dir" dpkg-query -W -f='${Status}' "${p%%=*}" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "chroot.sh: installing ${missing[*]} in $dir" >&2
    mount -t proc proc "$dir/proc" || return 1
    mount --bind /dev "$dir/dev" || { umount "$dir/proc"; return 1; }
    local rc=0
    {
        # Refresh the lists (debootstrap's cover trixie only) at most every 6 hours: the archive
        # moves, and an old list 404s.
        if [ -z "$(find "$dir/.apt-updated" -mmin -360 -newer "$dir/etc/apt/sources.list" 2>/dev/null)" ]; then
            chroot "$dir" apt-get -q update && touch "$dir/.apt-updated"
        fi &&
            DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get -q -y install "${missing[@]}" &&
            chroot "$dir" apt-get -q clean
    } >"$dir.apt.log" 2>&1 || rc=$?
    _build_chroot_umount "$dir"
    if [ $rc -ne 0 ]; then
        echo "chroot.sh: apt-get install ${missing[*]} failed in $dir, last lines of $dir.apt.log:" >&2
        tail -n 8 "$dir.apt.log" >&2
    fi
    return $rc
}

build_chroot_apt() {
    _build_chroot_locked "$1" _build_chroot_apt_locked "$@"
}

_build_chroot_run_locked() {
    local dir=$1; shift
    mount -t proc proc "$dir/proc" || return 1
    local rc=0
    chroot "$dir" "$@" || rc=$?
    _build_chroot_umount "$dir"
    return $rc
}

build_chroot_run() {
    _build_chroot_locked "$1" _build_chroot_run_locked "$@"
}
