"""Containers: which container a process runs in, from its cgroup path (Linux).

A container runtime puts each container's processes in a cgroup named after the container:

- docker: ``.../docker-<id>.scope`` (systemd driver) or ``/docker/<id>`` (cgroupfs);
- containerd under Kubernetes: ``.../cri-containerd-<id>.scope``;
- CRI-O: ``.../crio-<id>.scope``;
- podman: ``.../libpod-<id>.scope`` or ``/libpod_parent/libpod-<id>``;
- Kubernetes with the cgroupfs driver: ``/kubepods/<class>/pod<uid>/<id>``, which does not name
  the runtime (runtime ``"kubernetes"``).

The Kubernetes pod uid is in a ``pod<uid>`` directory (``-`` separated) or a
``kubepods-<class>-pod<uid>.slice`` (``_`` separated, as systemd names it).  cgroup v2 gives one
line ``0::<path>``; v1 one line per hierarchy, and any of them may name the container.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

from ._errors import NotSupportedError, raise_for_status
from ._native import ffi, lib

__all__ = ["Container", "container_of", "containers_of", "parse_cgroup", "parse_start_time"]


class Container(NamedTuple):
    """The container a process runs in.

    ``id``: the container id (64 hex digits); ``runtime``: ``"docker"``, ``"containerd"``,
    ``"cri-o"``, ``"podman"`` or ``"kubernetes"`` (a Kubernetes container whose cgroup path does
    not name its runtime); ``pod_uid``: the Kubernetes pod uid, or None; ``cgroup``: the
    process's cgroup path it was read from.
    """

    id: str
    runtime: str
    pod_uid: str | None
    cgroup: str


_ID = "[0-9a-f]{64}"
_SCOPE = re.compile(rf"^(docker|cri-containerd|crio|libpod)-({_ID})\.scope$")
_RUNTIME_OF_SCOPE = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}
_BARE_ID = re.compile(rf"^(?:libpod-)?({_ID})$")
_UID = "[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
_POD = re.compile(rf"(?:^|-)pod({_UID})(?:\.slice)?$")


def _pod_uid(segments: list[str]) -> str | None:
    if not any(segment.startswith("kubepods") for segment in segments):
        return None
    for segment in reversed(segments):
        match = _POD.search(segment)
        if match:
            return match.group(1).replace("_", "-")
    return None


def _container_of_path(path: str) -> Container | None:
    segments = [segment for segment in path.split("/") if segment]
    for index in range(len(segments) - 1, -1, -1):
        segment = segments[index]
        match = _SCOPE.match(segment)
        if match:
            runtime = _RUNTIME_OF_SCOPE[match.group(1)]
            return Container(match.group(2), runtime, _pod_uid(segments[:index]), path)
        match = _BARE_ID.match(segment)
        if match and index > 0:
            parent = segments[index - 1]
            pod = _pod_uid(segments[:index])
            if parent == "docker":
                return Container(match.group(1), "docker", None, path)
            if parent == "libpod_parent":
                return Container(match.group(1), "podman", None, path)
            if pod is not None:
                return Container(match.group(1), "kubernetes", pod, path)
    return None


def parse_cgroup(text: str) -> Container | None:
    """The container named by the text of a ``/proc/PID/cgroup``, or None.

    >>> parse_cgroup("0::/system.slice/docker-" + "ab" * 32 + ".scope\\n").runtime
    'docker'
    """
    v2: list[str] = []
    v1: list[str] = []
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, separator, path = rest.partition(":")
        if not separator or not path.startswith("/"):
            continue
        (v2 if hierarchy == "0" and controllers == "" else v1).append(path)
    for path in v2 + v1:  # the unified hierarchy first: on a hybrid host it is the one in use
        container = _container_of_path(path)
        if container is not None:
            return container
    return None


def parse_start_time(text: str) -> int | None:
    """Field 22 of a ``/proc/PID/stat`` (the start time in clock ticks), or None.  The command
    name (field 2) is in parentheses and may hold spaces and parentheses itself."""
    fields = text[text.rfind(")") + 1 :].split()
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return int(fields[19])


_FILE_SIZE = 65536
_lock = threading.Lock()
_shared: Any = None
# pid -> (start time, container or None); pruned to the pids asked for when it grows large.
_cache: dict[int, tuple[int, Container | None]] = {}
_CACHE_LIMIT = 4096


def _read(handle: Any, pid: int, what: int, buffer: Any, length: Any) -> str | None:
    code = lib.tcptable_process_file(handle, pid, what, buffer, _FILE_SIZE, length)
    if code == lib.TCPTABLE_ERR_OS:
        return None  # gone, or not ours to read: no container we can tell
    raise_for_status(handle, code)
    raw: Any = ffi.unpack(buffer, length[0])
    return bytes(raw).decode("utf-8", "replace")


def containers_of(pids: Iterable[int]) -> dict[int, Container]:
    """``{pid: Container}`` for those of ``pids`` that run in a container (cached per pid and
    start time, so a reused pid is read again)."""
    global _shared
    found: dict[int, Container] = {}
    with _lock:
        if _shared is None:
            handle = lib.tcptable_poller_new()
            if handle == ffi.NULL:
                raise MemoryError("cannot allocate a tcptable poller")
            _shared = ffi.gc(handle, lib.tcptable_poller_free)
        buffer = ffi.new("char[]", _FILE_SIZE)
        length = ffi.new("size_t *")
        wanted = [pid for pid in pids if pid]
        try:
            for pid in wanted:
                stat = _read(_shared, pid, lib.TCPTABLE_PROCESS_STAT, buffer, length)
                start = parse_start_time(stat) if stat is not None else None
                if start is None:
                    continue
                cached = _cache.get(pid)
                if cached is None or cached[0] != start:
                    text = _read(_shared, pid, lib.TCPTABLE_PROCESS_CGROUP, buffer, length)
                    cached = (start, parse_cgroup(text) if text is not None else None)
                    _cache[pid] = cached
                if cached[1] is not None:
                    found[pid] = cached[1]
        except NotSupportedError:
            return {}  # an OS without cgroups runs no process in a Linux container
        if len(_cache) > _CACHE_LIMIT:
            keep = set(wanted)
            for pid in [pid for pid in _cache if pid not in keep]:
                del _cache[pid]
    return found


def container_of(pid: int) -> Container | None:
    """The container process ``pid`` runs in, or None (not in a container, no such process,
    or an OS without containers).

    >>> tcptable.container_of(os.getpid())   # on a host, outside any container
    """
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if not 0 <= pid <= 0xFFFFFFFF:
        raise ValueError(f"pid must be between 0 and {0xFFFFFFFF}, not {pid!r}")
    return containers_of([pid]).get(pid)
