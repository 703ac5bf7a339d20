#!/usr/bin/env bash
# scripts/bench.sh [cmsg|copy|all]: builds and runs the receive-path benchmarks of docs/performance.md
# and prints their tables. Not part of scripts/test.sh: these are measurements, not pass/fail checks.
#
#   cmsg  per-fragment cost of the cmsg walk + token coalescing, C# (the library) vs the same loop in C
#         (bench/native/cmsgwalk.c): BenchmarkDotNet (MemoryDiagnoser), then the same with C and C#
#         alternating (bench/Devmem.Benchmarks/Interleaved.cs), which a shared machine needs.
#   copy  copy-fallback receive with validation over loopback, whole processes timed by hyperfine,
#         runs of all receivers alternating: the C# receiver (bench/Devmem.CopyReceiver: DevmemSocket's
#         copy fallback + NcdevmemPattern; JIT and NativeAOT builds) vs C recv loops
#         (bench/native/copyrecv.c: ncdevmem's byte loop, memcmp, no validation), one sender for all
#         (bench/native/patsend.c).
#
# Environment: BENCH_COPY_BYTES (default 2 GiB), BENCH_COPY_ROUNDS (default 5), BENCH_PORT (47211),
# BENCH_CMSG_ROUNDS (interleaved rounds, default 2000). Output files: artifacts/bench/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# shellcheck source=lib/prereqs.sh
source scripts/lib/prereqs.sh

what=${1:-all}
case "$what" in cmsg | copy | all) ;; *)
    echo "usage: scripts/bench.sh [cmsg|copy|all]" >&2
    exit 2
    ;;
esac

out=$root/artifacts/bench
mkdir -p "$out"
bytes=${BENCH_COPY_BYTES:-2147483648}
rounds=${BENCH_COPY_ROUNDS:-5}
port=${BENCH_PORT:-47211}
cmsg_rounds=${BENCH_CMSG_ROUNDS:-2000}

machine() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    echo "machine: $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r), $(dotnet --version 2>/dev/null | sed 's/^/.NET SDK /'), $(gcc --version | head -n1)"
    echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
}

build() {
    local log=$out/build.log
    if ! dotnet build -c Release -nologo -clp:NoSummary -v:q "$1" >"$log" 2>&1; then
        grep -E "error|warning" "$log" | sort -u | head -n 20 >&2
        echo "bench.sh: build of $1 failed: see $log" >&2
        exit 1
    fi
}

run_cmsg() {
    ensure_apt gcc libc6-dev
    echo "== cmsg walk + token coalescing, ns per fragment =="
    machine
    # The csproj also builds bench/native/cmsgwalk.c twice (gcc -O2; gcc -O3 -march=native).
    build bench/Devmem.Benchmarks
    local bdn=bench/Devmem.Benchmarks
    rm -rf "$bdn/BenchmarkDotNet.Artifacts"
    if ! (cd "$bdn" && dotnet bin/Release/net10.0/Devmem.Benchmarks.dll --filter '*CmsgWalk*') >"$out/cmsg-bdn.log" 2>&1; then
        tail -n 30 "$out/cmsg-bdn.log" >&2
        echo "bench.sh: the BenchmarkDotNet run failed: see $out/cmsg-bdn.log" >&2
        exit 1
    fi
    echo
    echo "BenchmarkDotNet (Allocated '-' = 0 bytes; per fragment, so per receive too):"
    sed -n '/^| Method/,$p' "$bdn"/BenchmarkDotNet.Artifacts/results/*CmsgWalkBenchmarks-report-github.md | sed 's/&#39;//g; s/\*\*//g'
    echo
    echo "load average after BenchmarkDotNet: $(cut -d' ' -f1-3 /proc/loadavg)"
    dotnet "$bdn"/bin/Release/net10.0/Devmem.Benchmarks.dll --interleaved "$cmsg_rounds"
    echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
}

