#!/usr/bin/env bash
# NuGet packages: `dotnet pack` at the root makes exactly the library packages (Devmem, Devmem.Interop;
# Devmem.Hosting once src/Hosting exists), each with its .snupkg, readme and metadata; a fresh console project outside
# the repository, which sees nothing of it but those packages, adds them with `dotnet add package`,
# publishes with PublishAot and TreatWarningsAsErrors, and its native binary receives 256 MiB over
# loopback in the copy fallback, validated, and runs the doctor (scripts/checks/package-consumer).
#   scripts/checks/package.sh RESULTFILE
# Appends "FAILED PASSED SKIPPED label" lines to RESULTFILE (see scripts/test.sh). 35-85 s after a
# build, about 2 minutes from a fresh clone, on the shared 2-core machine (docs/design.md "NuGet packages").
set -uo pipefail

out=${1:?usage: package.sh RESULTFILE}
root=$(cd "$(dirname "$0")/../.." && pwd)
export DEVMEM_ROOT=${DEVMEM_ROOT:-$root} DEVMEM_CACHE=${DEVMEM_CACHE:-$root/.cache}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# shellcheck source=../lib/prereqs.sh
source "$root/scripts/lib/prereqs.sh"

start=$(date +%s)
log() { printf '[package %4ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }
fail() { echo "1 0 0 package $*" >>"$out"; }
pass() { echo "0 1 0 package $*" >>"$out"; }

# The NativeAOT toolchain links with the system compiler against glibc and zlib.
ensure_apt gcc libc6-dev zlib1g-dev unzip || { fail "cannot install gcc libc6-dev zlib1g-dev unzip (the NativeAOT linker, reading packages)"; exit 1; }

# Outside the repository (and outside /work, whose other checkouts have their own Directory.Build.props):
# nothing of the repository's build settings may reach the consumer's restore or build.
work=$(mktemp -d /tmp/devmem-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
for d in "$work" /tmp /; do
    for f in Directory.Build.props Directory.Build.targets Directory.Packages.props nuget.config NuGet.Config; do
        if [ -e "$d/$f" ] && [ "$d" != "$work" ]; then
            fail "consumer: $d/$f exists above the consumer's folder $work and would change its build; remove it"
            exit 1
        fi
    done
done

# The one version (Directory.Build.props).
version=$(dotnet msbuild "$root/src/Devmem/Devmem.csproj" -nologo -getProperty:PackageVersion 2>/dev/null | tr -d '[:space:]')
if [ -z "$version" ]; then
    fail "cannot read PackageVersion from src/Devmem/Devmem.csproj"
    exit 1
fi

# --- pack at the root ---------------------------------------------------------------------------
expected=(Devmem Devmem.Interop)
[ -f "$root/src/Hosting/Devmem.Hosting.csproj" ] && expected+=(Devmem.Hosting)
feed=$work/feed
log "dotnet pack (Release) at the root, version $version"
if ! (cd "$root" && dotnet pack -c Release -o "$feed" -nologo -clp:NoSummary) >"$work/pack.log" 2>&1; then
    fail "dotnet pack failed: $(grep -E ' (error|warning) ' "$work/pack.log" | sort -u | head -n 3 | tr '\n' ' ')"
    tail -n 20 "$work/pack.log" >&2
    exit 1
fi
made=$(cd "$feed" && ls -1 | sort | tr '\n' ' ')
want=$(for p in "${expected[@]}"; do printf '%s.%s.nupkg\n%s.%s.snupkg\n' "$p" "$version" "$p" "$version"; done | sort | tr '\n' ' ')
if [ "$made" = "$want" ]; then
    pass "pack: dotnet pack at the root made exactly ${made% } (no sample, test or bench package)"
else
    fail "pack: dotnet pack at the root made '${made% }', expected '${want% }'"
fi

# --- each package's contents and metadata -------------------------------------------------------
for p in "${expected[@]}"; do
    pkg=$feed/$p.$version.nupkg
    [ -f "$pkg" ] || continue
    files=$(unzip -Z1 "$pkg")
    nuspec=$(unzip -p "$pkg" "$p.nuspec" | tr -d '\r')
    problems=()
    need=("lib/net10.0/$p.dll" "lib/net10.0/$p.xml" README.md)
    for f in "${need[@]}"; do grep -qxF "$f" <<<"$files" || problems+=("no $f"); done
    grep -q '\.pdb$' <<<"$files" && problems+=("a .pdb in the .nupkg (symbols belong in the .snupkg)")
    syms=$(unzip -Z1 "$feed/$p.$version.snupkg" 2>/dev/null)
    grep -qxF "lib/net10.0/$p.pdb" <<<"$syms" || problems+=("no lib/net10.0/$p.pdb in the .snupkg")
    grep -q '<readme>README.md</readme>' <<<"$nuspec" || problems+=("no <readme>")
    grep -q '<license type="expression">MIT</license>' <<<"$nuspec" || problems+=("no MIT licence expression")
    grep -qE '<description>.{80,}</description>' <<<"$nuspec" || problems+=("no real description")
    grep -qE '<tags>[^<]*devmem[^<]*</tags>' <<<"$nuspec" || problems+=("no tags")
    grep -qE '<repository type="git"[^>]* commit="[0-9a-f]{40}"' <<<"$nuspec" || problems+=("no repository commit")
    [ "$(grep -c '\.dll$' <<<"$files")" = 1 ] || problems+=("more than its own assembly")
    case $p in
        Devmem) deps=(Devmem.Interop Microsoft.Extensions.Logging.Abstractions) ;;
        Devmem.Interop) deps=(Tmds.LibC) ;;
        Devmem.Hosting) deps=(Devmem) ;;
    esac
    for d in "${deps[@]}"; do grep -q "dependency id=\"$d\"" <<<"$nuspec" || problems+=("no dependency on $d"); done
    # Devmem calls Devmem.Interop's internals: exactly its own version ([0.1.0]), not a minimum.
    if [ "$p" = Devmem ] && ! grep -q "dependency id=\"Devmem.Interop\" version=\"\[$version\]\"" <<<"$nuspec"; then
        problems+=("its Devmem.Interop dependency is not exactly [$version]")
    fi
    if [ "$p" = Devmem.Hosting ] && ! grep -qE "dependency id=\"Devmem\" version=\"\[?$version\]?\"" <<<"$nuspec"; then
        problems+=("its Devmem dependency is not version $version")
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        pass "contents: $p $version has lib/net10.0/$p.dll and XML docs, README.md, its .pdb in the .snupkg, description, tags, MIT, commit, dependencies ${deps[*]}"
    else
        fail "contents: $p $version: $(IFS=';'; echo "${problems[*]}")"
    fi
