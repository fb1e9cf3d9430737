"""Benchmarks (`make bench`): a database of their own in the throwaway cluster, and the figures' recorder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO
from tests.perf.recorder import Recorder

_recorder = Recorder()


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return _recorder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _recorder.metrics:
        return
    terminalreporter.write_sep("=", "benchmark figures (medians; ratio = value / baseline)")
    terminalreporter.write_line(_recorder.table())
    path = REPO / "var" / "bench" / "results.json"
    _recorder.write(path)
    terminalreporter.write_line(f"written to {path}")


@pytest.fixture(scope="session")
def bench_database(servers) -> Iterator[str]:  # type: ignore[no-untyped-def]
    yield servers.migrated_database("citymgmt_bench")
