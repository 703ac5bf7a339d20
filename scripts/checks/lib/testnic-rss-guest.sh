# shellcheck shell=bash
# RSS contexts on the testnic, checked with ethtool and the testnic's per-queue RX counters
# (ethtool -S eth0: rx_queue_N_bytes). Sourced by testnic-guest.sh (which defines pass, fail and log,
# and binds trixie's ethtool: bookworm's cannot print the context ID it creates) in both kernels.
# tools/testing/selftests/drivers/net/hw/iou-zcrx.py steers its flow into a context the same way
# (ethtool -X IF context new start N equal 1, ethtool -N ... context C), but it cannot tell where the
# data arrived: io_uring zero-copy receive copies what comes in on another queue into its area
# (io_zcrx_copy_frag in io_uring/zcrx.c). Here the queue's own counter must show it.
#
# The default table is set to spread over all queues but the last, so the last queue receives only
# what a rule sends there. Left behind on purpose: a second context with a rule into it, which the
# module's unload (step 5 of testnic-guest.sh) must remove (netdev_rss_contexts_free in
# net/core/dev.c calls remove_rxfh_context for each).

rxq_bytes() { ethtool -S eth0 | awk -v k="rx_queue_$1_bytes:" '$1 == k {print $2}'; }

# send_to PORT: 1 MiB from namespace peer to 10.99.0.1:PORT (a netcat listener in this namespace).
send_to() {
    local srv
    nc -l "$1" >/dev/null &
    srv=$!
    for _ in $(seq 100); do
        ss -Hltn "sport = :$1" | grep -q . && break
        sleep 0.1
    done
    head -c $((1 << 20)) /dev/zero | timeout 120 ip netns exec peer nc -N 10.99.0.1 "$1"
    wait "$srv"
}

rss_contexts() {
    local nq last ctx rule b0 b1 tbl
    nq=$(find /sys/class/net/eth0/queues -maxdepth 1 -name "rx-*" | wc -l)
    last=$((nq - 1))
    if [ "$nq" -lt 2 ] || [ -z "$(rxq_bytes "$last")" ]; then
        fail "RSS contexts: eth0 has $nq RX queues and no counter rx_queue_${last}_bytes in ethtool -S"
        return
    fi
    ethtool -X eth0 equal "$last" || { fail "RSS contexts: ethtool -X eth0 equal $last failed"; return; }
    ctx=$(ethtool -X eth0 context new start "$last" equal 1 | sed -n 's/^New RSS context is \([0-9]*\)$/\1/p')
    if [ -z "$ctx" ]; then
        fail "RSS contexts: ethtool -X eth0 context new start $last equal 1 created no context"
        ethtool -X eth0 default
        return
    fi
    tbl=$(ethtool -x eth0 context "$ctx" | awk '/^ *[0-9]+:/ {for (i = 2; i <= NF; i++) print $i}' | sort -u | tr '\n' ' ')
    if [ "$tbl" = "$last " ]; then
        pass "RSS context $ctx created (ethtool -X context new start $last equal 1): its table holds only queue $last"
    else
        fail "RSS context $ctx: its table holds queues '$tbl', not only $last"
    fi
    rule=$(ethtool -N eth0 flow-type tcp4 dst-port 5301 context "$ctx" | sed -n 's/.*ID \([0-9]*\).*/\1/p')
    if [ -z "$rule" ]; then
        fail "RSS contexts: ethtool -N eth0 flow-type tcp4 dst-port 5301 context $ctx added no rule"
    else
        b0=$(rxq_bytes "$last")
        send_to 5301
        b1=$(rxq_bytes "$last")
        if [ $((b1 - b0)) -ge $((1 << 20)) ]; then
            pass "a flow steered by rule $rule into RSS context $ctx arrived on queue $last ($((b1 - b0)) bytes for 1 MiB sent)"
        else
            fail "a flow steered by rule $rule into RSS context $ctx: queue $last received $((b1 - b0)) bytes of 1 MiB"
        fi
        # The control: the same flow to a port without a rule never reaches the last queue.
        b0=$(rxq_bytes "$last")
        send_to 5302
        b1=$(rxq_bytes "$last")
        if [ "$b1" = "$b0" ]; then
            pass "a flow without a rule stays off queue $last (the default table, equal $last)"
        else
            fail "a flow without a rule reached queue $last ($((b1 - b0)) bytes): the default table is not equal $last"
        fi
        if ethtool -X eth0 context "$ctx" delete 2>/tmp/ctxdel.err; then
            fail "RSS context $ctx deleted while rule $rule steers into it"
        else
            pass "deleting RSS context $ctx while rule $rule steers into it refused: $(tr '\n' ' ' </tmp/ctxdel.err)"
        fi
        ethtool -N eth0 delete "$rule" || fail "RSS contexts: cannot delete rule $rule"
    fi
    if ethtool -X eth0 context "$ctx" delete; then
        pass "RSS context $ctx deleted"
    else
        fail "RSS context $ctx: delete failed"
    fi
    ethtool -X eth0 default
    # For the unload: a context (all queue 0) and a rule into it, left in place.
    ctx=$(ethtool -X eth0 context new equal 1 | sed -n 's/^New RSS context is \([0-9]*\)$/\1/p')
    [ -n "$ctx" ] && ethtool -N eth0 flow-type tcp4 dst-port 5399 context "$ctx" >/dev/null &&
        log "RSS context $ctx and a rule into it left for the unload"
}
rss_contexts