done

# --- the consumer -------------------------------------------------------------------------------
# Its own nuget.config: the local feed (only for Devmem*) and the sources restore uses on this machine
# (user/machine NuGet.Config), its own global packages folder so a Devmem of the same version restored
# before is never used. The user's packages folder serves as a read-only fallback for everything else
# (runtime and ILCompiler packs), unless a Devmem package of this version sits in it.
app=$work/consumer
mkdir -p "$app"
sources=$(cd "$work" && dotnet nuget list source --format short 2>/dev/null | awk '$1 == "E" { print $2 }')
[ -n "$sources" ] || sources=https://api.nuget.org/v3/index.json
user_packages=${NUGET_PACKAGES:-$HOME/.nuget/packages}
unset NUGET_PACKAGES
fallback=""
if [ -d "$user_packages" ] && [ ! -e "$user_packages/devmem/$version" ] && [ ! -e "$user_packages/devmem.interop/$version" ] &&
        [ ! -e "$user_packages/devmem.hosting/$version" ]; then
    fallback="<fallbackPackageFolders><add key=\"user\" value=\"$user_packages\" /></fallbackPackageFolders>"
fi
{
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<configuration>'
    echo "  <config><add key=\"globalPackagesFolder\" value=\"$work/packages\" /></config>"
    echo "  $fallback"
    echo '  <packageSources>'
    echo '    <clear />'
    echo "    <add key=\"devmem-local\" value=\"$feed\" />"
    i=0; for s in $sources; do i=$((i + 1)); echo "    <add key=\"source$i\" value=\"$s\" />"; done
    echo '  </packageSources>'
    echo '  <packageSourceMapping>'
    echo '    <packageSource key="devmem-local"><package pattern="Devmem" /><package pattern="Devmem.*" /></packageSource>'
    i=0; for s in $sources; do i=$((i + 1)); echo "    <packageSource key=\"source$i\"><package pattern=\"*\" /></packageSource>"; done
    echo '  </packageSourceMapping>'
    echo '</configuration>'
} >"$app/nuget.config"

