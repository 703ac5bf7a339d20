# The signal matrix for our ncdevmem server on the testnic, inside the guest: SIGINT, SIGTERM, SIGHUP
# and SIGQUIT, each during the NIC setup, while waiting for a connection and in the middle of a
# transfer: exit 128 + the signal's number, "NIC configuration undone", and the NIC state (ethtool -l
# -g -x -n, ntuple) and bindings (YNL queue-get) exactly as before. Then SIGKILL in each of the three
# phases, where nothing in the process can run, followed by the next run, which must undo what the
# killed one left (its journal under /run/devmem) and leave the NIC exactly as before.
# Sourced by ncdevmem-guest.sh (which defines start_ours, ours_state_ok, $ours, $pattern and the
# helpers of testnic-guest.sh); one server start per cell, 18 per kernel.

declare -A signo=([HUP]=1 [INT]=2 [QUIT]=3 [TERM]=15)

# matrix_start PORT PHASE: starts our server and brings it to PHASE (setup: the first NIC change line;
# waiting: listening; transfer: a sender streaming for a second). Sets $osrv and $msend (sender pgid).
matrix_start() {
    local port=$1 phase=$2 i
    msend=""
    # A background job of a non-interactive shell starts with SIGINT and SIGQUIT ignored (and the
    # runtime leaves an inherited SIG_IGN alone): give them the default back, as an interactive shell would.
    env --default-signal=INT,QUIT "$ours" -l -f eth0 -s 10.99.0.1 -p "$port" >/tmp/sig.out 2>/tmp/sig.err &
    osrv=$!
    local want="Waiting or connection"
    [ "$phase" = setup ] && want="^ncdevmem: eth0: "
    for i in $(seq 3000); do
        grep -q "$want" /tmp/sig.err && break
        kill -0 "$osrv" 2>/dev/null || return 1
        sleep 0.02
    done
    grep -q "$want" /tmp/sig.err || return 1
    if [ "$phase" = transfer ]; then
        # Its own process group (setsid), so the whole pipeline can be stopped by its id afterwards.
        setsid sh -c "yes '$pattern' | head -c $((4 << 30)) | ip netns exec peer nc -N 10.99.0.1 $port" >/dev/null 2>&1 &
        msend=$!
        for i in $(seq 300); do grep -q 'Got connection' /tmp/sig.err && break; sleep 0.1; done
        grep -q 'Got connection' /tmp/sig.err || return 1
        sleep 1
    fi
    return 0
}

matrix_stop_sender() {
    [ -n "$msend" ] || return 0
    kill -- "-$msend" 2>/dev/null
    wait "$msend" 2>/dev/null
    msend=""
}

port=5310
for phase in setup waiting transfer; do
    for sig in INT TERM HUP QUIT; do
        port=$((port + 1))
        if ! matrix_start "$port" "$phase"; then
            fail "ours: SIG$sig $phase: the server did not reach '$phase': $(tail -n 3 /tmp/sig.err | tr '\n' ' ')"
            kill -KILL "$osrv" 2>/dev/null; wait "$osrv" 2>/dev/null; matrix_stop_sender
            ours_state_ok "after SIG$sig $phase (server did not start)"
            continue
        fi
        kill "-$sig" "$osrv"
        wait "$osrv"
        rc=$?
        matrix_stop_sender
        want=$((128 + ${signo[$sig]}))
        if [ "$rc" = "$want" ] && grep -q "interrupted by SIG$sig; NIC configuration undone" /tmp/sig.err && ! grep -q "Unhandled\|^ *at " /tmp/sig.err; then
            pass "ours: SIG$sig $phase: exit $rc, 'NIC configuration undone'"
        else
            fail "ours: SIG$sig $phase: exit $rc (want $want): $(tail -n 3 /tmp/sig.err | tr '\n' ' ')"
        fi
        ours_state_ok "after SIG$sig $phase"
    done
done

for phase in setup waiting transfer; do
    port=$((port + 1))
    if ! matrix_start "$port" "$phase"; then
        fail "ours: SIGKILL $phase: the server did not reach '$phase': $(tail -n 3 /tmp/sig.err | tr '\n' ' ')"
        kill -KILL "$osrv" 2>/dev/null; wait "$osrv" 2>/dev/null; matrix_stop_sender
        continue
    fi
    kill -KILL "$osrv"
    wait "$osrv" 2>/dev/null
    matrix_stop_sender
    sleep 0.5
    journal=$(ls /run/devmem/eth0.*.journal 2>/dev/null | head -n 1)
    q=$(bound_queues)
    # The kernel drops the binding with the dead process's netlink socket; the rest stays, recorded.
    if [ -z "$q" ] && { [ "$phase" = setup ] || [ -n "$journal" ]; }; then
        pass "ours: SIGKILL $phase: the kernel dropped the binding; ${journal:-no journal (killed before its first change)} left for the next run"
    else
        fail "ours: SIGKILL $phase: bound '$q', journal '${journal:-none}'"
    fi
    port=$((port + 1))
    if matrix_start "$port" waiting; then
        kill -TERM "$osrv"
        wait "$osrv"
        rc=$?
        left=$(ls /run/devmem/eth0.*.journal 2>/dev/null | tr '\n' ' ')
        if [ "$rc" = 143 ] && [ -z "$left" ] && ! grep -q "could not undo" /tmp/sig.err; then
            pass "ours: after SIGKILL $phase the next run undid what was left ($(grep -c 'left by process' /tmp/sig.err) changes), removed the journal, exit 143"
        else
            fail "ours: the run after SIGKILL $phase: exit $rc, journals left '$left': $(grep -i 'left by\|undo' /tmp/sig.err | head -n 3 | tr '\n' ' ')"
        fi
    else
        fail "ours: the run after SIGKILL $phase did not start: $(tail -n 3 /tmp/sig.err | tr '\n' ' ')"
        kill -KILL "$osrv" 2>/dev/null; wait "$osrv" 2>/dev/null
    fi
    ours_state_ok "after SIGKILL $phase and the next run"
done