run_copy() {
    ensure_apt gcc libc6-dev hyperfine jq
    echo "== copy-fallback receive with validation over loopback, $((bytes >> 20)) MiB per run =="
    machine
    local p
    for p in patsend copyrecv; do
        gcc -O2 -Wall -Wextra -Werror -o "$out/$p" "bench/native/$p.c"
    done
    build bench/Devmem.CopyReceiver
    local cs=$root/bench/Devmem.CopyReceiver/bin/Release/net10.0/Devmem.CopyReceiver
    # The same receiver compiled ahead of time (NativeAOT): no start-up JIT in the whole-process time.
    if ! dotnet publish bench/Devmem.CopyReceiver -c Release -r linux-x64 -p:PublishAot=true -nologo -v:q \
        -o "$out/cs-aot" >"$out/publish.log" 2>&1; then
        grep -E "error|warning" "$out/publish.log" | sort -u | head -n 20 >&2
        echo "bench.sh: NativeAOT publish of bench/Devmem.CopyReceiver failed: see $out/publish.log" >&2
        exit 1
    fi
    local csaot=$out/cs-aot/Devmem.CopyReceiver
    local log=$out/copy-receivers.jsonl json=$out/copy-hyperfine.json
    rm -f "$log" "$json"
    local send="$out/patsend 127.0.0.1 $port $bytes"

    # One command per receiver; IMPL names it for the tables. The sender runs beside each receiver,
    # retrying its connect until the receiver listens; the command ends when both have exited.
    # -L round: hyperfine runs every command once per round value before the next value, so the
    # receivers alternate: c-none, c-ncdevmem, c-memcmp, C# JIT, C# NativeAOT, c-none, ...
    local round_list
    round_list=$(seq -s, 1 "$rounds")
    hyperfine --style basic --runs 1 -L round "$round_list" --export-json "$json" \
        "IMPL=c-none ROUND={round}; $send & $out/copyrecv $port $bytes --validate none --log $log && wait" \
        "IMPL=c-ncdevmem ROUND={round}; $send & $out/copyrecv $port $bytes --validate ncdevmem --log $log && wait" \
        "IMPL=c-memcmp ROUND={round}; $send & $out/copyrecv $port $bytes --validate memcmp --log $log && wait" \
        "IMPL=csharp-jit ROUND={round}; $send & $cs $port $bytes --log $log && wait" \
        "IMPL=csharp-aot ROUND={round}; $send & $csaot $port $bytes --log $log && wait" \
        >"$out/copy-hyperfine.log" 2>&1 || {
        tail -n 30 "$out/copy-hyperfine.log" >&2
        echo "bench.sh: a copy run failed: see $out/copy-hyperfine.log" >&2
        exit 1
    }

    echo
    echo "Whole process (hyperfine: sender + receiver, receiver start-up included), $rounds alternating runs each:"
    jq -r --argjson bytes "$bytes" '
        def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        [.results[] | {impl: (.command | capture("IMPL=(?<i>[a-z-]+)").i), t: .mean}]
        | group_by(.impl) | map({impl: .[0].impl, ts: map(.t)})
        | (map(select(.impl == "c-ncdevmem"))[0].ts | median) as $nc
        | (map(select(.impl == "c-memcmp"))[0].ts | median) as $mc
        | ["| Receiver | Runs | Median s | Min s | Max s | GB/s (median) | vs C ncdevmem | vs C memcmp |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
          + (sort_by({"c-none": 0, "c-ncdevmem": 1, "c-memcmp": 2, "csharp-jit": 3, "csharp-aot": 4}[.impl])
             | map("| \(.impl) | \(.ts | length) | \(.ts | median * 1000 | round / 1000) | \(.ts | min * 1000 | round / 1000) | \(.ts | max * 1000 | round / 1000) | \($bytes / (.ts | median) / 1e9 * 1000 | round / 1000) | \($nc / (.ts | median) * 100 | round / 100)x | \($mc / (.ts | median) * 100 | round / 100)x |"))
        | .[]' "$json"
    echo
    echo "In process (each receiver's own clock, accept to end of stream):"
    jq -rs '
        def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        group_by(.receiver) | map({r: .[0].receiver, g: map(.gb_per_s), rc: map(.receives), e: (map(.validation_errors) | add)})
        | (map(select(.r == "c-ncdevmem"))[0].g | median) as $nc
        | (map(select(.r == "c-memcmp"))[0].g | median) as $mc
        | ["| Receiver | Runs | GB/s median | GB/s min | GB/s max | receives per run (median) | validation errors | vs C ncdevmem | vs C memcmp |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
          + (sort_by({"c-none": 0, "c-ncdevmem": 1, "c-memcmp": 2, "csharp-jit": 3, "csharp-aot": 4}[.r])
             | map("| \(.r) | \(.g | length) | \(.g | median * 1000 | round / 1000) | \(.g | min) | \(.g | max) | \(.rc | median) | \(.e) | \((.g | median) / $nc * 100 | round / 100)x | \((.g | median) / $mc * 100 | round / 100)x |"))
        | .[]' "$log"
    echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
}

case "$what" in
cmsg) run_cmsg ;;
copy) run_copy ;;
all)
    run_cmsg
    echo
    run_copy
    ;;
esac
