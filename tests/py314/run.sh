#!/usr/bin/env bash
# The CPython 3.14 lane: the whole Linux suite on Debian sid's python3.14, from the abi3 wheel
# this machine's Python builds, in a root that debootstrap builds once under the cache (as the
# Windows lane does for Wine).  The wheel and the test dependencies' cp314 wheels are fetched
# on the host with pip and installed in the root with --no-index, so the root itself never
# needs an index; sid's own packages bring the interpreter and the tools the tests drive
# (ss from iproute2, tmux, Prometheus, a C compiler for the benchmark floor).
#
#   tests/py314/run.sh              build (or reuse) the root, then the suite under 3.14
#   tests/py314/run.sh -- ARGS...   pytest ARGS instead of the whole suite
#
# Exit status: 0 all passed; 77 the lane cannot run here (not x86-64 Linux, not root, no
# debootstrap to be had); anything else a failure.  Cached in $TCPTABLE_PY314_CACHE (default
# ~/.cache/tcptable-py314): a warm run rebuilds nothing.
set -euo pipefail

ROOT_SUITE=sid
PYTHON_VERSION=3.14
ROOT_PACKAGES=(python3.14 python3.14-venv iproute2 tmux prometheus gcc libc6-dev procps)
ROOT_RECIPE=1  # bump when the steps below change: the next run builds a fresh root

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${TCPTABLE_PY314_CACHE:-$HOME/.cache/tcptable-py314}
OUT=$REPO/build/py314-lane
HOST_PYTHON=${PYTHON:-python3}

say() { echo "[py314-lane $(date +%H:%M:%S)] $*"; }
die() { say "FAILED: $*" >&2; exit 1; }
cannot_run() { say "cannot run here: $*" >&2; exit 77; }

pytest_args=()
if [ "${1:-}" = -- ]; then
    shift
    pytest_args=("$@")
fi

[ "$(uname -m)" = x86_64 ] || cannot_run "the lane needs an x86-64 Linux host (this is $(uname -m))"
[ "$(id -u)" = 0 ] || cannot_run "the lane needs root (debootstrap, chroot, mount namespaces)"
if ! command -v debootstrap >/dev/null; then
    # shellcheck source=tests/apt_install.sh
    . "$REPO/tests/apt_install.sh"
    apt_install debootstrap || cannot_run "could not install debootstrap with apt-get"
fi

mkdir -p "$CACHE" "$OUT"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "another 3.14 lane run holds $CACHE/.lock"

ROOT=$CACHE/root-$ROOT_SUITE-$(printf '%s\n' "$ROOT_RECIPE" "${ROOT_PACKAGES[@]}" | sha256sum | cut -c1-12)

# Run a command chrooted in the root, in a mount namespace of its own: the root bound on itself
# (so that its / is a mount point, as `ip netns add` needs), proc, dev, sys, a fresh /tmp, the
# repository, this lane's cache and the metrics servers the exporter's tests fetch (bound at
# their host paths, so every path means the same inside and out) are mounted there only and
# vanish with the namespace.
METRICS_CACHE=${TCPTABLE_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tcptable-prometheus}
in_root() {
    mkdir -p "$METRICS_CACHE"
    # shellcheck disable=SC2016 # the inner shell expands its own positional parameters
    timeout --kill-after=10 "${LIMIT:-1800}" unshare --mount --propagation private -- /bin/sh -c '
        root=$1 repo=$2 cache=$3 metrics=$4; shift 4
        mount --bind "$root" "$root" &&
            mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
            mount --rbind /sys "$root/sys" && mount -t tmpfs -o mode=1777 tmpfs "$root/tmp" &&
            mkdir -p "$root$repo" "$root$cache" "$root$metrics" &&
            mount --bind "$repo" "$root$repo" && mount --bind "$cache" "$root$cache" &&
            mount --bind "$metrics" "$root$metrics" || exit 1
        exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 CI="${CI:-}" \
            TCPTABLE_PROMETHEUS_CACHE="$metrics" \
            PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"' \
        sh "$ROOT" "$REPO" "$CACHE" "$METRICS_CACHE" "$@"
}

