# shellcheck shell=bash
# Host-side helpers of the VM harness: which Debian kernel a series boots, its files in the cache,
# and the modules (with their dependencies) the guest loads.
#   vm_resolve SERIES          prints "SUITE KVER" (vm_kernel_resolve, remembered for a while)
#   vm_kernel_prepare SUITE KVER   downloads and unpacks the kernel into $DEVMEM_CACHE/vm/KVER (once)
#   vm_modules KVER NAME...    prints the decompressed .ko paths to insmod, dependencies first
# Needs: scripts/lib/debian.sh and scripts/lib/kernel-source.sh sourced; kmod (modinfo), xz-utils.

VM_CACHE=$DEVMEM_CACHE/vm

_vm_err() { echo "vm: $*" >&2; }

# vm_kernel_resolve asks apt-cache three times (about 2.5 s). The answer only changes when the
# suite's package lists change, which debian_update refreshes at most every 6 hours: remember it
# for as long (DEVMEM_VM_RESOLVE_MAX_MIN overrides; 0 always asks).
vm_resolve() {
    local series=$1 f ans max=${DEVMEM_VM_RESOLVE_MAX_MIN:-360}
    f=$VM_CACHE/resolved-$series
    mkdir -p "$VM_CACHE"
    if [ "$max" -gt 0 ] && [ -s "$f" ] && [ -n "$(find "$f" -mmin "-$max" 2>/dev/null)" ]; then
        cat "$f"; return 0
    fi
    ans=$(vm_kernel_resolve "$series") || return 1
    case "$ans" in
        *" "*) ;;
        *) _vm_err "vm_kernel_resolve $series gave '$ans', expected 'SUITE KVER'"; return 1 ;;
    esac
    echo "$ans" >"$f.tmp.$$" && mv "$f.tmp.$$" "$f"
    echo "$ans"
}

# The packages holding KVER's files. 6.12 (trixie): linux-image-KVER has boot/vmlinuz-KVER,
# boot/config-KVER and usr/lib/modules/KVER. 7.x: linux-image-KVER is empty and depends on
# linux-binary-KVER (usr/lib/modules/KVER/vmlinuz), linux-modules-KVER and linux-base-KVER (config,
# modules.builtin). We take the image package plus whichever of those it depends on, so either
# layout (and a later move of files between them) is handled without naming a version.
_vm_kernel_packages() {
    local suite=$1 kver=$2 img ver
    img=linux-image-$kver
    ver=$(debian_candidate "$suite" "$img")
    [ -n "$ver" ] || { _vm_err "$img has no version in $suite"; return 1; }
    echo "$img=$ver"
    debian_apt_cache "$suite" show "$img=$ver" 2>/dev/null |
        awk -F': ' '/^(Pre-)?Depends:/ { print $2 }' | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' |
        { grep -E "^linux-(binary|modules|base)-${kver//+/\\+}\$" || true; } | sort -u | sed "s/\$/=$ver/"
}

# Downloads and unpacks KVER once into $VM_CACHE/KVER: vmlinuz, config, pkg/ (the packages'
# files, modules still .ko.xz). Serialised with flock: other helpers share the cache.
vm_kernel_prepare() {
    local suite=$1 kver=$2 dir=$VM_CACHE/$2
    [ -f "$dir/.ready" ] && return 0
    mkdir -p "$VM_CACHE"
    (
        flock 9
        [ -f "$dir/.ready" ] && exit 0
        echo "vm: preparing kernel $kver from $suite (download and unpack, once)" >&2
        rm -rf "$dir/pkg.tmp"; mkdir -p "$dir/pkg.tmp"
        pkgs=$(_vm_kernel_packages "$suite" "$kver") || exit 1
        # shellcheck disable=SC2086 # one package per word
        debs=$(debian_download "$suite" $pkgs) || exit 1
        for deb in $debs; do
            dpkg -x "$deb" "$dir/pkg.tmp" || { _vm_err "dpkg -x $deb failed"; exit 1; }
        done
        p=$dir/pkg.tmp
        vmlinuz=""; config=""
        for f in "$p/boot/vmlinuz-$kver" "$p/usr/lib/modules/$kver/vmlinuz"; do [ -f "$f" ] && vmlinuz=$f; done
        for f in "$p/boot/config-$kver" "$p/usr/lib/modules/$kver/config"; do [ -f "$f" ] && config=$f; done
        [ -n "$vmlinuz" ] || { _vm_err "no vmlinuz for $kver in: $pkgs"; exit 1; }
        [ -n "$config" ] || { _vm_err "no kernel config for $kver in: $pkgs"; exit 1; }
        [ -d "$p/usr/lib/modules/$kver/kernel" ] || { _vm_err "no modules for $kver in: $pkgs"; exit 1; }
        cp "$vmlinuz" "$dir/vmlinuz" && cp "$config" "$dir/config" || exit 1
        # name<TAB>path of every module file, for _vm_module_file (a find per lookup is slow).
        (cd "$p/usr/lib/modules/$kver" && find kernel -type f -name '*.ko*') |
            awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); print n "\t" $0 }' \
            >"$dir/modules.index" || exit 1
        rm -rf "$dir/pkg" && mv "$p" "$dir/pkg" && touch "$dir/.ready"
    ) 9>"$VM_CACHE/$kver.lock"
}

