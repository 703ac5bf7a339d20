#!/usr/bin/env bash
# The VM harness's own promises, checked by running it (scripts/vm/run.sh; docs/vm-harness.md):
# COMMAND's exit status and its stdout/stderr come back apart, a kernel splat fails the run (and
# --allow-splat lets a named one pass), a guest that runs too long is killed with status 124, bad
# arguments are refused with status 125. What the guest looks like inside is checked by
# tests/Devmem.Guest.Tests in both kernels; these behaviours do not depend on the kernel, so they
# run on 6.12 only (five boots).
#   scripts/checks/vm-harness.sh RESULTFILE   appends "FAILED PASSED SKIPPED label" lines
set -uo pipefail

out=${1:?usage: vm-harness.sh RESULTFILE}
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$root/scripts/vm/run.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

npass=0 nfail=0
pass() { echo "0 1 0 vm-harness: $*" >>"$out"; npass=$((npass + 1)); }
fail() { echo "1 0 0 vm-harness: $*" >>"$out"; nfail=$((nfail + 1)); echo "FAILED: $*" >&2; }
# check LABEL CONDITION...: one result line per promise.
check() { local label=$1; shift; if "$@"; then pass "$label"; else fail "$label"; fi; }
has() { grep -qE -- "$2" "$1"; }
hasnt() { ! grep -qE -- "$2" "$1"; }

# A fake report written to the kernel log from user space (/dev/kmsg, Documentation/ABI/testing/
# dev-kmsg): the same lines a WARN_ON prints (kernel/panic.c, __warn()).
splat='echo "WARNING: CPU: 0 PID: 1 at vm-harness self-check" >/dev/kmsg; echo "Call Trace:" >/dev/kmsg; echo "---[ end trace 0000000000000000 ]---" >/dev/kmsg'

# 1. Status, streams, splat.
"$run" --kernel 6.12 -- bash -c "echo out-marker; echo err-marker >&2; $splat; exit 3" >"$tmp/1.out" 2>"$tmp/1.err"
rc=$?
check "COMMAND's exit status comes back (3: $rc)" [ "$rc" -eq 3 ]
check "COMMAND's stdout and stderr come back apart" bash -c "grep -qx out-marker '$tmp/1.out' && grep -qx err-marker '$tmp/1.err' && ! grep -q err-marker '$tmp/1.out'"
check "the guest's kernel version is printed" has "$tmp/1.err" '^vm: kernel [0-9]+\.[0-9]+\.[0-9]+'
check "a WARNING in the guest's kernel log is reported, by its line" bash -c "grep -q '^vm: KERNEL SPLAT' '$tmp/1.err' && grep -q '^vm:   WARNING: CPU: 0 PID: 1 at vm-harness self-check' '$tmp/1.err'"
saved=$(sed -n 's/.*saved as \(artifacts\/vm\/[^:]*\.dmesg\):.*/\1/p' "$tmp/1.err")
check "the guest's kernel log is saved under artifacts/vm/ ($saved)" bash -c "[ -n '$saved' ] && grep -q 'vm-harness self-check' '$root/$saved'"

# 2. A splat fails a COMMAND that succeeded; 3. unless allowed.
"$run" --kernel 6.12 -- bash -c "$splat" >/dev/null 2>"$tmp/2.err"
rc=$?
check "a kernel splat fails a run whose COMMAND succeeded (1: $rc)" [ "$rc" -eq 1 ]
# Allowed because this check writes that very line itself.
"$run" --kernel 6.12 --allow-splat 'vm-harness self-check' -- bash -c "$splat" >/dev/null 2>"$tmp/3.err"
rc=$?
check "--allow-splat lets the named splat pass (0: $rc)" [ "$rc" -eq 0 ]
check "--allow-splat prints no splat report" hasnt "$tmp/3.err" 'KERNEL SPLAT'