build_root() {
    local part=$ROOT.part sources uri keyring log=$CACHE/root-build.log keyring_opt=()
    [ -e "$ROOT/.complete" ] && return 0
    sources=/etc/apt/sources.list.d/debian.sources
    [ -e "$sources" ] || sources=/etc/apt/sources.list
    [ -e "$sources" ] || die "no apt sources on this machine to take a mirror from"
    # The archive of this machine's own apt configuration, read at run time.
    read -r uri keyring < <("$HOST_PYTHON" "$REPO/tests/windows/lane.py" mirror "$sources") \
        || die "no mirror in $sources"
    [ "$keyring" = - ] || keyring_opt=(--keyring="$keyring")
    say "building the $ROOT_SUITE root (${ROOT_PACKAGES[*]}) in $ROOT; log: $log"
    rm -rf "$part" "$ROOT" && mkdir -p "$part"
    : >"$log"
    timeout 900 unshare --mount --propagation private -- debootstrap --variant=minbase \
        --arch=amd64 "${keyring_opt[@]}" "$ROOT_SUITE" "$part" "$uri" >>"$log" 2>&1 \
        || die "debootstrap $ROOT_SUITE failed (last lines of $log: $(tail -n 3 "$log" | tr '\n' ' '))"
    # debootstrap wrote the archive into the root's sources.list; it stays only while apt runs.
    # The archive this machine reaches may be a dated copy, whose sid Release file is past its
    # Valid-Until: the signature is still checked, the date is not.
    # shellcheck disable=SC2016 # the inner shell expands its own positional parameters
    timeout 900 unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
            mount --rbind /sys "$root/sys" || exit 1
        exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
            PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive /bin/sh -c "$1"' \
        sh "$part" "set -e
            apt-get -q -o Acquire::Check-Valid-Until=false update
            apt-get -q install -y --no-install-recommends ${ROOT_PACKAGES[*]}
            apt-get clean
            rm -rf /var/lib/apt/lists/* /etc/apt/sources.list /etc/apt/sources.list.d/*" >>"$log" 2>&1 \
        || die "installing ${ROOT_PACKAGES[*]} failed (last lines of $log: $(tail -n 3 "$log" | tr '\n' ' '))"
    [ -x "$part/usr/bin/python$PYTHON_VERSION" ] || die "no python$PYTHON_VERSION in the root after the install"
    touch "$part/.complete"
    mv "$part" "$ROOT"
    say "root ready: $(du -sh "$ROOT" | cut -f1)"
}

build_root
root_python=$(in_root "/usr/bin/python$PYTHON_VERSION" -c 'import sys; print(sys.version.split()[0])') \
    || die "python$PYTHON_VERSION does not run in the root"
say "root interpreter: CPython $root_python ($ROOT_SUITE)"

# ---------------------------------------------------------------- wheels, on the host
# The package's abi3 wheel, built by this machine's Python: the same file a 3.9 user gets.
rm -rf "$OUT/dist" && mkdir -p "$OUT/dist"
timeout 600 "$HOST_PYTHON" -m pip wheel -q --no-deps -w "$OUT/dist" "$REPO" >"$OUT/wheel.log" 2>&1 \
    || die "building the wheel failed: $(tail -n 5 "$OUT/wheel.log")"
WHEEL=$(find "$OUT/dist" -name 'tcptable-*-abi3-*.whl' | head -n 1)
[ -n "$WHEEL" ] || die "the wheel is not tagged abi3: $(ls "$OUT/dist")"
say "wheel: $(basename "$WHEEL")"

# The test extra's dependencies as cp314 manylinux wheels, read from pyproject.toml.
mapfile -t deps < <("$HOST_PYTHON" - "$REPO/pyproject.toml" "$PYTHON_VERSION" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"^test = \[(.*?)^\]", text, re.S | re.M).group(1)
for line in block.splitlines():
    line = line.strip().rstrip(",")
    if line.startswith('"'):
        spec = line.strip('"')
        # Markers that exclude this interpreter (e.g. matplotlib below 3.14) stay out.
        if ";" in spec:
            name, marker = spec.split(";", 1)
            from packaging.markers import Marker
            env = {"python_version": sys.argv[2], "sys_platform": "linux",
                   "platform_machine": "x86_64", "implementation_name": "cpython"}
            if not Marker(marker).evaluate(env):
                continue
            spec = name.strip()
        print(spec)
print("cffi>=2.0")
EOF
) || die "could not read the test dependencies from pyproject.toml"
WHEELS=$CACHE/wheels-cp${PYTHON_VERSION/./}
stamp=$WHEELS/.$(printf '%s\n' "${deps[@]}" | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
    say "pip download (cp${PYTHON_VERSION/./}, manylinux x86_64): ${deps[*]}"
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    timeout 900 "$HOST_PYTHON" -m pip download -q --only-binary=:all: --dest "$WHEELS" \
        --python-version "$PYTHON_VERSION" --implementation cp --abi "cp${PYTHON_VERSION/./}" \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform linux_x86_64 \
        "${deps[@]}" pip >"$OUT/download.log" 2>&1 \
        || die "pip download failed: $(tail -n 5 "$OUT/download.log")"
    touch "$stamp"
fi

# ---------------------------------------------------------------- the suite, in the root
# A fresh venv each run under the build folder, so an old install never answers for the wheel.
VENV=$OUT/venv
rm -rf "$VENV"
in_root "/usr/bin/python$PYTHON_VERSION" -m venv --without-pip "$VENV" || die "venv failed"
pip_wheel=$(find "$WHEELS" -name 'pip-*.whl' | head -n 1)
LIMIT=600 in_root "$VENV/bin/python" "$pip_wheel/pip" install -q --no-index \
    --disable-pip-version-check --find-links "$WHEELS" "$WHEEL" "${deps[@]}" >"$OUT/install.log" 2>&1 \
    || die "installing the wheel and the test dependencies in the root failed: $(tail -n 5 "$OUT/install.log")"

[ ${#pytest_args[@]} -gt 0 ] || pytest_args=(tests -p no:cacheprovider --ignore=tests/test_release.py -q -rs)
say "pytest under CPython $root_python: ${pytest_args[*]}"
# The pytest script, not `python -m pytest`: -m would put the repository (the current
# directory) first on sys.path, and its source tree would shadow the installed wheel.
# require_installed (a plugin beside this script) fails the session unless tcptable comes from
# the wheel installed in the venv.
# PYTHONSAFEPATH: the tests' own `python -c` children must not import the source tree either.
in_root /usr/bin/env --chdir="$REPO" PYTHONDONTWRITEBYTECODE=1 PYTHONSAFEPATH=1 PYTHONPATH="$REPO/tests/py314" \
    "$VENV/bin/pytest" -p require_installed "${pytest_args[@]}"
