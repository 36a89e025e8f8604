"""Containers: the cgroup path parser on each runtime's paths (cgroup v1 and v2, any OS), a
property test of it, and real cgroups on Linux (root): a child moved into a cgroup named like a
docker scope or a Kubernetes pod is reported as in that container."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tcptable
from tcptable._containers import Container, parse_cgroup, parse_start_time

ID = "4f1c9a2e" * 8
POD = "0d7f4a3b-9c1e-4b2a-8f6d-1a2b3c4d5e6f"
POD_ = POD.replace("-", "_")

# (/proc/PID/cgroup text, expected (id, runtime, pod_uid) or None)
CASES = [
    # cgroup v2, systemd driver
    (f"0::/system.slice/docker-{ID}.scope\n", (ID, "docker", None)),
    (f"0::/machine.slice/libpod-{ID}.scope/container\n", (ID, "podman", None)),
    (
        f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope\n",
        (ID, "podman", None),
    ),
    (
        f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_}.slice/"
        f"cri-containerd-{ID}.scope\n",
        (ID, "containerd", POD),
    ),
    (
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/"
        f"crio-{ID}.scope\n",
        (ID, "cri-o", POD),
    ),
    (f"0::/kubepods.slice/kubepods-pod{POD_}.slice/docker-{ID}.scope\n", (ID, "docker", POD)),
    # cgroup v2, cgroupfs driver
    (f"0::/kubepods/besteffort/pod{POD}/{ID}\n", (ID, "kubernetes", POD)),
    (f"0::/docker/{ID}\n", (ID, "docker", None)),
    # cgroup v1: one line per hierarchy
    (
        f"12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n",
        (ID, "docker", None),
    ),
    (
        f"5:cpu,cpuacct:/kubepods/burstable/pod{POD}/{ID}\n1:name=systemd:/kubepods/burstable/"
        f"pod{POD}/{ID}\n",
        (ID, "kubernetes", POD),
    ),
    (f"3:memory:/libpod_parent/libpod-{ID}\n", (ID, "podman", None)),
    # not in a container
    ("0::/\n", None),
    ("0::/user.slice/user-0.slice/session-3.scope\n", None),
    ("0::/system.slice/docker.service\n", None),
    (f"0::/machine.slice/libpod-conmon-{ID}.scope\n", None),  # podman's monitor, not a container
    (f"0::/system.slice/crio-conmon-{ID}.scope\n", None),
    (f"0::/kubepods.slice/kubepods-pod{POD_}.slice\n", None),  # the pod, not a container in it
    ("", None),
    ("garbage without colons\n", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_cgroup_of_each_runtime(text: str, expected: tuple[str, str, str | None]) -> None:
    container = parse_cgroup(text)
    if expected is None:
        assert container is None
        return
    assert container is not None
    assert (container.id, container.runtime, container.pod_uid) == expected
    assert container.cgroup in text


def test_parse_start_time_with_a_hostile_command_name() -> None:
    fields = " ".join(str(n) for n in range(3, 53))  # fields 3..52: field 22 is "22"
    assert parse_start_time(f"1234 (a) (b c)) {fields}\n") == 22
    assert parse_start_time("1234 (short) S 1") is None
    assert parse_start_time("") is None


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.@", min_size=1, max_size=20)
_hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@given(st.text())
def test_parse_cgroup_never_raises(text: str) -> None:
    result = parse_cgroup(text)
    assert result is None or isinstance(result, Container)


@given(
    st.lists(_segment.filter(lambda s: "scope" not in s and not s.startswith("pod")), max_size=4),
    _hex64,
    st.sampled_from(["docker", "cri-containerd", "crio", "libpod"]),
    st.booleans(),
)
def test_a_scope_anywhere_names_its_container(
    parents: list[str], identifier: str, prefix: str, v1: bool
) -> None:
    path = "/" + "/".join([*parents, f"{prefix}-{identifier}.scope"])
    text = f"4:memory:{path}\n1:name=systemd:/\n" if v1 else f"0::{path}\n"
    container = parse_cgroup(text)
    assert container is not None
    assert container.id == identifier
    assert container.cgroup == path
    runtime = {"docker": "docker", "cri-containerd": "containerd", "crio": "cri-o"}
    assert container.runtime == runtime.get(prefix, "podman")


@given(st.uuids(), _hex64, st.sampled_from(["besteffort", "burstable", "guaranteed"]))
def test_a_kubepods_path_names_its_pod(uid: object, identifier: str, qos: str) -> None:
    text = str(uid)
    systemd = (
        f"0::/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{text.replace('-', '_')}"
        f".slice/cri-containerd-{identifier}.scope\n"
    )
    cgroupfs = f"0::/kubepods/{qos}/pod{text}/{identifier}\n"
    for form in (systemd, cgroupfs):
        container = parse_cgroup(form)
        assert container is not None
        assert (container.id, container.pod_uid) == (identifier, text)


def test_container_of_bad_input() -> None:
    with pytest.raises(TypeError, match="pid must be an int"):
        tcptable.container_of("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pid must be between"):
        tcptable.container_of(-1)
    assert tcptable.container_of(0) is None


# ---- real cgroups -----------------------------------------------------------------------------

linux_root = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="moving a process into a cgroup: Linux, as root",
)


def _mounts(kind: str) -> list[tuple[str, str]]:
    """(mount point, options) of every mount of filesystem type `kind`."""
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, point, fstype, options, *_ = line.split()
            if fstype == kind:
                found.append((point, options))
    return found


def _v2_root() -> str | None:
    mounts = _mounts("cgroup2") if sys.platform.startswith("linux") else []
    return mounts[0][0] if mounts else None


def _v1_root() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    for point, options in _mounts("cgroup"):
        if "pids" in options.split(","):
            return point
    return None


class CgroupChild:
    """A child process (listening on loopback) moved into cgroup `root`/`relative`."""

    def __init__(self, root: str, relative: str) -> None:
        self.directory = os.path.join(root, relative)
        self.made: list[str] = []
        path = root
        for part in relative.split("/"):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                self.made.append(path)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        # The child inherits the listener: it holds it once the parent closes its copy.
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            pass_fds=(self.listener.fileno(),),
        )
        with open(os.path.join(self.directory, "cgroup.procs"), "w") as procs:
            procs.write(str(self.process.pid))
        self.listener.close()

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        for path in reversed(self.made):
            os.rmdir(path)


@pytest.fixture
def v2_root() -> str:
    root = _v2_root()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    return root


def _docker_scope() -> tuple[str, str]:
    identifier = secrets.token_hex(32)
    return identifier, f"tcptable-test.slice/docker-{identifier}.scope"


@linux_root
def test_a_process_in_a_docker_scope_is_in_that_container(v2_root: str) -> None:
    identifier, relative = _docker_scope()
    child = CgroupChild(v2_root, relative)
    try:
        container = tcptable.container_of(child.process.pid)
        assert container is not None
        assert (container.id, container.runtime, container.pod_uid) == (identifier, "docker", None)
        assert container.cgroup.endswith(relative)
        with tcptable.Poller(containers=True, local_ports=[child.port]) as poller:
            table = poller.poll()
        assert [c.pid for c in table] == [child.process.pid]
        assert table.containers == {child.process.pid: container}
    finally:
        child.stop()


@linux_root
def test_a_process_in_a_kubepods_pod_is_in_that_pod(v2_root: str) -> None:
    identifier, uid = secrets.token_hex(32), "0d7f4a3b-9c1e-4b2a-8f6d-" + secrets.token_hex(6)
    relative = (
        f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
        f"{uid.replace('-', '_')}.slice/cri-containerd-{identifier}.scope"
    )
    child = CgroupChild(v2_root, relative)
    try:
        container = tcptable.container_of(child.process.pid)
        assert container is not None
        assert (container.id, container.runtime, container.pod_uid) == (
            identifier,
            "containerd",
            uid,
        )
    finally:
        child.stop()


@linux_root
def test_a_process_in_a_v1_docker_cgroup_is_in_that_container() -> None:
    root = _v1_root()
    if root is None:
        pytest.skip("no cgroup v1 pids hierarchy mounted")
    identifier = secrets.token_hex(32)
    child = CgroupChild(root, f"docker/{identifier}")
    try:
        container = tcptable.container_of(child.process.pid)
        assert container is not None
        assert (container.id, container.runtime) == (identifier, "docker")
    finally:
        child.stop()


@linux_root
def test_a_reused_pid_is_read_again(v2_root: str) -> None:
    """The cache is keyed by start time: the same pid in another process is looked up anew.
    A process that moves into a container keeps its start time, so it is shown with the first
    answer until it restarts; this checks the other way: exit, and no stale answer remains."""
    _, relative = _docker_scope()
    child = CgroupChild(v2_root, relative)
    pid = child.process.pid
    try:
        assert tcptable.container_of(pid) is not None
    finally:
        child.stop()
    assert tcptable.container_of(pid) is None  # gone: no container, whatever the cache held


@linux_root
def test_the_command_shows_the_container(v2_root: str) -> None:
    identifier, relative = _docker_scope()
    child = CgroupChild(v2_root, relative)
    try:
        shown = subprocess.run(
            [sys.executable, "-m", "tcptable", "--netns", "all", "--sport", str(child.port)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert shown[0].split()[-2:] == ["NETNS", "CONTAINER"]
        assert [line.split()[-1] for line in shown[1:]] == [identifier[:12]]
    finally:
        child.stop()
