#!/bin/bash
# One of the kernel's drv-net selftests (Python, KTAP output) run with each of several binaries in
# the place of the one it calls, inside a VM guest started by scripts/checks/drvnet.sh through
#   scripts/vm/run.sh --kernel latest --nic testnic -- scripts/checks/lib/drvnet-guest.sh ...
# (eth0 fd99::1 in the root namespace, eth1 fd99::2 in namespace "peer": the test's remote).
#
#   drvnet-guest.sh KTREE TEST BINNAME VARIANT=PATH...
#     KTREE    the kernel source tree (read-only here): its tools/testing/selftests/{net/lib,
#              drivers/net}, tools/net/ynl and Documentation/netlink/specs are copied to /tmp
#     TEST     the test, relative to KTREE (e.g. tools/testing/selftests/drivers/net/hw/devmem.py)
#     BINNAME  the file next to TEST that the test runs (e.g. ncdevmem)
#     VARIANT=PATH  a label and the binary put there as BINNAME, in this order (e.g. c=... ours=...)
#
# Optional, from the environment (scripts/checks/drvnet.sh sets them through run.sh --env):
#   DRVNET_MODULES   guest kernel modules (.ko paths) to insmod first, in this order (e.g. sch_ingress
#                    and cls_bpf for the netkit tests' tc BPF programs)
#   DRVNET_FILES     files copied next to TEST (e.g. the BPF objects nk_forward.bpf.o ...); FILE:DIR
#                    copies FILE into DIR of the tree instead (e.g. ...xdp_dummy.bpf.o:tools/testing/
#                    selftests/net/lib)
#   DRVNET_TEST_ENV  NAME=VALUE words added to the test's environment (e.g. LOCAL_PREFIX_V6=...)
#   (each a space-separated list)
#   DRVNET_HUGEPAGES 2 MiB huge pages reserved before the run (vm.nr_hugepages), if more than the
#                    guest has
#
# The test's own KTAP lines go to stderr (the log). On stdout, one line per case and variant:
#   CASE VARIANT NAME ok|fail|skip [REASON]
# and "RAN VARIANT EXIT" after each run. Nothing here decides whether a case passed: the test does.
set -uo pipefail
ktree=$1 test=$2 binname=$3
shift 3

work=/tmp/drvnet
rm -rf "$work"
for p in tools/testing/selftests/net/lib tools/testing/selftests/drivers/net tools/net/ynl Documentation/netlink/specs; do
    mkdir -p "$work/$(dirname "$p")"
    cp -a "$ktree/$p" "$work/$p" || { echo "RAN setup 1"; echo "cannot copy $ktree/$p" >&2; exit 1; }
done
chmod -R u+w "$work"
# Under qemu's software CPU emulation (and a loaded host) a program takes tens of times longer to
# start than on hardware: the library's own waits (5 s for a port to listen, 20 s for a command to
# end) are raised to DRVNET_WAIT_S (default 120) in the copy. Nothing else of the test is changed.
wait_s=${DRVNET_WAIT_S:-120}
u=$work/tools/testing/selftests/net/lib/py/utils.py
grep -q 'def wait_port_listen(.*deadline=5)' "$u" && grep -q 'timeout=20' "$u" ||
    { echo "RAN setup 1"; echo "drvnet-guest.sh: $u no longer has the waits this script raises (deadline=5, timeout=20): update it" >&2; exit 1; }
sed -i -e "/def wait_port_listen(/s/deadline=5)/deadline=$wait_s)/" -e "s/timeout=20\([,)]\)/timeout=$wait_s\1/g" "$u"
dir=$work/$(dirname "$test")
name=$(basename "$test" .py)
for m in ${DRVNET_MODULES:-}; do
    # A module already loaded (or built in) is fine; any other failure shows in the test's skips.
    grep -q "^$(basename "$m" .ko) " /proc/modules || insmod "$m" || echo "drvnet-guest.sh: insmod $m failed" >&2
