# shellcheck shell=bash
# Sourced by the Linux hardening lanes (fuzz, sanitizers, valgrind): apt_install PACKAGE...
# One apt at a time on a shared machine (flock); sudo when not root; a fresh machine's empty
# package lists are fetched once if the first try fails.
apt_install() {
    local sudo=()
    command -v apt-get >/dev/null || { echo "needs $* and there is no apt-get" >&2; return 1; }
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing $* with apt-get"
    flock /tmp/apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        { flock /tmp/apt.lock "${sudo[@]}" apt-get update -q >/dev/null &&
            flock /tmp/apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}
