#!/bin/bash
# The testnic checks, inside a VM guest started by scripts/checks/testnic.sh through
#   scripts/vm/run.sh --kernel K --nic testnic -- scripts/checks/lib/testnic-guest.sh ...
# (eth0 10.99.0.1 in the root namespace, eth1 10.99.0.2 in namespace "peer", both testnic).
#
#   testnic-guest.sh SERIES NCDEVMEM YNLTREE TRIXIE MIB
#     SERIES    6.12 or latest (labels, and which ncdevmem dialect)
#     NCDEVMEM  the kernel's own ncdevmem for this kernel (static)
#     YNLTREE   a kernel tree holding tools/net/ynl and Documentation/netlink/specs
#     TRIXIE    the trixie build chroot (its ethtool runs here, see below)
#     MIB       how much the server must receive validated
#
# Prints one line "RESULT FAILED PASSED SKIPPED label" per check on stdout; details on stderr.
# The oracle is the kernel's own tooling: ncdevmem (its exit status and validation), the YNL CLI
# (queue-get), ethtool. Nothing here decides by itself that devmem worked.
set -uo pipefail
series=$1 ncdevmem=$2 ynl=$3 trixie=$4 mib=$5

# 6.12's ncdevmem runs `sudo ethtool -G IF tcp-data-split on|off`, which the machine's bookworm
# ethtool (6.1) does not know. Trixie's ethtool does: in a private mount namespace it is bound over
# /usr/sbin/ethtool, so the real sudo runs it (sudo resets PATH, a wrapper earlier in PATH would
# not be seen). Everything below, state snapshots included, sees that one ethtool.
if [ -z "${TN_GUEST_NS:-}" ]; then
    TN_GUEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
printf '#!/bin/sh\nexec chroot %s /usr/sbin/ethtool "$@"\n' "$trixie" >/tmp/ethtool
chmod +x /tmp/ethtool
mount --bind /tmp/ethtool /usr/sbin/ethtool || { echo "RESULT 1 0 0 $series: cannot bind trixie's ethtool over /usr/sbin/ethtool"; exit 1; }

label=$(uname -r | cut -d. -f1,2)       # 6.12, 7.3: the kernel the guest really runs
pass() { echo "RESULT 0 1 0 $label: $*"; }
fail() { echo "RESULT 1 0 0 $label: $*"; }
log() { echo "[guest $(cut -d' ' -f1 /proc/uptime)s] $*" >&2; }
ifindex=$(cat /sys/class/net/eth0/ifindex)
pattern=$(printf '\001\002\003\004\005\006')

nic_state() {
    local o
    for o in -l -g -x -n; do ethtool "$o" eth0; done
    ethtool -k eth0 | grep ntuple
}

# The queues of eth0 that the kernel reports bound to a dma-buf, as "QUEUE:DMABUF-ID ...".
bound_queues() {
    PYTHONPATH=$ynl/tools/net/ynl /usr/bin/python3 "$ynl/tools/net/ynl/pyynl/cli.py" \
        --spec "$ynl/Documentation/netlink/specs/netdev.yaml" --no-schema --dump queue-get --output-json |
        /usr/bin/python3 -c '
import json, sys
qs = json.load(sys.stdin)
print(" ".join("%d:%d" % (q["id"], q["dmabuf"]) for q in qs
               if q["ifindex"] == int(sys.argv[1]) and q.get("type") == "rx" and "dmabuf" in q))' "$ifindex"
}

# Start an ncdevmem server on eth0 (args after PORT); wait until it listens. Sets $srv.
start_server() {
    local port=$1 i
    shift
    log "ncdevmem server on port $port: $*"
    "$ncdevmem" -l -f eth0 -s 10.99.0.1 -p "$port" "$@" >/tmp/srv.out 2>/tmp/srv.err &
    srv=$!
    for i in $(seq 600); do
        grep -q "Waiting or connection" /tmp/srv.err && return 0
        kill -0 "$srv" 2>/dev/null || break
        sleep 0.1
    done
    log "ncdevmem server did not come up; its stderr:"
    tail -n 20 /tmp/srv.err >&2
    return 1
}

case "$series" in
    6.12) sargs=(-t 2 -q 2) ;;     # 6.12's defaults are queue 8, 8 queues; testnic has 4
    *) sargs=() ;;
esac
# Jumbo frames: about six times fewer packets (each payload spans three 4 KiB buffers), which is
# what makes 256 MiB affordable under qemu's software CPU emulation.
mtu=${TESTNIC_MTU:-9000}
ip link set eth0 mtu "$mtu" && ip -n peer link set eth1 mtu "$mtu" || fail "cannot set MTU $mtu"
before=$(nic_state)
log "NIC state before: $(echo "$before" | wc -l) lines"

