#!/usr/bin/env bash
# THE test command (README): builds everything, runs every test project, and ends with the line
#   N passed, N failed, N skipped
# totals over all projects. Exit status is non-zero on any failure.
#
# Host test projects (tests/*/ except *.Guest.Tests) run here. Guest test projects run inside
# Debian's 6.12 and newest kernels under qemu (scripts/vm/run.sh), once that harness exists.
# Everything the suite needs is installed or downloaded by the scripts it calls (cache: .cache/).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DEVMEM_ROOT=$root DEVMEM_CACHE=$root/.cache
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# shellcheck source=lib/prereqs.sh
source scripts/lib/prereqs.sh

results=$root/artifacts/test-results
rm -rf "$results"
mkdir -p "$results" "$DEVMEM_CACHE"
start=$(date +%s)
log() { printf '[test.sh %4ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }

# Every package a test uses, installed before the first test runs (a fresh machine has few of them):
# gcc and libc6-dev for the ABI test, python3-yaml for the kernel's YNL CLI, ethtool, iproute2 (ip,
# genl) and util-linux (setpriv) for the host tests that compare with them, netcat-openbsd for the
# guests' peer senders (the guests run the host's own userland), sudo for the kernel's 6.12 ncdevmem.
# scripts/vm/run.sh and the checks install what they need too, for when they are run alone.
ensure_apt gcc libc6-dev python3 python3-yaml dpkg-dev ethtool iproute2 util-linux netcat-openbsd sudo ||
    log "warning: could not install some packages; tests that need them will fail and say so"

log "building (Release)"
if ! dotnet build -c Release Devmem.slnx -nologo -clp:NoSummary -v:q >"$results/build.log" 2>&1; then
    grep -E "error|warning" "$results/build.log" | sort -u | head -n 40 >&2
    echo "build failed: see $results/build.log" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

# run_xunit NAME COMMAND...: runs an xunit v3 test executable with an XML result file.
run_xunit() {
    local name=$1; shift
    log "running $name"
    "$@" -noLogo -noColor -result-xml "$results/$name.xml" >"$results/$name.log" 2>&1
    local rc=$?
    # vm: lines are the VM harness's (the guest's kernel version, a kernel splat, a timeout). A failed
    # test's message and first stack lines come with it: CI shows this output and keeps no other file.
    awk '/\[FAIL\][[:space:]]*$/ { print; n = 16; next }
         /\[SKIP\][[:space:]]*$|Total:|^vm: / { print; n = 0; next }
         n > 0 { print "  | " $0; n-- }' "$results/$name.log" | head -n 120 >&2
    if [ ! -s "$results/$name.xml" ]; then
        log "$name produced no results (exit $rc); last lines:"
        tail -n 20 "$results/$name.log" >&2
        echo "1 0 0 $name: no results (exit $rc)" >"$results/$name.counts"   # failed passed skipped
    elif [ "$rc" -ne 0 ] && ! grep -qE '<assembly [^>]* (failed|errors)="[1-9]' "$results/$name.xml"; then
        # Every test passed but the run failed: e.g. the VM harness found a kernel splat.
        log "$name exited $rc although no test failed; last lines:"
        tail -n 10 "$results/$name.log" >&2
        echo "1 0 0 $name: exited $rc with no failing test" >"$results/$name.counts"
    fi
    return 0
}

for proj in tests/*/*.csproj; do
    name=$(basename "$proj" .csproj)
    case "$name" in *.Guest.Tests) continue ;; esac
    exe=$(dirname "$proj")/bin/Release/net10.0/$name
    run_xunit "host-$name" "$exe"
done

# What the ABI test covered (header sets; structs, fields, constants) into the log.
if [ -f "$results/host-Devmem.Abi.Tests.xml" ]; then
    grep -o 'checked against linux-libc-dev[^<]*' "$results/host-Devmem.Abi.Tests.xml" | sed 's/^/    ABI /' >&2
fi

# Kernel-dependent projects inside the VM guests (both kernels), when the harness is present.
if [ -x scripts/vm/run.sh ]; then
    # The kernel's own iou-zcrx (tools/testing/selftests/drivers/net/hw/iou-zcrx.c) for the zcrx guest
    # tests that run it against ours (a failed build counts as a failure; the tests then skip, saying so).
    guest_env=()
    if iou=$(scripts/vm/build-iou-zcrx.sh 2>"$results/build-iou-zcrx.log"); then
        guest_env=(--env "DEVMEM_IOU_ZCRX=$iou")
    else
        log "the kernel's iou-zcrx did not build (see $results/build-iou-zcrx.log); the tests that run it skip"
        echo "1 0 0 build-iou-zcrx: the kernel's iou-zcrx did not build (see build-iou-zcrx.log)" >"$results/build-iou-zcrx.counts"
    fi
    # The kernel's YNL CLI (scripts/ynl.sh) for the guest tests that compare with it (they skip, saying so, without it).
    if ynl=$(scripts/ynl.sh 2>"$results/ynl.log" | tail -n1) && [ -n "$ynl" ]; then
        guest_env+=(--env "DEVMEM_YNL=$ynl")
    else
        log "scripts/ynl.sh failed (see $results/ynl.log); the guest tests that compare with YNL skip"
    fi
    for proj in tests/*.Guest.Tests/*.csproj; do
        [ -f "$proj" ] || continue
        name=$(basename "$proj" .csproj)
        exe=$(dirname "$proj")/bin/Release/net10.0/$name
        for k in 6.12 latest; do
            allow=()
            # NetlinkGuestTests.Bind_rx_on_lo_is_refused_in_each_kernels_words provokes, on purpose, 6.12's
            # own WARN_ON(!dmabuf || !dev) in dma_buf_dynamic_attach (lo has no parent device); 7.x
            # refuses earlier. Only that WARN is allowed, and only on 6.12.
            [ "$k" = 6.12 ] && allow=(--allow-splat 'at drivers/dma-buf/dma-buf\.c:[0-9]+ dma_buf_dynamic_attach')
            run_xunit "guest-$k-$name" scripts/vm/run.sh --kernel "$k" "${allow[@]}" -- "$exe"
            # The library against the software devmem NIC (tests/testnic): only the classes written for it,
            # by their trait [Nic(... Nic.Testnic)] (they skip, saying so, in the virtio runs above, which run
            # every test).
            run_xunit "guest-$k-testnic-$name" scripts/vm/run.sh --kernel "$k" --nic testnic "${guest_env[@]}" -- "$exe" -trait nic=testnic
        done
    done
fi

# Scripted checks (scripts/checks/*.sh) each write "failed passed skipped label" lines to a .counts file.
for check in scripts/checks/*.sh; do
    [ -x "$check" ] || continue
    cname=$(basename "$check" .sh)
    log "running check $cname"
    if ! "$check" "$results/check-$cname.counts" >"$results/check-$cname.log" 2>&1; then
        grep -q . "$results/check-$cname.counts" 2>/dev/null || echo "1 0 0 $cname: exited non-zero" >>"$results/check-$cname.counts"
    fi
    tail -n 5 "$results/check-$cname.log" >&2
    # A check that failed says why on "FAIL| " lines of its log (e.g. the kernel selftest's own lines
    # for a failed case): CI shows this output and keeps no other file.
    if awk '$1 > 0 { f = 1 } END { exit !f }' "$results/check-$cname.counts" 2>/dev/null; then
        grep '^FAIL| ' "$results/check-$cname.log" | head -n 80 | sed 's/^FAIL| /  | /' >&2
    fi
done

log "done"
python3 - "$results" <<'PY'
import glob, os, sys
import xml.etree.ElementTree as ET
d = sys.argv[1]
p = f = s = 0
for x in sorted(glob.glob(os.path.join(d, "*.xml"))):
    try:
        for a in ET.parse(x).getroot().iter("assembly"):
            p += int(a.get("passed", 0)); s += int(a.get("skipped", 0))
            f += int(a.get("failed", 0)) + int(a.get("errors", 0))
    except Exception as e:
        print(f"unreadable result file {x}: {e}", file=sys.stderr); f += 1
for c in sorted(glob.glob(os.path.join(d, "*.counts"))):
    for line in open(c):
        parts = line.split(None, 3)
        if len(parts) >= 3:
            f += int(parts[0]); p += int(parts[1]); s += int(parts[2])
            if int(parts[0]):
                print(f"FAILED: {line.strip()}", file=sys.stderr)
print(f"{p} passed, {f} failed, {s} skipped")
sys.exit(1 if f else 0)
PY
