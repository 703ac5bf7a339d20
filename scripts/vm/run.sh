#!/usr/bin/env bash
# Runs a command inside Debian's stock kernel under qemu (software emulation, TCG) and exits with
# its exit status. See docs/vm-harness.md.
#
#   scripts/vm/run.sh --kernel 6.12|latest [options] -- COMMAND [ARGS...]
#
#   --kernel 6.12|latest   trixie's 6.12 LTS, or the newest of sid and trixie-backports
#   --nic virtio|testnic   virtio (default): two virtio-net NICs wired to each other inside qemu;
#                          testnic: no virtio NIC; the project's software devmem NIC module
#                          (scripts/vm/build-testnic.sh) is loaded and creates eth0 and eth1
#   --nic-param NAME=VALUE a module parameter for the testnic module (repeatable)
#   --timeout SECONDS      kill a guest that has not finished (default 900); exit status 124
#   --allow-splat REGEX    a kernel splat whose lines match REGEX does not fail the run (repeatable;
#                          say why in a comment where you pass it)
#   --env NAME=VALUE       set a variable in COMMAND's environment (repeatable)
#   --memory MIB, --cpus N guest size (default 4096 MiB, 2 vCPUs)
#
# In the guest: the host's root file system read-only (9p), the checkout as working directory (also
# one under /tmp or /run: bound back on top of the guest's tmpfs), artifacts/ writable at the same path, tmpfs on /tmp, /run and HOME (/tmp/home); eth0 10.99.0.1/24
# fd99::1/64 in the root namespace, eth1 10.99.0.2/24 fd99::2/64 in network namespace "peer".
# COMMAND's stdout and stderr come out on ours; the guest's kernel log is saved under
# artifacts/vm/ and a WARN, BUG, Oops, lockdep report or other splat in it fails the run.
#
# Exit status: COMMAND's; 1 when COMMAND succeeded but the kernel logged a splat; 124 on timeout;
# 125 when the harness itself failed (bad arguments, no kernel, the guest did not come up).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root}
export DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
# shellcheck source=../lib/debian.sh
source "$root/scripts/lib/debian.sh"
# shellcheck source=../lib/kernel-source.sh
source "$root/scripts/lib/kernel-source.sh"
# shellcheck source=../lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"
# shellcheck source=lib.sh
source "$root/scripts/vm/lib.sh"

die() { echo "vm: $*" >&2; exit 125; }
usage() {
    sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 125
}
t0=$(date +%s%N)
elapsed() { echo $((($(date +%s%N) - t0) / 1000000)); }
verbose() { [ -n "${DEVMEM_VM_VERBOSE:-}" ] && echo "vm: [$(elapsed) ms] $*" >&2; return 0; }

series="" nic=virtio timeout=900 memory=4096 cpus=2
nic_params=() allow=() user_env=()
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel) series=${2:-}; shift 2 ;;
        --nic) nic=${2:-}; shift 2 ;;
        --nic-param) nic_params+=("${2:-}"); shift 2 ;;
        --timeout) timeout=${2:-}; shift 2 ;;
        --allow-splat) allow+=("${2:-}"); shift 2 ;;
        --env) user_env+=("${2:-}"); shift 2 ;;
        --memory) memory=${2:-}; shift 2 ;;
        --cpus) cpus=${2:-}; shift 2 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) echo "vm: unknown argument '$1'" >&2; usage ;;
    esac
