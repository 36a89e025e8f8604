# shellcheck shell=bash
# The Windows lane's Wine: Debian trixie's Wine 10 (wine, wine64, wine32:i386 for classic
# WoW64) in a root that debootstrap builds once under the lane's cache.  Sourced by run.sh,
# which holds the cache lock while build_root runs.  The host's /etc is never changed and the
# host's own Wine, if any, is never used.
#
# The archive comes from this machine's apt configuration at run time; no host name is written
# into the root either (its apt sources and lists are deleted once Wine is installed).

ROOT_SUITE=trixie
ROOT_PACKAGES=(wine wine64 wine32:i386)
ROOT_RECIPE=1  # bump when the steps below change: the next run builds a fresh root

root_dir() {
    echo "$CACHE/root-$ROOT_SUITE-$(printf '%s\n' "$ROOT_RECIPE" "${ROOT_PACKAGES[@]}" | sha256sum | cut -c1-12)"
}

# Run a command chrooted in the root being built, in a mount namespace of its own: proc, dev
# and sys are mounted there only, and vanish with the namespace.
root_exec() {
    local root=$1; shift
    # shellcheck disable=SC2016  # expanded by the child shell, not this one
    unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
            mount --rbind /sys "$root/sys" || exit 1
        exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
            PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"' \
        sh "$root" "$@"
}

build_root() {
    local root=$1 part=$1.part sources uri keyring log=$CACHE/root-build.log
    [ -e "$root/.complete" ] && return 0
    sources=/etc/apt/sources.list.d/debian.sources
    [ -e "$sources" ] || sources=/etc/apt/sources.list
    [ -e "$sources" ] || die "cannot build the Wine root: no apt sources on this machine to take a mirror from"
    read -r uri keyring < <("$HOST_PYTHON" "$LANE_PY" mirror "$sources") \
        || die "cannot build the Wine root: no mirror in $sources"
    local keyring_opt=()
    [ "$keyring" = - ] || keyring_opt=(--keyring="$keyring")
    say "building the Wine root ($ROOT_SUITE: ${ROOT_PACKAGES[*]}) in $root; log: $log"
    rm -rf "$part" "$root" && mkdir -p "$part"
    : >"$log"
    # debootstrap mounts proc and sys in the target itself: a namespace of its own keeps even a
    # failed run from leaving them mounted on the host.
    timeout 900 unshare --mount --propagation private -- debootstrap --variant=minbase --arch=amd64 "${keyring_opt[@]}" \
        "$ROOT_SUITE" "$part" "$uri" >>"$log" 2>&1 \
        || die "cannot build the Wine root: debootstrap $ROOT_SUITE failed (last lines of $log: $(tail -n 3 "$log" | tr '\n' ' '))"
    # debootstrap wrote the archive into the root's sources.list; the root keeps it only while
    # apt runs here.
    root_exec "$part" /bin/sh -c "set -e
        dpkg --add-architecture i386
        apt-get -q update
        apt-get -q install -y --no-install-recommends ${ROOT_PACKAGES[*]}
        apt-get clean
        rm -rf /var/lib/apt/lists/* /etc/apt/sources.list /etc/apt/sources.list.d/*" >>"$log" 2>&1 \
        || die "cannot build the Wine root: installing ${ROOT_PACKAGES[*]} failed (last lines of $log: $(tail -n 3 "$log" | tr '\n' ' '))"
    [ -x "$part/usr/lib/wine/wine64" ] && [ -x "$part/usr/lib/wine/wine" ] \
        || die "cannot build the Wine root: no /usr/lib/wine/wine64 and /usr/lib/wine/wine after the install"
    touch "$part/.complete"
    mv "$part" "$root"
    say "Wine root ready: $(du -sh "$root" | cut -f1)"
}
