#!/usr/bin/env bash
# Prints the path of a metrics server the exporter's end-to-end tests run, fetching it once:
#
#   tests/prometheus/fetch.sh prometheus         Prometheus (scrapes /metrics over TLS + auth)
#   tests/prometheus/fetch.sh victoria-metrics   VictoriaMetrics (receives OTLP pushes)
#
# Both come from Debian 13 (trixie).  Debian builds Prometheus without its OTLP receiver in
# every suite (its changelog: "Disable OTLP Ingestion endpoint"), so the OTLP test pushes to
# VictoriaMetrics, which Debian ships with its OTLP receiver and which answers Prometheus's
# query API.  The packages are downloaded with a private apt configuration (lists, caches and
# the one source line live under the cache folder; the host's apt state is never touched)
# whose archive is this machine's own, read from its apt sources at run time, and unpacked
# with `dpkg -x`.  A warm run finds the unpacked binaries and does nothing else.  Exit 1 saying
# why if they cannot be had.
#
# TCPTABLE_PROMETHEUS_CACHE overrides the cache folder (default ~/.cache/tcptable-prometheus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUITE=trixie
CACHE=${TCPTABLE_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tcptable-prometheus}
PACKAGES=(prometheus victoria-metrics)
RECIPE=1  # bump when the steps below change: the next run fetches anew
root=$CACHE/$SUITE-$RECIPE

die() { echo "tests/prometheus/fetch.sh: $*" >&2; exit 1; }

want=${1:-prometheus}
case " ${PACKAGES[*]} " in
*" $want "*) ;;
*) die "usage: fetch.sh prometheus|victoria-metrics" ;;
esac
if [ -e "$root/.complete" ]; then
    echo "$root/usr/bin/$want"
    exit 0
fi

for tool in apt-get dpkg flock; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
sources=/etc/apt/sources.list.d/debian.sources
[ -e "$sources" ] || sources=/etc/apt/sources.list
[ -e "$sources" ] || die "no apt sources on this machine to take an archive from"
read -r uri keyring < <(python3 "$here/../windows/lane.py" mirror "$sources") \
    || die "no archive in $sources"

work=$CACHE/apt
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/cache" "$work/download"
signed=""
[ "$keyring" = - ] || signed=" [signed-by=$keyring]"
# Written at run time from the machine's configuration; never committed.
echo "deb$signed $uri $SUITE main" >"$work/sources.list"
apt_options=(
    -o "Dir::Etc::sourcelist=$work/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o "Dir::Cache::Archives=$work/archives"
    -o "APT::Architecture=amd64"
    -o "APT::Architectures=amd64"
    -q
)
log=$work/fetch.log
: >"$log"
timeout 600 flock /tmp/apt.lock apt-get "${apt_options[@]}" update >>"$log" 2>&1 \
    || die "apt-get update of $SUITE failed: $(tail -n 3 "$log" | tr '\n' ' ')"
rm -f "$work/download"/*.deb
# apt's sandbox user cannot write into root's cache folder: download as the caller.
(cd "$work/download" && timeout 600 apt-get "${apt_options[@]}" \
    -o APT::Sandbox::User=root download "${PACKAGES[@]}") >>"$log" 2>&1 \
    || die "apt-get download ${PACKAGES[*]} ($SUITE) failed: $(tail -n 3 "$log" | tr '\n' ' ')"
rm -rf "$root.part" "$root" && mkdir -p "$root.part"
for package in "${PACKAGES[@]}"; do
    deb=$(ls "$work/download/${package}"_*.deb)
    # Only the server itself is kept (the packages also hold tools the tests do not run).
    dpkg -x "$deb" "$root.part/unpacked" || die "dpkg -x $deb failed"
    install -D -m 755 "$root.part/unpacked/usr/bin/$package" "$root.part/usr/bin/$package"
    rm -rf "$root.part/unpacked"
    "$root.part/usr/bin/$package" --version >>"$log" 2>&1 \
        || die "the $SUITE $package does not run on this host: $(tail -n 3 "$log" | tr '\n' ' ')"
done
touch "$root.part/.complete"
mv "$root.part" "$root"
# Only the unpacked root is kept: the lists and packages are fetched anew if it ever must be.
rm -rf "${work:?}" "${CACHE:?}/$SUITE"
echo "$root/usr/bin/$want"
