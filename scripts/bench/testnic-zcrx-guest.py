#!/usr/bin/env python3
# Inside a testnic guest (scripts/bench-testnic.sh zcrx boots it): io_uring zero-copy receive against
# the other receive paths, alternating runs in one boot, the same sender (netcat in namespace "peer").
#   testnic-zcrx-guest.py NCDEVMEM IOU_ZCRX KERNEL_IOU_ZCRX ETHTOOL MIB ROUNDS
#     NCDEVMEM         our ncdevmem (NativeAOT): --engine zcrx | devmem, or the copy fallback
#     IOU_ZCRX         our iou-zcrx (NativeAOT)
#     KERNEL_IOU_ZCRX  the kernel's iou-zcrx (tools/testing/selftests/drivers/net/hw/iou-zcrx.c)
#     ETHTOOL          an ethtool that knows tcp-data-split and hds-thresh (the iou-zcrx runs set the NIC up
#                      as iou-zcrx.py does; ncdevmem sets it up itself)
# Prints one line per run:
#   RUN receiver bytes seconds cpu_seconds syscalls buffer_return_syscalls
# cpu_seconds is the receiver's user + system time (wait4). Separately, one run of each receiver under
# strace -f -C prints
#   STRACE receiver bytes syscalls buffer_return_syscalls top-calls...
# and, after the iou-zcrx runs, per receiver: MEDIAN receiver runs median_seconds min max
# buffer returns being setsockopt(SO_DEVMEM_DONTNEED) and io_uring_register(IORING_REGISTER_ZCRX_CTRL)
# calls (a refill flush), counted in strace's own trace lines.
import os, shutil, statistics, subprocess, sys, time

ncdevmem, ours_iou, kernel_iou, ethtool, mib, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
# The receivers run from the guest's tmpfs, as a deployed binary runs from a disk whose pages stay in
# the page cache. From the harness's 9p share each run of a larger binary took major faults (14 per
# run for our iou-zcrx, read back over 9p, inside the timed window; none for the kernel's small tool).
local = "/tmp/zcrx-bench-bin"
os.makedirs(local, exist_ok=True)
ncdevmem = shutil.copy(ncdevmem, f"{local}/ncdevmem")
ours_iou = shutil.copy(ours_iou, f"{local}/ours-iou-zcrx")
kernel_iou = shutil.copy(kernel_iou, f"{local}/kernel-iou-zcrx")
PATTERN = bytes([1, 2, 3, 4, 5, 6, 10])

def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)

def listening(port):
    h = ":%04X " % port
    for f in ("/proc/net/tcp6", "/proc/net/tcp"):
        for line in open(f):
            parts = line.split()
            if h in line and len(parts) > 3 and parts[3] == "0A":
                return True
    return False

