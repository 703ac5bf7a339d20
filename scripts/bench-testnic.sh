#!/usr/bin/env bash
# Zero-copy receive on the software devmem NIC (tests/testnic) inside a qemu guest: our ncdevmem
# server vs the kernel's ncdevmem, same sender, alternating runs in one guest boot.
#   scripts/bench-testnic.sh [MIB [ROUNDS]]      (defaults 256 MiB, 3 rounds; kernel: the newest)
# Not part of scripts/test.sh. Results go in docs/performance.md. The testnic emulates the NIC's DMA
# with a CPU copy under TCG: the numbers compare the two receivers on the same kernel path, they say
# nothing about hardware throughput.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-256} rounds=${2:-3} kernel=${BENCH_KERNEL:-latest}
cd "$root"
dotnet build -c Release samples/ncdevmem -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
ncd=$(scripts/vm/build-ncdevmem.sh --kernel "$kernel") || exit 1
out=$(scripts/vm/run.sh --kernel "$kernel" --nic testnic --timeout 1800 -- scripts/bench/testnic-guest.sh "$kernel" "$ncd" "$mib" "$rounds")
echo "$out" | grep '^RUN '
echo "$out" | awk -v mib="$mib" '
    /^RUN (kernel|ours) [0-9.]+ / { n[$2]++; s[$2] += $3; f[$2] += $4; c[$2] += $5 }
    END {
        printf "%-8s %5s %12s %14s %20s\n", "tool", "runs", "MB/s (mean)", "fragments/GiB", "DONTNEED calls/GiB"
        for (t in n) printf "%-8s %5d %12.1f %14.0f %20.0f\n", t, n[t], mib * 1.048576 * n[t] / s[t], f[t] / (n[t] * mib / 1024), c[t] / (n[t] * mib / 1024)
    }'
