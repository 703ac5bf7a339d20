#!/usr/bin/env bash
# NativeAOT: both CLIs (samples/ncdevmem, samples/devmem-info) publish with PublishAot=true, zero
# trim/AOT warnings, a native binary of at most 12 MiB whose --help exits 0.
#   scripts/checks/aot.sh RESULTFILE
# Appends "FAILED PASSED SKIPPED label" lines to RESULTFILE (see scripts/test.sh). --help is not
# timed here (a timing on a shared 2-core machine would make the check flaky); docs/performance.md
# has the hyperfine measurement and the command that made it.
set -uo pipefail

out=${1:?usage: aot.sh RESULTFILE}
root=$(cd "$(dirname "$0")/../.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
# shellcheck source=../lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"

max_bytes=$((12 * 1024 * 1024))
start=$(date +%s)
log() { printf '[aot %4ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }

# The NativeAOT toolchain links with the system compiler (clang, else gcc) against glibc.
ensure_apt gcc libc6-dev zlib1g-dev || { echo "1 0 0 aot: cannot install gcc libc6-dev zlib1g-dev (the NativeAOT linker)" >>"$out"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/devmem-aot.XXXXXX")
trap 'rm -rf "$work"' EXIT

for cli in ncdevmem devmem-info; do
    log "$cli: dotnet publish (PublishAot)"
    # An up-to-date publish re-emits no warning, so start the CLI's RID-specific build afresh: its
    # compile and the NativeAOT compiler (whose "Trim/AOT analysis warning"s cover every assembly it
    # compiles) run again. The libraries' own analyzer warnings fail their ordinary build already
    # (TreatWarningsAsErrors, IsAotCompatible).
    rm -rf "$root/samples/$cli/obj/Release/net10.0/linux-x64" "$root/samples/$cli/bin/Release/net10.0/linux-x64"
    # The one publish command (README "Native binaries"). Restore and build are part of it, so the
    # warnings of every project the CLI pulls in are seen; -warnaserror is not added: a warning must
    # be reported as one, by name.
    if ! dotnet publish "$root/samples/$cli" -c Release -r linux-x64 -p:PublishAot=true -o "$work/$cli" \
            -nologo -clp:NoSummary >"$work/$cli.log" 2>&1; then
        echo "1 0 0 aot $cli: dotnet publish failed: $(grep -E ' (error|warning) ' "$work/$cli.log" | head -n 3 | tr '\n' ' ')" >>"$out"
        tail -n 20 "$work/$cli.log" >&2
        continue
    fi
    # Trim analysis (IL2xxx), AOT analysis (IL3xxx) and any other warning on the way.
    warnings=$(grep -E '(: | analysis )warning [A-Z]+[0-9]+' "$work/$cli.log" | sed 's/ \[.*\]$//' | sort -u)
    if [ -n "$warnings" ]; then
        echo "1 0 0 aot $cli: $(wc -l <<<"$warnings") publish warning(s): $(head -n 3 <<<"$warnings" | tr '\n' ' ')" >>"$out"
        printf '%s\n' "$warnings" >&2
    else
        echo "0 1 0 aot $cli: published with PublishAot and no trim/AOT warning" >>"$out"
    fi

    bin=$work/$cli/$cli
    if [ ! -x "$bin" ] || [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" != '177ELF' ]; then
        echo "1 0 0 aot $cli: no native ELF executable at $bin" >>"$out"
        continue
    fi
    size=$(stat -c %s "$bin")
    if [ "$size" -le "$max_bytes" ]; then
        echo "0 1 0 aot $cli: native binary $size bytes (limit $max_bytes)" >>"$out"
    else
        echo "1 0 0 aot $cli: native binary $size bytes, over the limit of $max_bytes (12 MiB)" >>"$out"
    fi

    # No managed runtime next to it: the binary must run on its own.
    help=$(timeout 30 "$bin" --help 2>&1); rc=$?
    if [ "$rc" = 0 ] && grep -q '^Usage: ' <<<"$help"; then
        echo "0 1 0 aot $cli: native --help exits 0 and prints the usage" >>"$out"
    else
        echo "1 0 0 aot $cli: native --help exited $rc: $(head -n 2 <<<"$help" | tr '\n' ' ')" >>"$out"
    fi
done
log "done"