def run(server, client, port, env_strace=None):
    """Starts SERVER, waits until it listens on PORT, runs CLIENT, waits for SERVER: (seconds, cpu, rc, err)."""
    cmd = server if env_strace is None else ["strace", "-f", "-C", "-o", env_strace] + server
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not listening(port):
        if srv.poll() is not None or time.monotonic() > deadline:
            out, err = srv.communicate()
            return None, None, srv.returncode, err.decode(errors="replace")[-400:]
        time.sleep(0.005)
    t0 = time.monotonic()
    c = subprocess.run(client, capture_output=True)
    _, status, ru = os.wait4(srv.pid, 0)
    t1 = time.monotonic()
    err = srv.stderr.read().decode(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    if c.returncode != 0:
        err += " client: " + c.stderr.decode(errors="replace")
        rc = rc or c.returncode
    return t1 - t0, ru.ru_utime + ru.ru_stime, rc, err[-400:]

import re
RETURNS = re.compile(r"setsockopt\(\d+, SOL_SOCKET, (SO_DEVMEM_DONTNEED|0x50|80)\b|io_uring_register\(\d+, (IORING_REGISTER_ZCRX_CTRL|0x24|36)\b")

def strace_counts(path):
    """(total syscalls from strace's summary, buffer-return calls from its trace lines, {name: calls})."""
    calls, returns, summary = {}, 0, False
    for line in open(path):
        if line.startswith("% time"):
            summary = True
            continue
        if not summary:
            returns += 1 if RETURNS.search(line) else 0
            continue
        p = line.split()
        if len(p) >= 5 and p[-1] not in ("syscall", "total") and p[3].isdigit():
            calls[p[-1]] = int(p[3])
    return sum(calls.values()), returns, calls

# ---- engines: 256 MiB-class streams through our ncdevmem (devmem sockets, zcrx, copy fallback) ----
sh("ip", "link", "set", "eth0", "mtu", "9000")
sh("ip", "-n", "peer", "link", "set", "eth1", "mtu", "9000")
data = "/tmp/zcrx-bench.in"
with open(data, "wb") as f:
    chunk = PATTERN * (1 << 16)
    left = mib << 20
    while left > 0:
        f.write(chunk[:left])
        left -= len(chunk[:left])

engines = {
    "zcrx": ["--engine", "zcrx", "--provider", "memfd"],
    "devmem": ["--provider", "udmabuf"],
    "copy": ["--provider", "memfd", "--fallback", "copy"],
}
port = 7000
def engine_run(name, strace_path=None):
    global port
    port += 1
    server = [ncdevmem, "-l", "-f", "eth0", "-s", "10.99.0.1", "-p", str(port), "-v", "7", "--json"] + engines[name]
    client = ["sh", "-c", f"ip netns exec peer nc -N 10.99.0.1 {port} < {data}"]
    return run(server, client, port, strace_path)

if mib == 0:
    engines = {}    # MIB 0: only the iou-zcrx comparison below
for name in engines:
    path = f"/tmp/strace-{name}"
    secs, cpu, rc, err = engine_run(name, path)
    if rc != 0:
        print(f"STRACE {name} failed rc={rc}: {err}", flush=True)
        continue
    total, ret, calls = strace_counts(path)
    print(f"STRACE {name} {mib << 20} {total} {ret} " + " ".join(f"{k}={v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:8]), flush=True)

for r in range(rounds):
    for name in engines:
        secs, cpu, rc, err = engine_run(name)
        if rc != 0:
            print(f"RUN {name} failed rc={rc}: {err}", flush=True)
        else:
            print(f"RUN {name} {mib << 20} {secs:.3f} {cpu:.3f}", flush=True)

# ---- iou-zcrx: the kernel's server vs ours, the kernel's client, 2 MiB (its payload buffer's size) ----
sh("ip", "link", "set", "eth0", "mtu", "1500")
sh("ip", "-n", "peer", "link", "set", "eth1", "mtu", "1500")
queues = len([q for q in os.listdir("/sys/class/net/eth0/queues") if q.startswith("rx-")])
target = queues - 1
iport = 9100
sh(ethtool, "-G", "eth0", "tcp-data-split", "on")   # the testnic reports no hds-thresh: 0
sh(ethtool, "-X", "eth0", "equal", str(target))
out = sh(ethtool, "-N", "eth0", "flow-type", "tcp4", "dst-port", str(iport), "action", str(target)).stdout
rule = out.split()[-1] if "ID" in out else None
try:
    servers = {"kernel-iou-zcrx": kernel_iou, "ours-iou-zcrx": ours_iou}
    client = ["ip", "netns", "exec", "peer", kernel_iou, "-c", "-h", "10.99.0.1", "-p", str(iport), "-l", "12840"]
    for name, exe in servers.items():
        path = f"/tmp/strace-{name}"
        secs, cpu, rc, err = run([exe, "-s", "-p", str(iport), "-i", "eth0", "-q", str(target)], client, iport, path)
        if rc == 0:
            total, ret, calls = strace_counts(path)
            print(f"STRACE {name} {2 << 20} {total} {ret} " + " ".join(f"{k}={v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:8]), flush=True)
        else:
            print(f"STRACE {name} failed rc={rc}: {err}", flush=True)
    times = {name: [] for name in servers}
    for r in range(rounds * 3):
        for name, exe in servers.items():
            secs, cpu, rc, err = run([exe, "-s", "-p", str(iport), "-i", "eth0", "-q", str(target)], client, iport)
            if rc != 0:
                print(f"RUN {name} failed rc={rc}: {err}", flush=True)
            else:
                print(f"RUN {name} {2 << 20} {secs:.3f} {cpu:.3f}", flush=True)
                times[name].append(secs)
    # Short runs have a long tail (a delayed ACK, the emulator's host): the median is the comparison.
    for name, t in times.items():
        if t:
            print(f"MEDIAN {name} {len(t)} {statistics.median(t):.3f} {min(t):.3f} {max(t):.3f}", flush=True)
finally:
    if rule:
        sh(ethtool, "-N", "eth0", "delete", rule, check=False)
    sh(ethtool, "-X", "eth0", "default", check=False)
    sh(ethtool, "-G", "eth0", "tcp-data-split", "auto", check=False)
