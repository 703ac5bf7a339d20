#!/bin/bash
# Inside a testnic guest (scripts/bench-testnic.sh boots it): our ncdevmem server vs the kernel's,
# alternating, ROUNDS rounds of MIB MiB each, the same sender (netcat in namespace "peer" fed by
# `yes | head -c`), both validating (-v 7). Prints one line per run:
#   RUN tool seconds fragments dontneed_calls
# The kernel's tool makes one SO_DEVMEM_DONTNEED per fragment and prints a line per fragment
# ("received frag_page=..."), which is counted; ours reports its calls in --json.
#   testnic-guest.sh SERIES NCDEVMEM MIB ROUNDS
set -uo pipefail
series=$1 ncdevmem=$2 mib=$3 rounds=$4
ours=${DEVMEM_ROOT:?}/samples/ncdevmem/bin/Release/net10.0/ncdevmem
pattern=$(printf '\001\002\003\004\005\006')
ip link set eth0 mtu 9000 && ip -n peer link set eth1 mtu 9000
yes "$pattern" | head -c "$((mib << 20))" >/tmp/bench.in
case "$series" in 6.12) kargs=(-t 2 -q 2); tr '\n' '\0' </tmp/bench.in >/tmp/bench.k.in ;; *) kargs=(); cp /tmp/bench.in /tmp/bench.k.in ;; esac

run() {    # run TOOL PORT
    local tool=$1 port=$2 in=/tmp/bench.in i srv t0 t1
    if [ "$tool" = kernel ]; then
        "$ncdevmem" -l -f eth0 -s 10.99.0.1 -p "$port" -v 7 "${kargs[@]}" >/tmp/b.out 2>/tmp/b.err &
        in=/tmp/bench.k.in
    else
        "$ours" -l -f eth0 -s 10.99.0.1 -p "$port" -v 7 --json >/tmp/b.out 2>/tmp/b.err &
    fi
    srv=$!
    for i in $(seq 600); do grep -q "Waiting or connection" /tmp/b.err && break; sleep 0.1; done
    t0=$(date +%s.%N)
    ip netns exec peer nc -N 10.99.0.1 "$port" <"$in" >/dev/null
    wait "$srv" || { echo "RUN $tool failed $(tail -n 2 /tmp/b.err | tr '\n' ' ')"; return; }
    t1=$(date +%s.%N)
    if [ "$tool" = kernel ]; then
        echo "RUN kernel $(awk "BEGIN {print $t1 - $t0}") $(grep -c '^received frag_page' /tmp/b.err) $(grep -c '^received frag_page' /tmp/b.err)"
        [ "$series" = 6.12 ] && { for id in $(ethtool -n eth0 | awk '/^Filter:/ {print $2}'); do ethtool -N eth0 delete "$id"; done; ethtool -X eth0 default; ethtool -G eth0 tcp-data-split off; } >/dev/null 2>&1
    else
        echo "RUN ours $(awk "BEGIN {print $t1 - $t0}") $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["fragments"], d["release_calls"])' /tmp/b.out)"
    fi
}
port=6000
for r in $(seq "$rounds"); do
    for tool in kernel ours; do
        port=$((port + 1))
        run "$tool" "$port"
    done
done