log "consumer: dotnet new console, dotnet add package Devmem --version $version"
if ! (cd "$app" && dotnet new console -n DevmemConsumer -o . --force &&
        cp "$root/scripts/checks/package-consumer/Program.cs" Program.cs &&
        dotnet add package Devmem --version "$version") >"$work/consumer.log" 2>&1; then
    fail "consumer: dotnet new console / dotnet add package Devmem --version $version failed: $(grep -E '(error|warn)' "$work/consumer.log" | head -n 3 | tr '\n' ' ')"
    tail -n 20 "$work/consumer.log" >&2
    exit 1
fi
hosting="not covered: no Devmem.Hosting package in the feed"
if [ -f "$feed/Devmem.Hosting.$version.nupkg" ]; then
    # The Generic Host itself, at the version the repository's tests use.
    mehosting=$(grep -oP '"Microsoft.Extensions.Hosting" Version="\K[^"]+' "$root/Directory.Packages.props" || echo 10.0.12)
    log "consumer: dotnet add package Devmem.Hosting --version $version"
    if (cd "$app" && dotnet add package Devmem.Hosting --version "$version" &&
            dotnet add package Microsoft.Extensions.Hosting --version "$mehosting" &&
            cp "$root/scripts/checks/package-consumer/Hosting.cs" Hosting.cs &&
            sed -i 's|</Project>|  <PropertyGroup><DefineConstants>$(DefineConstants);DEVMEM_HOSTING</DefineConstants></PropertyGroup>\n</Project>|' DevmemConsumer.csproj) \
            >>"$work/consumer.log" 2>&1; then
        hosting="covered: Devmem.Hosting $version added, its host run on lo"
    else
        fail "consumer: dotnet add package Devmem.Hosting --version $version failed: $(grep -E '(error|warn)' "$work/consumer.log" | tail -n 3 | tr '\n' ' ')"
        hosting="not covered: adding it failed"
    fi
fi

grep -q '^covered' <<<"$hosting" || echo "0 0 1 package consumer: Devmem.Hosting $hosting" >>"$out"

# The Devmem packages the consumer restored are the ones just packed, from the local feed.
restored_ids=(Devmem Devmem.Interop)
grep -q '^covered' <<<"$hosting" && restored_ids+=(Devmem.Hosting)
for p in "${restored_ids[@]}"; do
    lower=$(tr '[:upper:]' '[:lower:]' <<<"$p")
    restored=$work/packages/$lower/$version/$lower.$version.nupkg
    if [ -f "$restored" ] && cmp -s "$restored" "$feed/$p.$version.nupkg"; then
        pass "consumer: restored $p $version from the local feed, byte for byte the package just made"
    else
        fail "consumer: the restored $p $version is not the package just made (looked for $restored)"
    fi
done

