#!/usr/bin/env bash
# Prints the command line of the kernel's own YNL CLI for a generic netlink family, from the newest
# Debian linux-source package (tools/net/ynl/pyynl/cli.py with Documentation/netlink/specs/FAMILY.yaml),
# fetched into the cache on first use:
#   scripts/ynl.sh [FAMILY]          FAMILY defaults to netdev
#   $(scripts/ynl.sh) --dump queue-get --output-json
# --no-schema skips the spec's JSON-schema check (python3-jsonschema is not needed). Needs python3-yaml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
family=${1:-netdev}
# shellcheck source=lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"
# shellcheck source=lib/debian.sh
source "$root/scripts/lib/debian.sh"
# shellcheck source=lib/kernel-source.sh
source "$root/scripts/lib/kernel-source.sh"
ensure_apt python3 python3-yaml >&2
tree=$(kernel_source newest tools/net/ynl Documentation/netlink/specs) || { echo "ynl.sh: could not fetch the kernel source" >&2; exit 1; }
spec=$tree/Documentation/netlink/specs/$family.yaml
[ -f "$spec" ] || { echo "ynl.sh: no spec $spec" >&2; exit 1; }
echo "python3 $tree/tools/net/ynl/pyynl/cli.py --no-schema --spec $spec"
