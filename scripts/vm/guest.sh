#!/bin/bash
# Runs inside the VM guest, chrooted into the host's (read-only) root file system, started by the
# initramfs's /init (scripts/vm/init). Sets up the network, runs the command, reports back.
#   guest.sh CTL   CTL: the control share, where run.sh left guest.env and where this writes
#                  setup.log, stdout, stderr, dmesg, uname and status (COMMAND's exit status).
# No `set -e`: every step reports its own failure, and status must be written in every case.
set -uo pipefail
ctl=$1
# shellcheck source=/dev/null # written by run.sh
source "$ctl/guest.env"
exec 3>>"$ctl/setup.log"
setup_fail() {
    echo "guest setup failed: $*" >&3
    echo "setup: $*" >"$ctl/status"
    dmesg >"$ctl/dmesg" 2>&1
    exit 1
}
mark() { local up; read -r up _ </proc/uptime; echo "[$up] $*" >&3; }
run() { mark "$*"; "$@" >&3 2>&1 || setup_fail "$*"; }
mark "guest.sh started"

uname -r >"$ctl/uname"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The NICs. virtio: two virtio-net devices on one qemu hub, eth0 and eth1 in PCI order (no udev
# renames them). testnic: the project's software devmem NIC module creates eth0 and eth1 itself;
# its dependencies come first in VM_NIC_MODULES (on the control share; copied to tmpfs first).
if [ "$VM_NIC" = testnic ]; then
    # testnic's fault knobs are debugfs files (/sys/kernel/debug/testnic/IFNAME/fail_*; docs/testnic.md).
    mountpoint -q /sys/kernel/debug || run mount -t debugfs debugfs /sys/kernel/debug
    n=0
    for m in "${VM_NIC_MODULES[@]}"; do
        n=$((n + 1))
        cp "$m" "/tmp/nic-$n.ko" || setup_fail "cannot copy $m"
        if [ "$n" -eq "${#VM_NIC_MODULES[@]}" ]; then
            run insmod "/tmp/nic-$n.ko" "${VM_NIC_PARAMS[@]}"
        else
            run insmod "/tmp/nic-$n.ko"
        fi
    done
fi
for _ in $(seq 100); do
    [ -e /sys/class/net/eth0 ] && [ -e /sys/class/net/eth1 ] && break
    sleep 0.05
done
[ -e /sys/class/net/eth0 ] && [ -e /sys/class/net/eth1 ] ||
    setup_fail "no eth0/eth1 after loading the $VM_NIC NIC (have: $(ls /sys/class/net | tr '\n' ' '))"

# Addresses: eth0 in the root namespace, eth1 in namespace "peer". nodad: usable at once
# (duplicate address detection would hold them "tentative" for a second or more). One `ip -batch`
# per namespace: each exec of ip costs about 0.1 s under TCG. Moving a device into another
# namespace takes it down, so eth1 is brought up in "peer".
batch() { mark "ip $* -batch: ${b//$'\n'/; }"; ip "$@" -batch - <<<"$b" >&3 2>&1 || setup_fail "ip $* -batch: ${b//$'\n'/; }"; }
b="link set lo up
netns add peer
link set eth1 netns peer
addr add 10.99.0.1/24 dev eth0
addr add fd99::1/64 dev eth0 nodad
link set eth0 up" batch
b="link set lo up
addr add 10.99.0.2/24 dev eth1
addr add fd99::2/64 dev eth1 nodad
link set eth1 up" batch -n peer
# Carrier (linkwatch sets it shortly after "up"): packets sent before it are dropped.
for _ in $(seq 100); do
    read -r c </sys/class/net/eth0/carrier 2>/dev/null && [ "$c" = 1 ] && break
    sleep 0.02
done
[ "${c:-0}" = 1 ] || setup_fail "eth0 has no carrier"
for _ in $(seq 20); do
    ip -n peer -o link show eth1 | grep -q LOWER_UP && break
    sleep 0.05
done
ip -n peer -o link show eth1 | grep -q LOWER_UP || setup_fail "eth1 (namespace peer) has no carrier"
mark "network ready"

# The command's environment: what run.sh passed (VM_ENV) plus the writable places.
cd "$VM_ROOT" || setup_fail "cannot cd to $VM_ROOT"
env -i "${VM_ENV[@]}" "${VM_CMD[@]}" </dev/null >>"$ctl/stdout" 2>>"$ctl/stderr"
rc=$?
mark "command exited $rc"
dmesg >"$ctl/dmesg" 2>&1
echo "$rc" >"$ctl/status"