log "consumer: dotnet publish (PublishAot, TreatWarningsAsErrors)"
if ! (cd "$app" && dotnet publish -c Release -r linux-x64 -p:PublishAot=true -p:TreatWarningsAsErrors=true \
        -o "$work/bin" -nologo -clp:NoSummary) >"$work/publish.log" 2>&1; then
    fail "consumer: dotnet publish with PublishAot failed: $(grep -E ' (error|warning) ' "$work/publish.log" | sed 's/ \[.*\]$//' | sort -u | head -n 3 | tr '\n' ' ')"
    tail -n 20 "$work/publish.log" >&2
    exit 1
fi
warnings=$(grep -E '(: | analysis )warning [A-Z]+[0-9]+' "$work/publish.log" | sed 's/ \[.*\]$//' | sort -u)
bin=$work/bin/DevmemConsumer
if [ -n "$warnings" ]; then
    fail "consumer: $(wc -l <<<"$warnings") publish warning(s): $(head -n 3 <<<"$warnings" | tr '\n' ' ')"
elif [ ! -x "$bin" ] || [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" != '177ELF' ]; then
    fail "consumer: no native ELF executable at $bin"
    exit 1
else
    pass "consumer: published with PublishAot and TreatWarningsAsErrors, no warning, native binary $(stat -c %s "$bin") bytes"
fi

log "consumer: run (256 MiB over lo, the doctor)"
run=$(cd "$work" && timeout 180 "$bin" 2>&1); rc=$?
printf '%s\n' "$run" | grep -v '^doctor: \(host\|lo\) ' >&2
total=$((256 << 20))
missing=()
for line in "^consumer: Devmem $version\\+[0-9a-f]{40}\$" '^setup: copy fallback \(NoParentDevice\): ' \
        "^receive: $total of $total bytes in [0-9]+ fragments into [A-Za-z]+ memory, 0 linear bytes, 0 tokens outstanding\$" \
        "^validation: ok, $total bytes match the ncdevmem pattern" '^doctor: kernel [^;]+; devmem RX possible on lo: no$' \
        '^doctor: host [A-Za-z]+ kernel: ' '^doctor: lo Fail ' '^doctor: JSON report of [0-9]+ characters, schema 1$'; do
    grep -qE "$line" <<<"$run" || missing+=("$line")
done
if grep -q '^covered' <<<"$hosting"; then
    grep -q '^hosting: ok$' <<<"$run" || missing+=('^hosting: ok$')
fi
if [ "$rc" = 0 ] && [ ${#missing[@]} -eq 0 ]; then
    pass "consumer: the native binary received 256 MiB over lo in the copy fallback, validated, all released; the doctor ran (lo: not possible, as it must be)"
    if grep -q '^covered' <<<"$hosting"; then
        pass "consumer: Devmem.Hosting: a Generic Host with AddDevmemReceiver on lo received 64 MiB, validated by the handler, health Degraded, stopped cleanly"
    fi
else
    fail "consumer: the native binary exited $rc; missing output: ${missing[*]:-none}; $(grep -E 'FAILED|consumer: [A-Z]' <<<"$run" | head -n 2 | tr '\n' ' ')"
fi

# The same binary with one byte flipped by its sender: validation must catch it.
run=$(cd "$work" && timeout 180 "$bin" --corrupt 2>&1); rc=$?
corrupt_at=$(((100 << 20) + 3))
if [ "$rc" = 1 ] && grep -q "^Failed validation: expected=[0-9]*, actual=[0-9]*, stream offset=$corrupt_at\$" <<<"$run" &&
        grep -q '^validation: FAILED, 1 mismatch' <<<"$run"; then
    pass "consumer: one byte flipped by the sender at offset $corrupt_at fails validation there (exit 1)"
else
    fail "consumer: with --corrupt the binary exited $rc (expected 1 and a validation failure at offset $corrupt_at): $(grep -E 'ailed|FAILED' <<<"$run" | head -n 2 | tr '\n' ' ')"
fi

log "done"