done
[ $# -gt 0 ] || { echo "vm: no COMMAND after --" >&2; usage; }
case "$series" in 6.12|latest) ;; *) echo "vm: --kernel must be 6.12 or latest (got '$series')" >&2; usage ;; esac
case "$nic" in virtio|testnic) ;; *) die "--nic must be virtio or testnic (got '$nic')" ;; esac
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a number of seconds (got '$timeout')"
[[ $memory =~ ^[1-9][0-9]*$ ]] || die "--memory must be MiB (got '$memory')"
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a number (got '$cpus')"
[ ${#nic_params[@]} -eq 0 ] || [ "$nic" = testnic ] || die "--nic-param needs --nic testnic"
for e in "${nic_params[@]}" "${user_env[@]}"; do
    [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "expected NAME=VALUE, got '$e'"
done
for re in "${allow[@]}"; do
    grep -qE -- "$re" </dev/null; [ $? -le 1 ] || die "--allow-splat: '$re' is not an extended regular expression"
done
# init reads paths from a busybox sh file and the kernel's 9p mount: keep them plain.
[[ $root =~ ^[A-Za-z0-9_./+-]+$ ]] || die "the checkout's path '$root' has characters the guest's init cannot take"
# The guest mounts its own file systems on /tmp and /run: a checkout under one of them is bound back
# at its own path on top of them (scripts/vm/init). Under /proc, /sys or /dev no checkout can live.
real_root=$(cd "$root" && pwd -P)
[[ $real_root =~ ^[A-Za-z0-9_./+-]+$ ]] || die "the checkout's path '$real_root' has characters the guest's init cannot take"
rebind=""
case "$real_root/" in
    /tmp/*|/run/*) rebind=$real_root ;;
    /proc/*|/sys/*|/dev/*) die "the checkout ($root) is under /proc, /sys or /dev, which the guest mounts its own file systems on" ;;
esac

# What the host needs (the guest runs the host's own ip, ethtool, nc, python3, dotnet). One dpkg-query
# for the usual case where everything is there; ensure_apt installs what is missing.
need=(qemu-system-x86 busybox-static cpio xz-utils kmod iproute2 ethtool util-linux sudo netcat-openbsd)
if [ "$(dpkg-query -W -f='${db:Status-Abbrev}\n' "${need[@]}" 2>/dev/null | grep -c '^ii')" -ne ${#need[@]} ]; then
    ensure_apt "${need[@]}" || die "missing packages (see above)"
fi

# The kernel: resolved from the suite's metapackage, downloaded and unpacked once.
read -r suite kver < <(vm_resolve "$series") && [ -n "${kver:-}" ] || die "cannot resolve the $series kernel (see above)"
vm_kernel_prepare "$suite" "$kver" || die "cannot prepare kernel $kver (see above)"
kdir=$VM_CACHE/$kver
verbose "kernel $kver ready"

# The testnic module, built for exactly this kernel by its own script (before booting: fails here,
# not in the guest).
nic_modules=()
if [ "$nic" = testnic ]; then
    b=$root/scripts/vm/build-testnic.sh
    [ -x "$b" ] || die "--nic testnic: $b is missing (the software devmem NIC, tests/testnic/, builds with it)"
    ko=$("$b" --kernel "$series" | tail -n1)
    rcb=${PIPESTATUS[0]}
    [ "$rcb" -eq 0 ] || die "--nic testnic: $b --kernel $series failed (exit $rcb)"
    [ -f "$ko" ] || die "--nic testnic: $b printed '$ko', which is not a file"
    vm=$(modinfo -F vermagic "$ko" | awk '{print $1}')
    [ "$vm" = "$kver" ] || die "--nic testnic: $ko is built for '$vm', the guest boots $kver"
    deps=$(modinfo -F depends "$ko") || die "modinfo cannot read $ko"
    # shellcheck disable=SC2086 # one module name per word
    nic_modules_s=$(vm_modules "$kver" ${deps//,/ }) || die "testnic's dependencies ($deps) are not all in $kver"
    mapfile -t nic_modules < <(printf '%s' "$nic_modules_s" | grep .)
    nic_modules+=("$ko")
fi

# The initramfs: busybox, /init and the modules the base guest needs (virtio-net and 9p, each after
# its dependencies), cached per kernel under a hash of everything that goes in.
mods_s=$(vm_modules "$kver" virtio_net 9pnet_virtio 9p) || die "kernel $kver lacks modules the guest needs (see above)"
mapfile -t mods <<<"$mods_s"
key=$( { sha256sum "$root/scripts/vm/init" /bin/busybox; printf '%s\n' "${mods[@]}"; } | sha256sum | cut -c1-16)
initrd=$kdir/initramfs-$key.cpio
if [ ! -f "$initrd" ]; then
    tmp=$(mktemp -d) || die "mktemp"
    mkdir -p "$tmp/bin" "$tmp/lib/modules"
    cp /bin/busybox "$tmp/bin/busybox" && install -m 755 "$root/scripts/vm/init" "$tmp/init" &&
        cp "${mods[@]}" "$tmp/lib/modules/" || die "cannot assemble the initramfs"
    for m in "${mods[@]}"; do basename "$m"; done >"$tmp/modules.order"
    # Uncompressed: TCG decompresses slowly, and it is only a few MB.
    (cd "$tmp" && find . | cpio -o -H newc --quiet >"$initrd.tmp.$$") && mv "$initrd.tmp.$$" "$initrd" ||
        die "cpio failed"
    rm -rf "$tmp"
fi
verbose "initramfs ready"

# The writable places: artifacts/ (at the same path in the guest) and a control directory.
mkdir -p "$root/artifacts/vm" || die "cannot create $root/artifacts"
artifacts=$(cd "$root/artifacts" && pwd -P)
ctl=$(mktemp -d /tmp/devmem-vm.XXXXXX) || die "mktemp"
qpid="" t1="" t2=""
cleanup() {
    [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
    [ -n "$t1" ] && kill "$t1" "$t2" 2>/dev/null
    [ -n "${DEVMEM_VM_KEEP:-}" ] && echo "vm: kept $ctl" >&2 || rm -rf "$ctl"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
touch "$ctl/stdout" "$ctl/stderr"

# The NIC modules go through the control share (the cache may be where the guest mounts a tmpfs).
guest_nic_modules=()
for i in "${!nic_modules[@]}"; do
    cp "${nic_modules[$i]}" "$ctl/nic-$i.ko" || die "cannot copy ${nic_modules[$i]}"
    guest_nic_modules+=("/tmp/vm-ctl/nic-$i.ko")
done

# decl NAME VALUE...: a bash array assignment that reads back exactly these values.
decl() { local n=$1; shift; printf '%s=(' "$n"; [ $# -eq 0 ] || printf '%q ' "$@"; echo ')'; }
{
    echo "VM_ROOT=$root"
    echo "VM_ROOT_REBIND=$rebind"
    echo "VM_ARTIFACTS=$artifacts"
} >"$ctl/init.env"

# COMMAND's environment: fixed writable homes and the harness's markers, then what the caller has
# for dotnet and this project, then --env.
genv=(
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "HOME=/tmp/home" "TMPDIR=/tmp" "DOTNET_CLI_HOME=/tmp/home" "LANG=C.UTF-8" "TERM=dumb"
    "DOTNET_NOLOGO=1" "DOTNET_CLI_TELEMETRY_OPTOUT=1" "DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1"
    "DOTNET_GENERATE_ASPNET_CERTIFICATE=false"
)
while IFS= read -r -d '' kv; do
    case "$kv" in
        DEVMEM_VM_*) ;;
        DOTNET_CLI_HOME=*|DOTNET_ROOT*|DOTNET_*|DEVMEM_*|CI=*|NUGET_PACKAGES=*) genv+=("$kv") ;;
    esac
done < <(env -0)
genv+=("DEVMEM_ROOT=$root" "DEVMEM_VM_KERNEL=$series" "DEVMEM_VM_KVER=$kver" "DEVMEM_VM_NIC=$nic" "${user_env[@]}")
{
    printf 'VM_ROOT=%q\n' "$root"
    echo "VM_NIC=$nic"
    decl VM_NIC_MODULES "${guest_nic_modules[@]}"
    decl VM_NIC_PARAMS "${nic_params[@]}"
    decl VM_ENV "${genv[@]}"
    decl VM_CMD "$@"
} >"$ctl/guest.env"

echo "vm: kernel $kver ($suite, --kernel $series, --nic $nic)" >&2

p9="security_model=none,multidevs=remap"
qemu=(qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp "$cpus" -m "$memory"
    -nodefaults -no-user-config -display none -vga none -no-reboot
    -serial "file:$ctl/console.log" -monitor none
    -kernel "$kdir/vmlinuz" -initrd "$initrd"
    -virtfs "local,path=/,mount_tag=hostroot,readonly=on,$p9"
    -virtfs "local,path=$artifacts,mount_tag=artifacts,$p9"
    -virtfs "local,path=$ctl,mount_tag=ctl,$p9")
if [ "$nic" = virtio ]; then
    # Two NICs on qemu's hub 0 and nothing else on it: no user-mode (slirp) or tap netdev exists,
    # so no packet can leave the guest (-nodefaults also drops qemu's default NIC).
    qemu+=(-netdev hubport,id=n0,hubid=0 -device virtio-net-pci,netdev=n0,mac=52:54:00:99:00:01,addr=0x8
        -netdev hubport,id=n1,hubid=0 -device virtio-net-pci,netdev=n1,mac=52:54:00:99:00:02,addr=0x9)
fi
show_console() {
    echo "vm: --- guest console (last 40 lines) ---" >&2
    tail -n 40 "$ctl/console.log" >&2
    # (qemu always warns that hub 0 has no host network: that is the point of it.)
    grep -v "hub 0 is not connected to host network" "$ctl/qemu.log" | tail -n 20 | sed "1i vm: --- qemu ---" >&2
    [ -s "$ctl/setup.log" ] && { echo "vm: --- guest setup log ---" >&2; tail -n 20 "$ctl/setup.log" >&2; }
}

# boot ATTEMPT: runs qemu once. A guest that has not started guest.sh (its setup.log) within
# $boot_timeout is stopped early: seen once under heavy host load, a TCG boot spun silently for
# minutes. The kernel's console (a file, shown only when a run fails) is quiet on the first attempt
# and verbose on the retry, so a boot that hangs twice shows where.
boot_timeout=${DEVMEM_VM_BOOT_TIMEOUT:-120}
[ "$boot_timeout" -lt "$timeout" ] || boot_timeout=$timeout
boot() {
    local attempt=$1 append="console=ttyS0 panic=-1" wpid
    if [ "$attempt" -eq 1 ]; then append+=" quiet"; else append+=" loglevel=7"; fi
    rm -f "$ctl"/{setup.log,init-error,status,uname,dmesg,console.log,qemu.log,boot-hung}
    : >"$ctl/stdout"; : >"$ctl/stderr"
    verbose "starting qemu (attempt $attempt)"
    timeout --kill-after=10 "$timeout" "${qemu[@]}" -append "$append ${DEVMEM_VM_APPEND:-}" \
        </dev/null >"$ctl/qemu.log" 2>&1 &
    qpid=$!
    # COMMAND's output comes out while it runs: the guest appends to files on the control share;
    # tail follows them and, once qemu is gone (--pid, checked every 0.1 s), reads to the end and stops.
    tail -q -s 0.1 --pid="$qpid" -n +1 -f "$ctl/stdout" &
    t1=$!
    tail -q -s 0.1 --pid="$qpid" -n +1 -f "$ctl/stderr" >&2 &
    t2=$!
    (
        trap 'kill $sp 2>/dev/null; exit 0' TERM
        sleep "$boot_timeout" &
        sp=$!
        wait $sp
        [ -e "$ctl/setup.log" ] || { : >"$ctl/boot-hung"; kill "$qpid"; }
    ) 2>/dev/null &
    wpid=$!
    wait "$qpid"
    qrc=$?
    qpid=""
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    verbose "qemu exited ($qrc)"
    wait "$t1" "$t2"
    t1="" t2=""
}
boot 1
# A boot that never reached the guest's setup (no setup.log) is booted once more: hung (above), or
# died first — seen once: 6.12 under TCG panicked on an int3 in early init (kernel_init_freeable),
# before any of our code ran. A failure that repeats is reported below as before.
if [ -e "$ctl/boot-hung" ] || [ ! -e "$ctl/setup.log" ]; then
    if [ -e "$ctl/boot-hung" ]; then
        echo "vm: the guest did not reach its setup within $boot_timeout s (DEVMEM_VM_BOOT_TIMEOUT); last console lines:" >&2
    else
        echo "vm: the guest's kernel stopped (qemu exit $qrc) before reaching its setup; last console lines:" >&2
    fi
    tail -n 5 "$ctl/console.log" | sed 's/^/vm:   /' >&2
    first=$artifacts/vm/$series-$kver-$(date -u +%Y%m%dT%H%M%SZ)-$$-attempt1.console
    cp "$ctl/console.log" "$first" 2>/dev/null && echo "vm: the first attempt's console: $first" >&2
    echo "vm: booting again (attempt 2, verbose console)" >&2
    boot 2
    if [ -e "$ctl/boot-hung" ]; then
        echo "vm: TIMEOUT: the guest ($kver) did not boot, twice, within $boot_timeout s" >&2
        show_console
        exit 124
    fi
fi

# The kernel log: saved, then searched for splats.
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dmesg_out=$artifacts/vm/$series-$kver-$stamp-$$.dmesg
[ -f "$ctl/dmesg" ] && cp "$ctl/dmesg" "$dmesg_out"

if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
    echo "vm: TIMEOUT: the guest ($kver) did not finish within $timeout s and was killed (--timeout)" >&2
    show_console
    exit 124
fi
if [ -s "$ctl/init-error" ]; then
    echo "vm: the guest's init failed: $(cat "$ctl/init-error")" >&2
    show_console
    exit 125
fi
status=$(cat "$ctl/status" 2>/dev/null)
if ! [[ $status =~ ^[0-9]+$ ]]; then
    if [ -n "$status" ]; then
        echo "vm: guest $status" >&2
    else
        echo "vm: the guest ended (qemu exit $qrc) without reporting COMMAND's exit status" >&2
    fi
    show_console
    exit 125
fi
guest_kver=$(cat "$ctl/uname" 2>/dev/null)
[ "$guest_kver" = "$kver" ] || { echo "vm: the guest ran kernel '$guest_kver', expected $kver" >&2; exit 125; }

# Splats (Documentation/admin-guide/bug-hunting.rst, tainted-kernels.rst): a report starts with one
# of these lines and runs to its "---[ end trace" line (or 80 lines); a "Call Trace:" outside any
# report is one by itself (dump_stack, hung tasks). A report is allowed when any of its lines
# matches an --allow-splat REGEX.
splats=$(awk -v allow="$(printf '%s\n' "${allow[@]}")" '
    BEGIN { n = split(allow, re, "\n"); inrep = 0 }
    function flush() {
        if (inrep && !ok) { print first; bad++ }
        inrep = 0
    }
    {
        line = $0; sub(/^\[[ 0-9.]*\] /, "", line)
        start = line ~ /^(WARNING:|BUG:|Oops|general protection fault|Kernel panic|INFO: task .* blocked|INFO: rcu_|watchdog: BUG|UBSAN:|KASAN:|kernel BUG at|Unable to handle kernel)/ ||
                line ~ /possible (recursive|circular) locking|inconsistent lock state|suspicious RCU usage|bad unlock balance/
        if (start && !(inrep && lines < 3)) { flush(); inrep = 1; ok = 0; first = line; lines = 0 }
        else if (!inrep && line ~ /Call Trace:/) { inrep = 1; ok = 0; first = line; lines = 0 }
        if (inrep) {
            lines++
            for (i = 1; i <= n; i++) if (re[i] != "" && line ~ re[i]) ok = 1
            if (line ~ /---\[ end trace/ || lines > 80) flush()
        }
    }
    END { flush() }' "$ctl/dmesg" 2>/dev/null)

rc=$status
if [ -n "$splats" ]; then
    echo "vm: KERNEL SPLAT in the guest's log ($kver); saved as ${dmesg_out#"$root"/}:" >&2
    printf '%s\n' "$splats" | sed 's/^/vm:   /' >&2
    echo "vm: fix it, or allow it with --allow-splat REGEX and say why where you pass it" >&2
    [ "$rc" -ne 0 ] || rc=1
fi
verbose "done, exit $rc"
exit "$rc"
