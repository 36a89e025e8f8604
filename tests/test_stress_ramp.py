"""A bounded stress ramp (benchmarks/stress_ramp.py runs the full one): while child processes
open 2,000 loopback pairs, threads polling with pollers of their own (and poll_changes(),
where the Poller has it) never fail and never miss a listener that was open all along."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the ramp's pair-holding child processes raise RLIMIT_NOFILE (Linux); the Windows "
    "sizing loop under a growing table is driven through the iphlpapi seam in test_windows.py",
)


def test_ramp_to_2000_pairs_without_errors_or_misses() -> None:
    pytest.importorskip("numpy", reason="the sentinel check reads Snapshot.array")
    from ramp import BASIC_POLLERS, run_ramp

    result = run_ramp(2000, steps=4, threads=[[options] for options in BASIC_POLLERS])
    assert result.pairs == 2000
    described = "\n".join(stats.describe() for stats in result.threads)
    assert result.errors == 0, described
    assert result.misses == 0, described
    # Every thread polled through every step (run_ramp waits for that): nothing was skipped.
    assert all(stats.polls >= 4 * 2 for stats in result.threads), described
