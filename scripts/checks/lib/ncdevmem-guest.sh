# Our ncdevmem (samples/ncdevmem) against the kernel's own tools on the testnic, inside the guest.
# Sourced by testnic-guest.sh, which defines $series $ncdevmem $mib, pass/fail/log, nic_state,
# bound_queues, start_server and $pattern, and has set eth0/eth1 to the jumbo MTU.
#
# The oracles: the kernel's ncdevmem (its exit status and validation), YNL queue-get, ethtool state.
# testnic emulates only the NIC's DMA (docs/testnic.md): this proves the kernel path, not hardware.

ours=${DEVMEM_ROOT:?}/samples/ncdevmem/bin/Release/net10.0/ncdevmem
ours_mib=${OURS_MIB:-64}

# Start our server on eth0 (args after PORT); wait until it listens. Sets $osrv.
start_ours() {
    local port=$1 i
    shift
    log "our ncdevmem server on port $port: $*"
    # A background job of a non-interactive shell starts with SIGINT ignored; give it the default back.
    env --default-signal=INT "$ours" -l -f eth0 -s 10.99.0.1 -p "$port" "$@" >/tmp/ours.out 2>/tmp/ours.err &
    osrv=$!
    for i in $(seq 600); do
        grep -q "Waiting or connection" /tmp/ours.err && return 0
        kill -0 "$osrv" 2>/dev/null || break
        sleep 0.1
    done
    log "our server did not come up; its stderr:"
    tail -n 20 /tmp/ours.err >&2
    return 1
}

json_field() {    # json_field FILE FIELD
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2>/dev/null
}

ours_state_ok() {    # ours_state_ok WHAT: NIC state and bindings as before our run
    local now q
    now=$(nic_state)
    q=$(bound_queues)
    if [ "$now" = "$state0" ] && [ -z "$q" ]; then
        pass "ours: $1: NIC state (ethtool -l -g -x -n, ntuple) identical to before and no queue bound"
    else
        echo "$state0" >/tmp/ours.state.before
        echo "$now" >/tmp/ours.state.after
        fail "ours: $1: NIC state changed or still bound ($q): $(diff /tmp/ours.state.before /tmp/ours.state.after | grep '^[<>]' | head -n 6 | tr '\n' ' ')"
    fi
}

if [ ! -x "$ours" ]; then
    fail "ours: $ours is not built"
    return 0 2>/dev/null || exit 0
fi
state0=$(nic_state)

# A. Our server, zero copy, validates what netcat sends from the peer namespace.
if start_ours 5301 -v 7 --json; then
    q=$(bound_queues)
    [ -n "$q" ] && pass "ours: YNL queue-get shows the binding while our server waits: $q" || fail "ours: YNL queue-get shows no binding while our server waits"
    yes "$pattern" | head -c "$((ours_mib << 20))" | ip netns exec peer nc -N 10.99.0.1 5301
    wait "$osrv"
    rc=$?
    mode=$(json_field /tmp/ours.out mode)
    bytes=$(json_field /tmp/ours.out dmabuf_bytes)
    calls=$(json_field /tmp/ours.out release_calls)
    frags=$(json_field /tmp/ours.out fragments)
    if [ "$rc" = 0 ] && [ "$mode" = zero-copy ] && [ "$bytes" = "$((ours_mib << 20))" ] && grep -q "ncdevmem: client exited" /tmp/ours.err; then
        pass "ours: server received $ours_mib MiB from netcat zero copy, validated ($frags fragments, $calls SO_DEVMEM_DONTNEED calls; the kernel's tool makes one per fragment)"
    else
        fail "ours: server from netcat: exit $rc, mode $mode, $bytes dma-buf bytes: $(tail -n 3 /tmp/ours.err | tr '\n' ' ')"
    fi
else
    fail "ours: server did not start: $(tail -n 3 /tmp/ours.err | tr '\n' ' ')"
fi
ours_state_ok "after a validated run"

# B. A corrupted stream is rejected (exit 1, the kernel tool's messages) and the setup undone.
if start_ours 5302 -v 7; then
    yes "$pattern" | head -c $((8 << 20)) | tr '\003' '\007' | ip netns exec peer nc -N 10.99.0.1 5302
    wait "$osrv"
    rc=$?
    if [ "$rc" = 1 ] && grep -q "Failed validation: expected=3, actual=7" /tmp/ours.err && grep -q "ncdevmem: validation failed" /tmp/ours.err; then
        pass "ours: a corrupted stream fails validation (exit 1, 'Failed validation: expected=3, actual=7')"
    else
        fail "ours: corrupted stream: exit $rc: $(tail -n 3 /tmp/ours.err | tr '\n' ' ')"
    fi
else
    fail "ours: server (corrupted stream) did not start"
fi
ours_state_ok "after a failed validation"