log "self-tests"
# 1. Bind self-tests (7.x: no -s/-c; 6.12 runs them before every server, see 2.)
if [ "$series" != 6.12 ]; then
    if "$ncdevmem" -f eth0 >/tmp/self.out 2>/tmp/self.err; then
        pass "ncdevmem bind self-tests passed (exit 0)"
    else
        fail "ncdevmem bind self-tests: exit $?: $(grep -v '^Running\|^setting' /tmp/self.err | tail -n 3 | tr '\n' ' ')"
    fi
fi

# 2. RX: the kernel's ncdevmem server receives MIB validated from netcat in namespace "peer".
rc=1
if start_server 5201 -v 7 "${sargs[@]}"; then
    [ "$series" = 6.12 ] && pass "ncdevmem bind self-tests passed (6.12 runs them before its server)"
    q=$(bound_queues)
    if [ -n "$q" ]; then pass "YNL queue-get shows eth0 queue(s) bound while serving: $q"; else fail "YNL queue-get shows no dmabuf on eth0 while ncdevmem serves"; fi
    log "sending $mib MiB from namespace peer"
    t0=$(date +%s)
    if [ "$series" = 6.12 ]; then
        # 6.12's validation expects the period's last byte as 0 where 7.x expects '\n'.
        yes "$pattern" | head -c "$((mib << 20))" | tr '\n' '\0' | ip netns exec peer nc -N 10.99.0.1 5201
    else
        yes "$pattern" | head -c "$((mib << 20))" | ip netns exec peer nc -N 10.99.0.1 5201
    fi
    wait "$srv"
    rc=$?
    t1=$(date +%s)
    nval=$(grep -c "Validated buffer" /tmp/srv.out)
    # ncdevmem adds up only the SCM_DEVMEM_DMABUF fragments: every byte must have come that way.
    total=$(grep -ho "total_received=[0-9]*" /tmp/srv.out /tmp/srv.err | cut -d= -f2 | sort -n | tail -n 1)
    if [ "$rc" = 0 ] && grep -q "client exited" /tmp/srv.err && ! grep -q "Failed validation" /tmp/srv.out /tmp/srv.err &&
        [ "${total:-0}" = "$((mib << 20))" ]; then
        pass "ncdevmem server received $mib MiB validated, all $total bytes as dma-buf fragments ($nval buffers, $((t1 - t0)) s, exit 0)"
    else
        fail "ncdevmem server: exit $rc after $((t1 - t0)) s, ${total:-0} of $((mib << 20)) bytes in dma-buf fragments: $(tail -n 3 /tmp/srv.err | tr '\n' ' ')"
    fi
else
    [ "$series" = 6.12 ] && fail "ncdevmem bind self-tests or setup failed: $(tail -n 3 /tmp/srv.err | tr '\n' ' ')"
    fail "ncdevmem server did not start"
fi
q=$(bound_queues)
if [ -z "$q" ]; then pass "YNL queue-get shows no dmabuf on eth0 after the server exited"; else fail "still bound after the server exited: $q"; fi

# 3. TX (7.x): the kernel's ncdevmem client sends from a dma-buf over eth1 (devmem TX) to the server.
if [ "$series" != 6.12 ]; then
    if start_server 5202 -v 7; then
        lines=500
        yes "$pattern" | head -n "$lines" >/tmp/cli.in
        if ip netns exec peer "$ncdevmem" -f eth1 -s 10.99.0.1 -p 5202 </tmp/cli.in >/tmp/cli.out 2>/tmp/cli.err &&
            grep -q "ncdevmem: tx ok" /tmp/cli.err /tmp/cli.out; then
            wait "$srv"
            rc=$?
            if [ "$rc" = 0 ] && ! grep -q "Failed validation" /tmp/srv.out /tmp/srv.err; then
                pass "ncdevmem client -> server over devmem TX: $lines lines, $(grep -c 'tx complete' /tmp/cli.out /tmp/cli.err | awk -F: '{s+=$2} END {print s}') completions, validated, both exit 0"
            else
                fail "devmem TX: server exit $rc: $(tail -n 3 /tmp/srv.err | tr '\n' ' ')"
            fi
        else
            fail "devmem TX: ncdevmem client failed: $(tail -n 3 /tmp/cli.err | tr '\n' ' ')"
            kill "$srv" 2>/dev/null
            wait "$srv" 2>/dev/null
        fi
    else
        fail "devmem TX: ncdevmem server did not start"
    fi
fi

