# Sourced by the test lanes that need Debian packages: apt_install PACKAGE...
# One apt at a time on a shared machine (flock); a fresh machine's empty package lists are
# fetched once if the first try finds nothing.
apt_install() {
    command -v apt-get >/dev/null || { echo "needs $* and there is no apt-get" >&2; return 1; }
    echo "installing $* with apt-get"
    flock /tmp/apt.lock timeout 600 apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        { flock /tmp/apt.lock timeout 300 apt-get update -q >/dev/null &&
          flock /tmp/apt.lock timeout 600 apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}