# C. Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGKILL (then the next run) during the setup,
# while waiting and mid-transfer, each followed by an exact state comparison.
# shellcheck source=ncdevmem-signals-guest.sh
source "$(dirname "${BASH_SOURCE[0]}")/ncdevmem-signals-guest.sh"

# C3. A port in use is found before the NIC is touched: no change line, the NIC as before.
/usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.bind(("10.99.0.1",5399)); s.listen(); time.sleep(120)' &
holder=$!
for i in $(seq 100); do ss -Htln 'sport = :5399' | grep -q . && break; sleep 0.1; done
"$ours" -l -f eth0 -s 10.99.0.1 -p 5399 >/tmp/inuse.out 2>/tmp/inuse.err
rc=$?
kill "$holder"; wait "$holder" 2>/dev/null
if [ "$rc" = 1 ] && grep -q "Address already in use" /tmp/inuse.err && ! grep -q "^ncdevmem: eth0: " /tmp/inuse.err; then
    pass "ours: a port in use is refused before any NIC change (exit 1, one line)"
else
    fail "ours: port in use: exit $rc: $(head -n 3 /tmp/inuse.err | tr '\n' ' ')"
fi
ours_state_ok "after a port in use"

# D. The kernel's ncdevmem server validates what our client sends (plain TCP from the peer).
case "$series" in
    6.12) ksargs=(-t 2 -q 2) ;;
    *) ksargs=() ;;
esac
if [ "$series" = 6.12 ]; then kv=(-v 7); else kv=(-v 7); fi
if start_server 5304 "${kv[@]}" "${ksargs[@]}"; then
    if [ "$series" = 6.12 ]; then
        yes "$pattern" | head -c $((ours_mib << 20)) | tr '\n' '\0' >/tmp/ours.in
    else
        yes "$pattern" | head -c $((ours_mib << 20)) >/tmp/ours.in
    fi
    # --tx plain: this check is about the plain path (the devmem TX client is G below, and sends by line).
    ip netns exec peer "$ours" -f eth1 -s 10.99.0.1 -p 5304 --tx plain </tmp/ours.in >/tmp/ocli.out 2>/tmp/ocli.err
    crc=$?
    wait "$srv"
    rc=$?
    total=$(grep -ho "total_received=[0-9]*" /tmp/srv.out /tmp/srv.err | cut -d= -f2 | sort -n | tail -n 1)
    if [ "$crc" = 0 ] && [ "$rc" = 0 ] && [ "${total:-0}" = "$((ours_mib << 20))" ] && ! grep -q "Failed validation" /tmp/srv.out /tmp/srv.err; then
        pass "kernel ncdevmem server validated $ours_mib MiB from our client (both exit 0)"
    else
        fail "kernel server <- our client: client exit $crc, server exit $rc, ${total:-0} bytes: $(tail -n 2 /tmp/ocli.err /tmp/srv.err | tr '\n' ' ')"
    fi
else
    fail "kernel ncdevmem server (for our client) did not start"
fi
[ "$series" = 6.12 ] && {
    # 6.12's ncdevmem leaves its setup behind (no cleanup); undo it as the testnic checks do.
    for id in $(ethtool -n eth0 | awk '/^Filter:/ {print $2}'); do ethtool -N eth0 delete "$id"; done
    ethtool -X eth0 default
    ethtool -G eth0 tcp-data-split off
}

# E. 7.x: our server receives zero copy what the kernel's ncdevmem client sends over devmem TX.
if [ "$series" != 6.12 ]; then
    if start_ours 5305 -v 7 --json; then
        yes "$pattern" | head -n 2000 >/tmp/kcli.in
        ip netns exec peer "$ncdevmem" -f eth1 -s 10.99.0.1 -p 5305 </tmp/kcli.in >/tmp/kcli.out 2>/tmp/kcli.err
        crc=$?
        wait "$osrv"
        rc=$?
        bytes=$(json_field /tmp/ours.out dmabuf_bytes)
        if [ "$crc" = 0 ] && [ "$rc" = 0 ] && [ "$bytes" = "$(stat -c %s /tmp/kcli.in)" ] && [ "$(json_field /tmp/ours.out mode)" = zero-copy ]; then
            pass "ours: server received the kernel ncdevmem client's devmem TX stream zero copy, validated ($bytes bytes, both exit 0)"
        else
            fail "ours <- kernel client: client exit $crc, server exit $rc, $bytes bytes: $(tail -n 2 /tmp/kcli.err /tmp/ours.err | tr '\n' ' ')"
        fi
    else
        fail "ours: server (for the kernel client) did not start"
    fi
fi
ours_state_ok "after the interop runs"

