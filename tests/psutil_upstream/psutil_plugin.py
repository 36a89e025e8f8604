"""pytest plugin: psutil.net_connections replaced by tcptable.psutil_compat.net_connections for
the whole run (tests/psutil_upstream/run.sh loads it with ``-p psutil_plugin``)."""

from __future__ import annotations

import psutil
import pytest

from tcptable import psutil_compat

ORIGINAL = psutil.net_connections


def pytest_configure(config: pytest.Config) -> None:
    psutil.net_connections = psutil_compat.net_connections


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"psutil {psutil.__version__} ({psutil.__file__}): psutil.net_connections is "
        "tcptable.psutil_compat.net_connections"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    # A test that restored psutil's own function would make every later pass meaningless.
    assert psutil.net_connections is psutil_compat.net_connections, "the replacement was undone"
