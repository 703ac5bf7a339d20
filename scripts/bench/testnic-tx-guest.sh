#!/bin/bash
# Inside a 7.x testnic guest (scripts/bench-testnic.sh tx boots it): devmem TX from our ncdevmem client
# (blocking calls, and --async: the library's SendAsync/WaitForCompletionAsync) vs the kernel's ncdevmem
# client, all stop-and-wait per line (copy the line into the dma-buf, one
# sendmsg(MSG_ZEROCOPY), wait for its completion), into the same receiver (the kernel's ncdevmem server
# on eth0, validating with -v PERIOD), alternating, ROUNDS rounds of LINES lines. Prints one line per run:
#   RUN tool seconds bytes completions
#   testnic-tx-guest.sh NCDEVMEM LINES PERIOD ROUNDS
set -uo pipefail
ncdevmem=$1 lines=$2 period=$3 rounds=$4
ours=${DEVMEM_ROOT:?}/samples/ncdevmem/bin/Release/net10.0/ncdevmem
ip link set eth0 mtu 9000 && ip -n peer link set eth1 mtu 9000
# The validation pattern (the kernel tool's: 1..PERIOD-1 then '\n'): each line is one period.
python3 -c "
import sys
p = int(sys.argv[1]); n = int(sys.argv[2])
line = bytes(range(1, p)) + b'\n'
sys.stdout.buffer.write(line * n)" "$period" "$lines" >/tmp/tx.in
size=$(stat -c %s /tmp/tx.in)

run() {    # run TOOL PORT
    local tool=$1 port=$2 i srv t0 t1 crc rc compl
    "$ncdevmem" -l -f eth0 -s 10.99.0.1 -p "$port" -v "$period" >/tmp/s.out 2>/tmp/s.err &
    srv=$!
    for i in $(seq 600); do grep -q "Waiting or connection" /tmp/s.err && break; sleep 0.1; done
    t0=$(date +%s.%N)
    if [ "$tool" = kernel ]; then
        ip netns exec peer "$ncdevmem" -f eth1 -s 10.99.0.1 -p "$port" </tmp/tx.in >/tmp/c.out 2>/tmp/c.err
    elif [ "$tool" = ours ]; then
        ip netns exec peer "$ours" -f eth1 -s 10.99.0.1 -p "$port" --tx devmem </tmp/tx.in >/tmp/c.out 2>/tmp/c.err
    else
        ip netns exec peer "$ours" -f eth1 -s 10.99.0.1 -p "$port" --tx devmem --async </tmp/tx.in >/tmp/c.out 2>/tmp/c.err
    fi
    crc=$?
    wait "$srv"
    rc=$?
    t1=$(date +%s.%N)
    compl=$(grep -c '^tx complete \[' /tmp/c.err)
    total=$(grep -ho "total_received=[0-9]*" /tmp/s.out /tmp/s.err | cut -d= -f2 | sort -n | tail -n 1)
    if [ "$crc" != 0 ] || [ "$rc" != 0 ] || [ "${total:-0}" != "$size" ] || grep -q "Failed validation" /tmp/s.out /tmp/s.err; then
        echo "RUN $tool failed: client $crc, server $rc, ${total:-0} of $size bytes: $(tail -n 2 /tmp/c.err /tmp/s.err | tr '\n' ' ')"
        return
    fi
    echo "RUN $tool $(awk "BEGIN {print $t1 - $t0}") $size $compl"
}
port=7000
for r in $(seq "$rounds"); do
    for tool in kernel ours ours-async; do
        port=$((port + 1))
        run "$tool" "$port"
    done
done
