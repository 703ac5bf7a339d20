#!/usr/bin/env bash
# The software devmem NIC (tests/testnic/) checked by the kernel's own tools, in both guest kernels.
#   scripts/checks/testnic.sh RESULTFILE
# Appends "FAILED PASSED SKIPPED label" lines to RESULTFILE (see scripts/test.sh). In each kernel
# (6.12 and the newest) the kernel's ncdevmem receives TESTNIC_MIB (default 256) MiB validated
# into a udmabuf through devmem RX on eth0; its bind self-tests pass; on 7.x its client sends over
# devmem TX; the YNL CLI shows the binding while it exists and not after; ethtool state is the
# same before and after; rmmod while bound is safe; the harness fails a run whose kernel logged a
# splat. The guest side is scripts/checks/lib/testnic-guest.sh.
set -uo pipefail

out=${1:?usage: testnic.sh RESULTFILE}
root=$(cd "$(dirname "$0")/../.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
# shellcheck source=../lib/debian.sh
source "$root/scripts/lib/debian.sh"
# shellcheck source=../lib/kernel-source.sh
source "$root/scripts/lib/kernel-source.sh"
# shellcheck source=../lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"
# shellcheck source=../vm/chroot.sh
source "$root/scripts/vm/chroot.sh"

mib=${TESTNIC_MIB:-256}
start=$(date +%s)
log() { printf '[testnic %4ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }

if [ ! -x "$root/scripts/vm/run.sh" ]; then
    echo "0 0 1 testnic: skipped: the VM harness scripts/vm/run.sh is missing" >>"$out"
    exit 0
fi
# In the guest (the host's userland over 9p): netcat for the peer, sudo for 6.12's ncdevmem,
# python3-yaml for the YNL CLI.
ensure_apt netcat-openbsd sudo ethtool python3-yaml || { echo "1 0 0 testnic: cannot install netcat-openbsd sudo ethtool python3-yaml" >>"$out"; exit 1; }
chroot_dir=$(build_chroot trixie) && build_chroot_apt "$chroot_dir" ethtool ||
    { echo "1 0 0 testnic: cannot prepare the trixie chroot (its ethtool runs in the guests)" >>"$out"; exit 1; }
ynl=$(kernel_source newest tools/net/ynl Documentation/netlink/specs) ||
    { echo "1 0 0 testnic: cannot unpack the kernel's YNL CLI" >>"$out"; exit 1; }

for k in 6.12 latest; do
    log "kernel $k: building ncdevmem"
    if ! ncd=$("$root/scripts/vm/build-ncdevmem.sh" --kernel "$k"); then
        echo "1 0 0 $k: the kernel's ncdevmem did not build (see the log above)" >>"$out"
        continue
    fi
    read -r _ kver < <(vm_kernel_resolve "$k") || kver=$k
    label=$(cut -d. -f1,2 <<<"$kver")       # 6.12, 7.3: the labels the guest prints too
    log "kernel $k ($kver): guest run ($mib MiB)"
    res=$("$root/scripts/vm/run.sh" --kernel "$k" --nic testnic --timeout 900 -- \
        "$root/scripts/checks/lib/testnic-guest.sh" "$k" "$ncd" "$ynl" "$chroot_dir" "$mib")
    rc=$?
    grep '^RESULT ' <<<"$res" | sed 's/^RESULT //' | tee -a "$out" >&2
    grep -q '^RESULT ' <<<"$res" || echo "1 0 0 $label: the guest reported no results (run.sh exit $rc)" >>"$out"
    if [ "$rc" != 0 ]; then
        echo "1 0 0 $label: scripts/vm/run.sh exited $rc (a kernel splat, a timeout or a harness failure: see artifacts/vm/)" >>"$out"
    else
        echo "0 1 0 $label: guest kernel log clean (no WARN, BUG, Oops or lockdep report)" >>"$out"
    fi
    log "kernel $k: done"
done
