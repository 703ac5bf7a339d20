#!/usr/bin/env bash
# The kernel's own drv-net selftest for devmem TCP (tools/testing/selftests/drivers/net/hw/devmem.py,
# from Debian's linux-source of the newest kernel) on the testnic, first with the kernel's C ncdevmem,
# then with ours (samples/ncdevmem) in its place.
#   scripts/checks/drvnet.sh RESULTFILE
# Appends "FAILED PASSED SKIPPED label" lines to RESULTFILE (see scripts/test.sh), one per case:
#   passed  the case passes with both binaries;
#   skipped it skips with both, for the same reason (the reason is the label);
#   failed  it fails with the kernel's binary (the testnic or the guest is at fault), or ours does
#           not do what the kernel's does (passes where it passes, skips with the same reason).
# One guest boot (scripts/vm/run.sh --kernel latest --nic testnic) runs both; the guest side is
# scripts/checks/lib/drvnet-guest.sh. The test's KTAP lines and a per-case table go to the log.
#
# Which test, which file it runs, and which binaries take its place are variables, so another
# drv-net test (e.g. iou-zcrx.py with its iou-zcrx) can be driven the same way:
#   DRVNET_TEST     path in the kernel tree (default tools/testing/selftests/drivers/net/hw/devmem.py)
#   DRVNET_BIN      the file next to it that the test runs (default ncdevmem)
#   DRVNET_KERNEL   the kernel's binary (default: built by scripts/vm/build-ncdevmem.sh --kernel latest)
#   DRVNET_OURS     ours (default: samples/ncdevmem published with NativeAOT, the README's "Native
#                   binaries" command, into artifacts/drvnet/. The test starts the binary about 15
#                   times; under qemu's software CPU the JIT build's start-up alone took over 20 s a
#                   run, about 8 of this check's 10.6 minutes)
#                   DRVNET_TEST=none: no such run (e.g. to run only iou-zcrx.py below)
#
# Then tools/testing/selftests/drivers/net/hw/iou-zcrx.py (io_uring zero-copy receive, io_uring/zcrx.c)
# in a guest of its own: the testnic with combined channels (the test skips below 2) and RSS
# contexts (its rss variants), the kernel's C iou-zcrx (scripts/vm/build-iou-zcrx.sh) first. When
# samples/iou-zcrx holds a project (our iou-zcrx, flag for flag the kernel's), it is published with
# NativeAOT into artifacts/drvnet/iou-zcrx-aot/ as ncdevmem is, runs second, and each case is judged
# as devmem.py's are; without it, each case is judged by the kernel's binary alone, as the netkit
# suites' are.
#   DRVNET_ZCRX_TEST  path in the kernel tree (default tools/testing/selftests/drivers/net/hw/iou-zcrx.py
#                     when DRVNET_TEST is the default, else none; empty: none)
#   DRVNET_ZCRX_OURS  our iou-zcrx (default: samples/iou-zcrx published as above, if it exists; none:
#                     the kernel's only)
#
# Then the netkit suites (queue leasing) with the kernel's binaries only: nk_devmem.py with its C
# ncdevmem (ours binds through a leased queue when the library supports queue leasing, a later step),
# nk_qlease.py with its iou-zcrx (io_uring zero-copy receive; scripts/vm/build-iou-zcrx.sh). One guest
# each: the testnic with combined channels (which the tests require), the tc modules and the tests'
# BPF objects (scripts/vm/build-selftest-bpf.sh), LOCAL_PREFIX_V6 for NetDrvContEnv's netkit
# namespace. A case passes when it passes with the kernel's binary. docs/testnic.md says which suites
# are left out (userns_devmem.py), and why.
#   DRVNET_HUGEPAGES 2 MiB huge pages reserved in the guest before each run (default 128)
#   DRVNET_NK_TESTS  paths in the kernel tree (default: hw/nk_devmem.py and hw/nk_qlease.py when
#                    DRVNET_TEST is the default, else none; empty: none)
set -uo pipefail

