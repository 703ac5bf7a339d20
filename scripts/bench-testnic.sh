#!/usr/bin/env bash
# On the software devmem NIC (tests/testnic) inside a qemu guest, alternating runs in one guest boot:
#   scripts/bench-testnic.sh [MIB [ROUNDS]]      zero-copy receive: our ncdevmem server vs the kernel's,
#                                                same sender (defaults 256 MiB, 3 rounds)
#   scripts/bench-testnic.sh tx [LINES [PERIOD [ROUNDS]]]
#                                                devmem TX: our ncdevmem client vs the kernel's, both
#                                                stop-and-wait per line, same receiver (the kernel's server,
#                                                validating); defaults 20000 lines of 250 bytes, 3 rounds
# Kernel: the newest (BENCH_KERNEL overrides; TX needs 7.x).
# Not part of scripts/test.sh. Results go in docs/performance.md. The testnic emulates the NIC's DMA
# with a CPU copy under TCG: the numbers compare the two receivers on the same kernel path, they say
# nothing about hardware throughput.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=${BENCH_KERNEL:-latest}
cd "$root"
dotnet build -c Release samples/ncdevmem -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
ncd=$(scripts/vm/build-ncdevmem.sh --kernel "$kernel") || exit 1
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
