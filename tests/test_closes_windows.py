"""Close events on Windows: not available, and the error says why."""

from __future__ import annotations

import sys

import pytest

import tcptable

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows only")


def test_closes_is_not_supported_and_names_etw() -> None:
    with pytest.raises(tcptable.NotSupportedError, match="ETW") as raised:
        tcptable.Poller(closes=True)
    assert "administrator" in str(raised.value)


def test_without_closes_changes_have_no_finished() -> None:
    with tcptable.Poller(family="ipv4", pids=False) as poller:
        changes = poller.poll_changes()
    assert changes.finished is None
    assert changes.events_lost is None
