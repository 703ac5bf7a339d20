# shellcheck shell=bash
# Install Debian packages the suite needs, only when missing: ensure_apt PKG...
# CI runs on a fresh machine as root; a developer's machine may already have them.

_apt_updated=""
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "prereqs: missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
        return 1
    fi
    if [ -z "$_apt_updated" ]; then
        apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1 || { echo "prereqs: apt-get update failed" >&2; return 1; }
        _apt_updated=1
    fi
    echo "prereqs: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        echo "prereqs: apt-get install ${missing[*]} failed" >&2
        return 1
    }
}
