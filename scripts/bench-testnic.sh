#!/usr/bin/env bash
# On the software devmem NIC (tests/testnic) inside a qemu guest, alternating runs in one guest boot:
#   scripts/bench-testnic.sh [MIB [ROUNDS]]      zero-copy receive: our ncdevmem server vs the kernel's,
#                                                same sender (defaults 256 MiB, 3 rounds)
#   scripts/bench-testnic.sh tx [LINES [PERIOD [ROUNDS]]]
#                                                devmem TX: our ncdevmem client vs the kernel's, both
#                                                stop-and-wait per line, same receiver (the kernel's server,
#                                                validating); defaults 20000 lines of 250 bytes, 3 rounds
#   scripts/bench-testnic.sh zcrx [MIB [ROUNDS]]
#                                                io_uring zero-copy receive: our ncdevmem server with
#                                                --engine zcrx vs devmem sockets vs the copy fallback
#                                                (MIB each, default 256), then our iou-zcrx server vs the
#                                                kernel's (2 MiB each, the kernel tool's payload size), the
#                                                kernel's client; throughput, receiver CPU and syscalls
#                                                (MIB 0: the iou-zcrx comparison only)
# Kernel: the newest (BENCH_KERNEL overrides; TX and zcrx need 7.x).
# Not part of scripts/test.sh. Results go in docs/performance.md. The testnic emulates the NIC's DMA
# with a CPU copy under TCG: the numbers compare the two receivers on the same kernel path, they say
# nothing about hardware throughput.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=${BENCH_KERNEL:-latest}
cd "$root"
dotnet build -c Release samples/ncdevmem -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
ncd=$(scripts/vm/build-ncdevmem.sh --kernel "$kernel") || exit 1
if [ "${1:-}" = zcrx ]; then
    mib=${2:-256} rounds=${3:-3}
    # The receivers NativeAOT-published (as the drv-net check runs them), so start-up is not JIT time.
    bench=$root/artifacts/bench
    mkdir -p "$bench"
    for p in ncdevmem iou-zcrx; do
        dotnet publish "samples/$p" -c Release -r linux-x64 -p:PublishAot=true -o "$bench/$p-aot" -nologo -v q >"$bench/publish-$p.log" 2>&1 ||
            { tail -n 20 "$bench/publish-$p.log" >&2; exit 1; }
    done
    kiou=$(scripts/vm/build-iou-zcrx.sh) || exit 1
    # shellcheck source=lib/debian.sh
    source scripts/lib/debian.sh
    # shellcheck source=vm/chroot.sh
    source scripts/vm/chroot.sh
    chroot_dir=$(build_chroot trixie) && build_chroot_apt "$chroot_dir" ethtool || exit 1
    printf '#!/bin/sh\nexec chroot %s /usr/sbin/ethtool "$@"\n' "$chroot_dir" >"$bench/ethtool"
    chmod +x "$bench/ethtool"
    out=$(scripts/vm/run.sh --kernel "$kernel" --nic testnic --timeout 3000 -- python3 scripts/bench/testnic-zcrx-guest.py \
        "$bench/ncdevmem-aot/ncdevmem" "$bench/iou-zcrx-aot/iou-zcrx" "$kiou" "$bench/ethtool" "$mib" "$rounds")
    echo "$out" | grep -E '^(RUN|STRACE|MEDIAN) '
    echo "$out" | awk '
        /^RUN [a-z-]+ [0-9]+ [0-9.]+ [0-9.]+$/ { n[$2]++; b[$2] += $3; s[$2] += $4; c[$2] += $5 }
        /^STRACE [a-z-]+ [0-9]+ [0-9]+ [0-9]+ / { sys[$2] = $4 / ($3 / 1073741824); ret[$2] = $5 / ($3 / 1073741824) }
        END {
            printf "%-16s %5s %12s %18s %16s %26s\n", "receiver", "runs", "MB/s (mean)", "CPU s/GiB (mean)", "syscalls/GiB", "buffer-return syscalls/GiB"
            for (t in n) printf "%-16s %5d %12.1f %18.2f %16.0f %26.0f\n", t, n[t], b[t] / 1e6 / s[t], c[t] / (b[t] / 1073741824), sys[t], ret[t]
        }'
    exit 0
fi
if [ "${1:-}" = tx ]; then
    lines=${2:-20000} period=${3:-250} rounds=${4:-3}
    out=$(scripts/vm/run.sh --kernel "$kernel" --nic testnic --timeout 1800 -- scripts/bench/testnic-tx-guest.sh "$ncd" "$lines" "$period" "$rounds")
    echo "$out" | grep '^RUN '
    echo "$out" | awk -v period="$period" '
        /^RUN (kernel|ours|ours-async) [0-9.]+ / { n[$2]++; s[$2] += $3; b[$2] += $4; c[$2] += $5 }
        END {
            printf "%-10s %5s %12s %16s %18s\n", "client", "runs", "KB/s (mean)", "lines/s (mean)", "completions/GiB"
            for (t in n) printf "%-10s %5d %12.1f %16.0f %18.0f\n", t, n[t], b[t] / 1000 / s[t], b[t] / period / s[t], c[t] / (b[t] / 1073741824)
        }'
    exit 0
fi
mib=${1:-256} rounds=${2:-3}
out=$(scripts/vm/run.sh --kernel "$kernel" --nic testnic --timeout 1800 -- scripts/bench/testnic-guest.sh "$kernel" "$ncd" "$mib" "$rounds")
echo "$out" | grep '^RUN '
echo "$out" | awk -v mib="$mib" '
    /^RUN (kernel|ours) [0-9.]+ / { n[$2]++; s[$2] += $3; f[$2] += $4; c[$2] += $5 }
    END {
        printf "%-8s %5s %12s %14s %20s\n", "tool", "runs", "MB/s (mean)", "fragments/GiB", "DONTNEED calls/GiB"
        for (t in n) printf "%-8s %5d %12.1f %14.0f %20.0f\n", t, n[t], mib * 1.048576 * n[t] / s[t], f[t] / (n[t] * mib / 1024), c[t] / (n[t] * mib / 1024)
    }'