# Module NAME of KVER → its file in the package (names compare with '-' and '_' alike, as the
# kernel does). Prints nothing if the kernel has it built in; fails if it has neither.
_vm_module_file() {
    local kver=$1 name=${2//-/_} mdir=$VM_CACHE/$1/pkg/usr/lib/modules/$1 f
    f=$(awk -F'\t' -v n="$name" '$1 == n { print $2; exit }' "$VM_CACHE/$kver/modules.index")
    if [ -n "$f" ]; then echo "$mdir/$f"; return 0; fi
    # modules.builtin lists built-in tristate modules by path (kernel/fs/9p/9p.ko);
    # modules.builtin.modinfo has "NAME.KEY=VALUE" strings for every built-in with module info,
    # bool options such as CONFIG_UDMABUF included.
    if grep -qE "/(${name}|${name//_/-})\.ko\$" "$mdir/modules.builtin" 2>/dev/null ||
        tr '\0' '\n' <"$mdir/modules.builtin.modinfo" 2>/dev/null | grep -q "^${name}\."; then
        return 0
    fi
    _vm_err "kernel $kver has no module '$name' (neither a .ko in the package nor in modules.builtin)"
    return 1
}

# vm_modules KVER NAME...: the decompressed files to load, each after its dependencies (read from
# the module's own modinfo 'depends': Debian's packages carry no modules.dep). busybox insmod
# cannot read .ko.xz, so each is decompressed once into $VM_CACHE/KVER/mods/.
vm_modules() {
    local kver=$1; shift
    local -A seen=()
    local order=() mods=$VM_CACHE/$kver/mods
    mkdir -p "$mods"
    # mods/NAME.ko plus mods/NAME.deps (its modinfo depends) once decompressed; mods/NAME.builtin
    # for built-in ones: a warm run reads only these small files.
    _vm_visit() {
        local name=${1//-/_} f deps d
        [ -n "${seen[$name]:-}" ] && return 0
        seen[$name]=1
        [ -f "$mods/$name.builtin" ] && return 0
        if [ ! -s "$mods/$name.ko" ] || [ ! -f "$mods/$name.deps" ]; then
            f=$(_vm_module_file "$kver" "$name") || return 1
            if [ -z "$f" ]; then touch "$mods/$name.builtin"; return 0; fi
            case "$f" in
                *.xz) xz -dc "$f" >"$mods/$name.tmp$$.ko" ;;
                *.zst) zstd -qdc "$f" >"$mods/$name.tmp$$.ko" ;;
                *.gz) gzip -dc "$f" >"$mods/$name.tmp$$.ko" ;;
                *) cp "$f" "$mods/$name.tmp$$.ko" ;;
            esac || { _vm_err "cannot decompress $f"; return 1; }
            deps=$(modinfo -F depends "$mods/$name.tmp$$.ko") || { _vm_err "modinfo cannot read $f"; return 1; }
            # Each file appears whole (tmp + rename): other runs share the cache.
            echo "$deps" >"$mods/$name.deps.tmp$$" && mv "$mods/$name.tmp$$.ko" "$mods/$name.ko" &&
                mv "$mods/$name.deps.tmp$$" "$mods/$name.deps" || return 1
        fi
        read -r deps <"$mods/$name.deps"
        for d in ${deps//,/ }; do _vm_visit "$d" || return 1; done
        order+=("$mods/$name.ko")
    }
    local n
    for n in "$@"; do _vm_visit "$n" || return 1; done
    printf '%s\n' "${order[@]}"
}
