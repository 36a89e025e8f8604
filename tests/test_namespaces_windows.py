"""Windows has no network namespaces: asking for any says so; every row's netns is 0."""

from __future__ import annotations

import sys

import pytest

import tcptable

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows only")


@pytest.mark.parametrize("namespaces", ["all", [1234], ["C:\\netns"]])
def test_namespaces_are_not_supported(namespaces: object) -> None:
    with pytest.raises(tcptable.NotSupportedError, match="network namespaces are a Linux"):
        tcptable.Poller(namespaces=namespaces)  # type: ignore[arg-type]


def test_rows_have_no_namespace() -> None:
    table = tcptable.snapshot(pids=False)
    assert set(table.count_by("netns")) <= {0}
    assert table.namespaces == {}
    assert table.namespace_errors == {}


def test_no_process_is_in_a_container() -> None:
    import os

    assert tcptable.container_of(os.getpid()) is None
    with tcptable.Poller(containers=True) as poller:
        assert poller.poll().containers == {}