# G. 7.x: the kernel's ncdevmem server validates what our client sends over devmem TX (bind-tx on
# eth1 in the peer namespace, each line copied into the dma-buf and sent from it, as the kernel's client).
if [ "$series" != 6.12 ]; then
    if start_server 5308 -v 7; then
        lines=500
        yes "$pattern" | head -n "$lines" >/tmp/otx.in
        ip netns exec peer "$ours" -f eth1 -s 10.99.0.1 -p 5308 --tx devmem --json </tmp/otx.in >/tmp/otx.out 2>/tmp/otx.err
        crc=$?
        wait "$srv"
        rc=$?
        ncompl=$(grep -c '^tx complete \[' /tmp/otx.err)
        total=$(grep -ho "total_received=[0-9]*" /tmp/srv.out /tmp/srv.err | cut -d= -f2 | sort -n | tail -n 1)
        size=$(stat -c %s /tmp/otx.in)
        if [ "$crc" = 0 ] && [ "$rc" = 0 ] && grep -q "^ncdevmem: tx ok" /tmp/otx.err && [ "$ncompl" = "$lines" ] &&
            [ "$(json_field /tmp/otx.out transport)" = devmem ] && [ "${total:-0}" = "$size" ] &&
            grep -q "client exited" /tmp/srv.err && ! grep -q "Failed validation" /tmp/srv.out /tmp/srv.err; then
            pass "kernel ncdevmem server validated what our devmem TX client sent: $lines lines, $ncompl 'tx complete', $total bytes as dma-buf fragments (binding $(json_field /tmp/otx.out binding_id), both exit 0)"
        else
            fail "kernel server <- our devmem TX client: client exit $crc, server exit $rc, $ncompl completions, ${total:-0} of $size bytes: $(grep -v '^tx complete\|^sendmsg_ret' /tmp/otx.err | tail -n 3 | tr '\n' ' ') $(tail -n 2 /tmp/srv.err | tr '\n' ' ')"
        fi
    else
        fail "kernel ncdevmem server (for our devmem TX client) did not start"
    fi
    # The same with -z 2: each 7-byte line goes as four iovecs (offsets 0, 2, 4, 6), as the kernel tool's -z;
    # and --async: sent and waited for with the library's SendAsync/WaitForCompletionAsync (FdWaiter's
    # poll on the error queue), the path a service takes.
    if start_server 5309 -v 7; then
        yes "$pattern" | head -n 100 >/tmp/otxz.in
        ip netns exec peer "$ours" -f eth1 -s 10.99.0.1 -p 5309 --tx devmem -z 2 --async </tmp/otxz.in >/tmp/otxz.out 2>/tmp/otxz.err
        crc=$?
        wait "$srv"
        rc=$?
        ncompl=$(grep -c '^tx complete \[' /tmp/otxz.err)
        total=$(grep -ho "total_received=[0-9]*" /tmp/srv.out /tmp/srv.err | cut -d= -f2 | sort -n | tail -n 1)
        if [ "$crc" = 0 ] && [ "$rc" = 0 ] && grep -q "^ncdevmem: tx ok" /tmp/otxz.err && [ "$ncompl" = 100 ] &&
            [ "${total:-0}" = "$(stat -c %s /tmp/otxz.in)" ] && ! grep -q "Failed validation" /tmp/srv.out /tmp/srv.err; then
            pass "kernel ncdevmem server validated our devmem TX client with -z 2 --async (4 iovecs per line, the async send and completion wait): 100 lines, $ncompl 'tx complete', $total bytes"
        else
            fail "kernel server <- our devmem TX client -z 2: client exit $crc, server exit $rc, $ncompl completions, ${total:-0} bytes: $(grep -v '^tx complete\|^sendmsg_ret' /tmp/otxz.err | tail -n 3 | tr '\n' ' ')"
        fi
    else
        fail "kernel ncdevmem server (for our devmem TX client, -z 2) did not start"
    fi
    # bind-tx refused on a driver without netmem TX is covered on the host (lo) and virtio guests.
fi
ours_state_ok "after our devmem TX client"

# F. Bind self-tests: ours agree with the kernel tool's on the same NIC.
"$ours" -f eth0 >/tmp/oself.out 2>/tmp/oself.err
orc=$?
if [ "$series" = 6.12 ]; then
    krc=0    # 6.12's tool runs them before each server: they passed above if its servers started
else
    "$ncdevmem" -f eth0 >/tmp/kself.out 2>/tmp/kself.err
    krc=$?
fi
if [ "$orc" = 0 ] && [ "$krc" = 0 ]; then
    pass "ours: bind self-tests pass, as the kernel tool's do ($(grep -c '\[pass\]' /tmp/oself.err) passed)"
else
    fail "ours: bind self-tests exit $orc, the kernel tool's $krc: $(grep -v '\[pass\]' /tmp/oself.err | tail -n 3 | tr '\n' ' ')"
fi
ours_state_ok "after the bind self-tests"