# 4. NIC state. 7.x's ncdevmem restores what it changed; 6.12's does not (it has no cleanup): it
# leaves its flow rule, RSS "equal" and header split on. Those are undone here, and what must
# then be identical is the rest (channels, rings, the RSS table) and that the undo works.
if [ "$series" = 6.12 ]; then
    for id in $(ethtool -n eth0 | awk '/^Filter:/ {print $2}'); do ethtool -N eth0 delete "$id"; done
    ethtool -X eth0 default
    ethtool -G eth0 tcp-data-split off
fi
after=$(nic_state)
echo "$before" >/tmp/state.before
echo "$after" >/tmp/state.after
if [ "$before" = "$after" ]; then
    pass "NIC state (ethtool -l -g -x -n, ntuple) identical before and after$([ "$series" = 6.12 ] && echo " (after undoing 6.12 ncdevmem's leftovers)")"
else
    fail "NIC state changed: $(diff /tmp/state.before /tmp/state.after | grep '^[<>]' | head -n 6 | tr '\n' ' ')"
fi

ip link set eth0 mtu 1500
ip -n peer link set eth1 mtu 1500

# 4b. Checksum verification: the stack cannot check devmem payload, so testnic checks while it
# copies. A raw TCP/IPv4 frame with a wrong checksum, sent from the peer, must be dropped and
# counted in eth0's rx_errors; the same frame with the right checksum must not be.
send_frame() {    # send_frame good|bad
    ip netns exec peer /usr/bin/python3 - "$(cat /sys/class/net/eth0/address)" "$1" <<'PY'
import socket, struct, sys
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
src, dst = socket.inet_aton("10.99.0.2"), socket.inet_aton("10.99.0.1")
payload = b"testnic" * 20
tcp = struct.pack("!HHIIBBHHH", 40000, 9, 1, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
c = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
if sys.argv[2] == "bad":
    c ^= 0x0101
tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth1", 0))
s.send(bytes.fromhex(sys.argv[1].replace(":", "")) + s.getsockname()[4] + b"\x08\x00" + ip + tcp)
PY
}
e0=$(cat /sys/class/net/eth0/statistics/rx_errors)
send_frame good && sleep 0.5
e1=$(cat /sys/class/net/eth0/statistics/rx_errors)
send_frame bad && sleep 0.5
e2=$(cat /sys/class/net/eth0/statistics/rx_errors)
if [ "$e1" = "$e0" ] && [ "$e2" = $((e1 + 1)) ]; then
    pass "TCP checksum verified while copying: a bad frame dropped and counted (rx_errors $e1 -> $e2), a good one not"
else
    fail "checksum verification: rx_errors $e0 -> $e1 (good frame) -> $e2 (bad frame)"
fi

# 4c. Our ncdevmem (samples/ncdevmem) against the kernel's tools, on the jumbo MTU again.
ip link set eth0 mtu "$mtu" && ip -n peer link set eth1 mtu "$mtu"
# shellcheck source=ncdevmem-guest.sh
source "$(dirname "$0")/ncdevmem-guest.sh"
ip link set eth0 mtu 1500
ip -n peer link set eth1 mtu 1500

# 4d. RSS contexts: a flow steered into one arrives on its queue (the per-queue counters of ethtool -S);
# a context with a rule into it is left for the unload below.
# shellcheck source=testnic-rss-guest.sh
source "$(dirname "$0")/testnic-rss-guest.sh"

# 5. With a server bound (and not yet connected): a second ncdevmem server on the same queue must
# be refused by the kernel (EEXIST, "designated queue already memory provider bound"). Then
# unloading while bound: rmmod, then end the server (its netlink socket closes and the kernel frees
# the binding against our parent device). The harness fails the run on any kernel splat.
if start_server 5203 "${sargs[@]}"; then
    q=$(grep -o "got dmabuf id=[0-9]*" /tmp/srv.err | tail -n 1)
    log "second server on the bound queue"
    timeout 300 "$ncdevmem" -l -f eth0 -s 10.99.0.1 -p 5204 "${sargs[@]}" >/tmp/srv2.out 2>/tmp/srv2.err
    rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "netdev_bind_rx: File exists" /tmp/srv2.err; then
        pass "bind-rx on an already bound queue refused (ncdevmem exit $rc: netdev_bind_rx: File exists)"
    else
        fail "second bind-rx on a bound queue: ncdevmem exit $rc: $(tail -n 3 /tmp/srv2.err | tr '\n' ' ')"
    fi
    if rmmod testnic; then
        kill "$srv"
        wait "$srv" 2>/dev/null
        sleep 1
        if [ ! -e /sys/class/net/eth0 ]; then
            pass "rmmod while bound ($q), then unbind by closing the netlink socket: module gone"
        else
            fail "eth0 still exists after rmmod"
        fi
    else
        fail "rmmod testnic while bound failed"
        kill "$srv"
    fi
else
    fail "unload test: ncdevmem server did not start"
fi
exit 0