out=${1:?usage: drvnet.sh RESULTFILE}
root=$(cd "$(dirname "$0")/../.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
# shellcheck source=../lib/debian.sh
source "$root/scripts/lib/debian.sh"
# shellcheck source=../lib/kernel-source.sh
source "$root/scripts/lib/kernel-source.sh"
# shellcheck source=../lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"

test=${DRVNET_TEST:-tools/testing/selftests/drivers/net/hw/devmem.py}
if [ -z "${DRVNET_TEST:-}" ]; then
    nk_tests=${DRVNET_NK_TESTS-tools/testing/selftests/drivers/net/hw/nk_devmem.py tools/testing/selftests/drivers/net/hw/nk_qlease.py}
    zcrx_test=${DRVNET_ZCRX_TEST-tools/testing/selftests/drivers/net/hw/iou-zcrx.py}
else
    nk_tests=${DRVNET_NK_TESTS:-}
    zcrx_test=${DRVNET_ZCRX_TEST:-}
fi
binname=${DRVNET_BIN:-ncdevmem}
ours=${DRVNET_OURS:-}
name=$(basename "$test")
start=$(date +%s)
log() { printf '[drvnet %4ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }
result() { echo "$1 $name: $2" >>"$out"; }
result_as() { echo "$1 $2: $3" >>"$out"; }   # result_as COUNTS TESTNAME LABEL

# detail RES VARIANT CASE: a failed case's lines from the test (drvnet-guest.sh's DETAIL lines) into the
# log as "FAIL| " lines, which scripts/test.sh prints with the result.
detail() {
    grep -F "DETAIL $2 $3 " <<<"$1" | sed "s/^DETAIL $2 $3 /FAIL| $3 ($2): /" >&2
}

# judge TESTNAME BINNAME RES RC [ours]: one result line per case in RES (drvnet-guest.sh's CASE lines
# for variant c, and for ours when the fifth argument says so) and a table in the log. With ours: a
# case passes when it passes with both binaries, skips when both skip for the same reason, and fails
# otherwise. Without: it passes or skips as it does with the kernel's binary. Either way a case that
# fails with the kernel's binary fails (the testnic or the guest is at fault).
judge() {
    local tname=$1 bin=$2 res=$3 rc=$4 with_ours=${5:-} variant case st reason v c o cst creason
    local -A C=() O=()
    local order=()
    while read -r _ variant case st reason; do
        v="$st${reason:+ $reason}"
        if [ "$variant" = c ]; then C[$case]=$v; order+=("$case"); else O[$case]=$v; fi
    done < <(grep '^CASE ' <<<"$res")

    if [ ${#C[@]} -eq 0 ]; then
        result_as "1 0 0" "$tname" "no case ran with the kernel's $bin (run.sh exit $rc; see the log)"
    fi
    if [ -n "$with_ours" ]; then
        printf '| case | kernel'"'"'s C %s | our %s |\n|---|---|---|\n' "$bin" "$bin" >&2
    else
        printf '| case | kernel'"'"'s C %s |\n|---|---|\n' "$bin" >&2
    fi
    for case in "${order[@]}"; do
        c=${C[$case]} o=${O[$case]:-missing}
        cst=${c%% *} creason=${c#* }
        if [ -z "$with_ours" ]; then
            printf '| %s | %s |\n' "$case" "$c" >&2
            case "$cst" in
                ok) result_as "0 1 0" "$tname" "$case passes with the kernel's $bin" ;;
                skip) result_as "0 0 1" "$tname" "$case skips with the kernel's $bin: $creason" ;;
                *) result_as "1 0 0" "$tname" "$case fails with the kernel's $bin (the testnic or the guest is at fault; see the log)"
                   detail "$res" c "$case" ;;
            esac
            continue
        fi
        printf '| %s | %s | %s |\n' "$case" "$c" "$o" >&2
        if [ "$cst" = fail ]; then
            result_as "1 0 0" "$tname" "$case fails with the kernel's $bin (the testnic or the guest is at fault; see the log)"
            detail "$res" c "$case"
        elif [ "$c" = "$o" ] && [ "$cst" = ok ]; then
            result_as "0 1 0" "$tname" "$case passes with the kernel's $bin and with ours"
        elif [ "$c" = "$o" ]; then
            result_as "0 0 1" "$tname" "$case skips with both binaries: $creason"
        else
            result_as "1 0 0" "$tname" "$case: the kernel's $bin gives '$c', ours '$o'"
            detail "$res" ours "$case"
        fi
    done
    for case in "${!O[@]}"; do
        [ -n "${C[$case]:-}" ] || result_as "1 0 0" "$tname" "$case ran with ours only"
    done
    # The guest script itself exits 0: anything else is a kernel splat (1), a timeout (124) or the harness.
    if [ "$rc" != 0 ]; then
        result_as "1 0 0" "$tname" "scripts/vm/run.sh exited $rc (a kernel splat, a timeout or a harness failure: see artifacts/vm/)"
    fi
}

# publish SAMPLE: our SAMPLE (samples/SAMPLE) with NativeAOT into artifacts/drvnet/SAMPLE-aot/ (the
# README's "Native binaries" command); prints the binary's path. Logs in artifacts/drvnet/.
publish() {
    local sample=$1 pubdir=$root/artifacts/drvnet/$1-aot plog
    plog=$root/artifacts/drvnet/publish$([ "$1" = ncdevmem ] || echo "-$1").log
    log "publishing our $sample with NativeAOT"
    rm -rf "$pubdir"; mkdir -p "$pubdir"
    if ! dotnet publish "$root/samples/$sample" -c Release -r linux-x64 -p:PublishAot=true -o "$pubdir" \
            -nologo -clp:NoSummary >"$plog" 2>&1; then
        tail -n 20 "$plog" >&2
        return 1
    fi
    echo "$pubdir/$sample"
}

if [ ! -x "$root/scripts/vm/run.sh" ]; then
    result "0 0 1" "skipped: the VM harness scripts/vm/run.sh is missing"
    exit 0
fi
# In the guest (the host's userland over 9p): socat is the test's remote end, python3 runs it,
# ethtool and ip are what its library calls.
ensure_apt socat python3 python3-yaml ethtool iproute2 || { result "1 0 0" "cannot install socat python3 python3-yaml ethtool iproute2"; exit 1; }
# The netkit suites' environment reads its BPF programs' maps with bpftool.
if [ -n "$nk_tests" ]; then
    ensure_apt bpftool || { result "1 0 0" "cannot install bpftool (the netkit suites use it)"; exit 1; }
fi
zcrx_ours=${DRVNET_ZCRX_OURS:-}
if [ -z "$zcrx_ours" ] && [ -n "$zcrx_test" ] && compgen -G "$root/samples/iou-zcrx/*.csproj" >/dev/null; then
    zcrx_ours=publish
fi
[ "$zcrx_ours" = none ] && zcrx_ours=""
if { [ "$test" != none ] && [ -z "$ours" ]; } || [ "$zcrx_ours" = publish ]; then
    ensure_apt gcc libc6-dev zlib1g-dev || { result "1 0 0" "cannot install gcc libc6-dev zlib1g-dev (the NativeAOT linker)"; exit 1; }
fi
ktree=$(kernel_source newest tools/testing/selftests/net/lib tools/testing/selftests/drivers/net \
    tools/net/ynl Documentation/netlink/specs) || { result "1 0 0" "cannot unpack the kernel's selftests"; exit 1; }
# 128 huge pages up front: the tests' own 64 hold two of ncdevmem's udmabufs, and a binding's is freed
# only after its last buffer comes back (see drvnet-guest.sh).
hugepages=${DRVNET_HUGEPAGES:-128}

if [ "$test" != none ]; then
    if [ -z "$ours" ]; then
        ours=$(publish ncdevmem) || { result "1 0 0" "dotnet publish of our ncdevmem (NativeAOT) failed: see artifacts/drvnet/publish.log"; exit 1; }
    fi
    if [ ! -x "$ours" ]; then
        result "1 0 0" "our binary $ours is missing"
        exit 1
    fi
    kbin=${DRVNET_KERNEL:-}
    if [ -z "$kbin" ]; then
        log "building the kernel's ncdevmem"
        kbin=$("$root/scripts/vm/build-ncdevmem.sh" --kernel latest) || { result "1 0 0" "the kernel's ncdevmem did not build (see the log above)"; exit 1; }
    fi
    [ -f "$ktree/$test" ] || { result "1 0 0" "$test is not in $ktree"; exit 1; }

    log "guest run: $test with the kernel's $binname ($kbin), then ours ($ours)"
    res=$("$root/scripts/vm/run.sh" --kernel latest --nic testnic --timeout 1500 --env "DRVNET_HUGEPAGES=$hugepages" -- \
        "$root/scripts/checks/lib/drvnet-guest.sh" "$ktree" "$test" "$binname" "c=$kbin" "ours=$ours")
    rc=$?
    log "guest run done (run.sh exit $rc)"
    grep -E '^(CASE|RAN) ' <<<"$res" >&2
    judge "$name" "$binname" "$res" "$rc" ours
fi

# iou-zcrx.py: the kernel's iou-zcrx, then ours if there is one. The testnic has 4 combined channels;
# the test takes the last as its target (the default RSS table spread over the others, its flow
# steered there by a rule or by a rule into an RSS context).
if [ -n "$zcrx_test" ]; then
    zname=$(basename "$zcrx_test")
    zvariants=()
    if ! zbin=$("$root/scripts/vm/build-iou-zcrx.sh"); then
        result_as "1 0 0" "$zname" "the kernel's iou-zcrx did not build (see the log above)"
    elif [ ! -f "$ktree/$zcrx_test" ]; then
        result_as "1 0 0" "$zname" "$zcrx_test is not in $ktree"
    else
        zvariants=("c=$zbin")
    fi
    if [ "$zcrx_ours" = publish ]; then
        zcrx_ours=$(publish iou-zcrx) || {
            result_as "1 0 0" "$zname" "dotnet publish of our iou-zcrx (NativeAOT) failed: see artifacts/drvnet/publish-iou-zcrx.log"
            zvariants=()
        }
    fi
    if [ -n "$zcrx_ours" ] && [ ${#zvariants[@]} -gt 0 ]; then
        if [ -x "$zcrx_ours" ]; then
            zvariants+=("ours=$zcrx_ours")
        else
            result_as "1 0 0" "$zname" "our binary $zcrx_ours is missing"
            zvariants=()
        fi
    fi
    if [ ${#zvariants[@]} -gt 0 ]; then
        log "guest run: $zcrx_test with ${zvariants[*]} (testnic with combined channels)"
        res=$("$root/scripts/vm/run.sh" --kernel latest --nic testnic --nic-param combined_channels=1 --timeout 900 \
            --env "DRVNET_HUGEPAGES=$hugepages" -- \
            "$root/scripts/checks/lib/drvnet-guest.sh" "$ktree" "$zcrx_test" iou-zcrx "${zvariants[@]}")
        rc=$?
        log "guest run done (run.sh exit $rc)"
        grep -E '^(CASE|RAN) ' <<<"$res" >&2
        judge "$zname" iou-zcrx "$res" "$rc" ${zcrx_ours:+ours}
    fi
fi

[ -n "$nk_tests" ] || exit 0
# The netkit suites: the kernel's binary only. What the guest loads and reads travels through
# artifacts/ (mounted at the same path in the guest; the cache may be under a path the guest hides).
nkdir=$root/artifacts/drvnet/nk
rm -rf "$nkdir"; mkdir -p "$nkdir"
kver=$(vm_kernel_resolve latest | cut -d' ' -f2)
bpf=$("$root/scripts/vm/build-selftest-bpf.sh") || { result "1 0 0" "the selftests' BPF objects did not build (see the log above)"; exit 1; }
# shellcheck source=../vm/lib.sh
source "$root/scripts/vm/lib.sh"
# clsact (sch_ingress) and cls_bpf for the tests' tc programs; Debian builds netkit in.
mods=$(vm_modules "$kver" sch_ingress cls_bpf) || { result "1 0 0" "kernel $kver lacks sch_ingress or cls_bpf"; exit 1; }
# shellcheck disable=SC2086 # one path per word
cp $mods "$bpf"/*.bpf.o "$bpf"/net-lib/xdp_dummy.bpf.o "$nkdir/" || { result "1 0 0" "cannot stage the netkit suites' files in $nkdir"; exit 1; }
gmods="" gfiles="$nkdir/xdp_dummy.bpf.o:tools/testing/selftests/net/lib "
for m in $mods; do gmods+="$nkdir/$(basename "$m") "; done
for f in "$bpf"/*.bpf.o; do gfiles+="$nkdir/$(basename "$f") "; done
for t in $nk_tests; do
    tname=$(basename "$t")
    [ -f "$ktree/$t" ] || { result "1 0 0" "$t is not in $ktree"; continue; }
    nkname=$binname nkbin=$kbin
    if [ "$tname" = nk_qlease.py ]; then
        nkname=iou-zcrx
        nkbin=$("$root/scripts/vm/build-iou-zcrx.sh") || { result_as "1 0 0" "$tname" "the kernel's iou-zcrx did not build (see the log above)"; continue; }
    fi
    log "guest run: $t with the kernel's $nkname (testnic with combined channels)"
    res=$("$root/scripts/vm/run.sh" --kernel latest --nic testnic --nic-param combined_channels=1 --timeout 1500 \
        --env "DRVNET_MODULES=$gmods" --env "DRVNET_FILES=$gfiles" --env "DRVNET_HUGEPAGES=$hugepages" \
        --env "DRVNET_TEST_ENV=LOCAL_PREFIX_V6=2001:db8:2::/64" -- \
        "$root/scripts/checks/lib/drvnet-guest.sh" "$ktree" "$t" "$nkname" "c=$nkbin")
    rc=$?
    log "guest run done (run.sh exit $rc)"
    grep -E '^(CASE|RAN) ' <<<"$res" >&2
    n=0
    printf '| case | kernel'"'"'s C %s |\n|---|---|\n' "$nkname" >&2
    while read -r _ _ case st reason; do
        n=$((n + 1))
        printf '| %s | %s |\n' "$case" "$st${reason:+ $reason}" >&2
        case "$st" in
            ok) result_as "0 1 0" "$tname" "$case passes with the kernel's $nkname" ;;
            skip) result_as "0 0 1" "$tname" "$case skips with the kernel's $nkname: $reason" ;;
            *) result_as "1 0 0" "$tname" "$case fails with the kernel's $nkname (the testnic or the guest is at fault; see the log)"
               detail "$res" c "$case" ;;
        esac
    done < <(grep '^CASE c ' <<<"$res")
    [ "$n" -gt 0 ] || result_as "1 0 0" "$tname" "no case ran with the kernel's $nkname (run.sh exit $rc; see the log)"
    [ "$rc" = 0 ] || result_as "1 0 0" "$tname" "scripts/vm/run.sh exited $rc (a kernel splat, a timeout or a harness failure: see artifacts/vm/)"
done
