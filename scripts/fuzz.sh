#!/usr/bin/env bash
# scripts/fuzz.sh [long|capture] — the fuzzing that does not fit in CI's time, and the corpus capture.
# Not part of scripts/test.sh, which runs the same fuzz tests at scale 1 (seconds).
#
#   long     (default) the netlink decoder fuzz (FuzzTests), the reply-loop model fuzz (DumpLoopFuzzTests)
#            and the cmsg walk's lying-length property (DevmemControlMessagesTests) with every iteration
#            count multiplied by FUZZ_SCALE (default 50: about a minute per 20 of scale on 2 cores) and a
#            fresh seed for the System.Random passes (FUZZ_SEED, printed; CsCheck draws its own seeds and
#            prints the one that fails).
#   capture  rewrites tests/Devmem.Netlink.Tests/Corpus/*.bin from the running kernel's replies
#            (CorpusCapture; needs root for the network namespace). Update Corpus/README.md with the kernel.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

what=${1:-long}
case "$what" in long | capture) ;; *)
    echo "usage: scripts/fuzz.sh [long|capture]" >&2
    exit 2
    ;;
esac

dotnet build -c Release tests/Devmem.Netlink.Tests >/dev/null
netlink=tests/Devmem.Netlink.Tests/bin/Release/net10.0/Devmem.Netlink.Tests

if [[ $what == capture ]]; then
    DEVMEM_CAPTURE_CORPUS="$root/tests/Devmem.Netlink.Tests/Corpus" "$netlink" -method '*Capture_the_corpus_from_the_running_kernel_when_asked'
    echo "corpus written from kernel $(uname -r): tests/Devmem.Netlink.Tests/Corpus/"
    exit 0
fi

dotnet build -c Release tests/Devmem.Tests >/dev/null
scale=${FUZZ_SCALE:-50}
seed=${FUZZ_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "fuzz: scale $scale, seed $seed"
export DEVMEM_FUZZ_SCALE=$scale DEVMEM_FUZZ_SEED=$seed
"$netlink" -class 'Devmem.Netlink.Tests.FuzzTests' -class 'Devmem.Netlink.Tests.DumpLoopFuzzTests'
tests/Devmem.Tests/bin/Release/net10.0/Devmem.Tests -class 'Devmem.Tests.Receive.DevmemControlMessagesTests'