done
for f in ${DRVNET_FILES:-}; do
    to=$dir
    case "$f" in *:*) to=$work/${f#*:} f=${f%%:*} ;; esac
    cp "$f" "$to/" || { echo "RAN setup 1"; echo "cannot copy $f to $to" >&2; exit 1; }
done
read -r -a test_env <<<"${DRVNET_TEST_ENV:-}"
# The tests reserve 64 huge pages (devmem_lib._reserve_hugepages): exactly two of ncdevmem's 64 MiB
# udmabufs for rx-page-size 16384. The kernel frees a binding, and so its udmabuf, only when the last
# of its buffers has come back (a page pool with buffers in flight retries its release every second,
# page_pool_release_retry in net/core/page_pool.c); under TCG the next run can start before two earlier
# ones are freed, and its udmabuf fails with ENOMEM. A test that finds enough reserved keeps them.
hp=${DRVNET_HUGEPAGES:-0}
if [ "$hp" -gt "$(cat /proc/sys/vm/nr_hugepages)" ]; then
    echo "$hp" >/proc/sys/vm/nr_hugepages
    echo "[guest] vm.nr_hugepages $(cat /proc/sys/vm/nr_hugepages) (asked $hp)" >&2
fi
# The remote keeps no TIME_WAIT sockets. The tests' sender binds its end to the port picked as free on
# the local side (socat ... bind=REMOTE:PORT, the port from rand_port's bind(0) here); it closes first,
# so its earlier connections wait 60 s in TIME_WAIT on the remote, and a port bind(0) hands out again
# made its bind fail with EADDRINUSE (docs/testnic.md).
ip netns exec peer sysctl -qw net.ipv4.tcp_max_tw_buckets=0 ||
    { echo "RAN setup 1"; echo "cannot set net.ipv4.tcp_max_tw_buckets in namespace peer" >&2; exit 1; }
# LOCAL_PREFIX_V6 (addresses for namespaces behind netkit): "DUT must be reachable using these
# addresses from the endpoint" (tools/testing/selftests/drivers/net/README.rst), so the remote routes
# the prefix to LOCAL_V6, as a lab's router would.
for kv in "${test_env[@]}"; do
    case "$kv" in
        LOCAL_PREFIX_V6=*) ip -n peer -6 route replace "${kv#*=}" via fd99::1 ||
            { echo "RAN setup 1"; echo "cannot route ${kv#*=} in namespace peer" >&2; exit 1; } ;;
    esac
done

for v in "$@"; do
    variant=${v%%=*} bin=${v#*=}
    rm -f "$dir/$binname"
    # A wrapper, not a copy: our ncdevmem is an apphost next to its assemblies.
    printf '#!/bin/sh\nexec %s "$@"\n' "$bin" >"$dir/$binname"
    chmod +x "$dir/$binname"
    echo "[guest $(cut -d' ' -f1 /proc/uptime)s] $name with $variant ($bin)" >&2
    (cd "$dir" && env NETIF=eth0 LOCAL_V6=fd99::1 REMOTE_V6=fd99::2 REMOTE_TYPE=netns REMOTE_ARGS=peer \
        NO_COLOR=1 "${test_env[@]}" /usr/bin/python3 "./$name.py") >"$work/$variant.ktap" 2>&1 </dev/null
    rc=$?
    sed "s/^/[$variant] /" "$work/$variant.ktap" >&2
    # "ok 1 devmem.check_rx", "not ok 2 devmem.check_tx", "ok 5 devmem.check_x # SKIP reason",
    # "ok 1 iou-zcrx.test_zcrx.single" (a case with variants: CASE.VARIANT, ksft_variants in
    # tools/testing/selftests/net/lib/py/ksft.py)
    sed -nE "s/^(not )?ok [0-9]+ $name\.([A-Za-z0-9_.]+)( # (SKIP|XFAIL) ?(.*))?\$/\1|\2|\4|\5/p" "$work/$variant.ktap" |
        while IFS='|' read -r notok case dir_ reason; do
            if [ "$dir_" = SKIP ]; then st=skip
            elif [ -n "$notok" ]; then st=fail
            else st=ok
            fi
            echo "CASE $variant $case $st $reason"
        done
    # A failed case's own lines (the test's "#" lines since the case before it: its checks, the
    # exception with the command's stdout and stderr), the last 60, as "DETAIL VARIANT CASE LINE".
    awk -v v="$variant" -v n="$name" '
        /^(not )?ok [0-9]+ / {
            if ($1 == "not") {
                c = $4; sub("^" n "\\.", "", c)
                for (i = (k > 60 ? k - 60 : 0); i < k; i++) print "DETAIL " v " " c " " buf[i]
            }
            k = 0; next
        }
        /^#/ { buf[k++] = $0 }' "$work/$variant.ktap"
    echo "RAN $variant $rc"
done
exit 0