# 4. Timeout.
"$run" --kernel 6.12 --timeout 45 -- sleep 3600 >/dev/null 2>"$tmp/4.err"
rc=$?
check "a guest that runs past --timeout is killed with status 124 ($rc)" [ "$rc" -eq 124 ]
check "the timeout is named" has "$tmp/4.err" '^vm: TIMEOUT'

# 5. Bad arguments, refused before booting.
"$run" --kernel 5.10 -- true 2>"$tmp/5.err"
rc=$?
check "an unknown --kernel is refused with status 125 ($rc)" bash -c "[ $rc -eq 125 ] && grep -q 'must be 6.12 or latest' '$tmp/5.err'"
"$run" --kernel 6.12 2>"$tmp/6.err"
rc=$?
check "a missing COMMAND is refused with status 125 ($rc)" bash -c "[ $rc -eq 125 ] && grep -q 'no COMMAND' '$tmp/6.err'"
"$run" --kernel 6.12 --nic-param x=1 -- true 2>"$tmp/7.err"
rc=$?
check "--nic-param without --nic testnic is refused ($rc)" bash -c "[ $rc -eq 125 ] && grep -q 'needs --nic testnic' '$tmp/7.err'"
# 6. A checkout under /tmp (where the guest mounts its own tmpfs) works: the checkout is bound back
# at its path, readable, with artifacts/ writable. A copy of scripts/ is enough for run.sh; the cache
# stays the real one.
co=$(mktemp -d /tmp/devmem-checkout.XXXXXX)
trap 'rm -rf "$tmp" "$co"' EXIT
cp -r "$root/scripts" "$co/" && echo "checkout-marker-$$" >"$co/marker"
DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache} DEVMEM_ROOT=$co "$co/scripts/vm/run.sh" --kernel 6.12 -- \
    bash -c 'pwd; cat marker; echo written >artifacts/from-guest' >"$tmp/8.out" 2>"$tmp/8.err"
rc=$?
check "a checkout under /tmp runs in the guest (0: $rc) at its own path, readable" \
    bash -c "[ $rc -eq 0 ] && grep -qx '$co' '$tmp/8.out' && grep -qx 'checkout-marker-$$' '$tmp/8.out'"
check "a checkout under /tmp has artifacts/ writable from the guest" grep -qx written "$co/artifacts/from-guest"
[ "$rc" -eq 0 ] || tail -n 5 "$tmp/8.err" >&2
# 9. The kernel-source cache (scripts/lib/kernel-source.sh), no boot: unpacking a directory after one
# below it was unpacked brings the rest of it (a build unpacks drivers/net/hw first, the drv-net check
# then needs drivers/net/lib), and a path asked for twice is not unpacked again.
ks=$tmp/ks
mkdir -p "$ks/src/linux-source-0/d/net/hw" "$ks/src/linux-source-0/d/net/lib/py"
echo hw >"$ks/src/linux-source-0/d/net/hw/t.c"
echo lib >"$ks/src/linux-source-0/d/net/lib/py/__init__.py"
tar -C "$ks/src" -cJf "$ks/k.tar.xz" linux-source-0
(
    # shellcheck source=scripts/lib/kernel-source.sh
    source "$root/scripts/lib/kernel-source.sh"
    kernel_source_extract "$ks/k.tar.xz" "$ks/tree" linux-source-0 d/net/hw &&
        kernel_source_extract "$ks/k.tar.xz" "$ks/tree" linux-source-0 d/net/ &&
        rm "$ks/k.tar.xz" &&
        kernel_source_extract "$ks/k.tar.xz" "$ks/tree" linux-source-0 d/net/hw d/net/lib/py
) 2>"$ks/err"
check "kernel source: a directory unpacked after one below it comes whole, and nothing is unpacked twice" \
    bash -c "grep -qx lib '$ks/tree/linux-source-0/d/net/lib/py/__init__.py' && grep -qx hw '$ks/tree/linux-source-0/d/net/hw/t.c' && [ ! -s '$ks/err' ]"

# (The runs' own stderr, with the expected splat report, is not repeated here: it would read as a failure.)
echo "vm-harness: $npass passed, $nfail failed" >&2
exit 0
