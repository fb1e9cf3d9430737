"""Scale-out (issue 25): two web instances and two workers over one of each, behind one HAProxy address, sharing
PostgreSQL and Redis. Each web instance runs one gunicorn process (four threads), as a small host would, so that one
instance is the bottleneck; every process shares this machine's two cores. A short run is in
tests/e2e/test_faults.py."""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.live_stack import start_stack, stop_stack
from tests.perf.scale_out_bench import run


@pytest.mark.perf
def test_scale_out(recorder) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    stack = start_stack(web_workers=1)
    print(f"live stack healthy after {time.monotonic() - started:.1f} s")
    try:
        figures = run(stack, seconds=float(os.environ.get("BENCH_SCALE_OUT_SECONDS", 30)), clients=16)
    finally:
        stop_stack(stack)
    recorder.add(
        "scale_out_ratio",
        figures.ratio,
        "×",
        baseline=f"one web instance and one worker: {figures.one.reports_per_s:.0f} reports/s acknowledged",
        baseline_value=1.0,
        target="two instances add up (→ 2)",
    )
    recorder.add(
        "scale-out: reports acknowledged a second, two web instances and two workers",
        figures.two.reports_per_s,
        "reports/s",
        baseline="one of each",
        baseline_value=figures.one.reports_per_s,
    )
    cpus = os.cpu_count()
    recorder.add(
        "scale_out_machine_cpus_busy",
        figures.two.machine_cpus,
        f"CPUs of {cpus}",
        baseline=f"one of each (busiest: {figures.one.busiest()}); two of each: {figures.two.busiest()}",
        baseline_value=figures.one.machine_cpus,
    )
    recorder.add(
        "scale-out: reports reported and notified a second (first post to last notice), two of each",
        figures.two.delivered_per_s,
        "reports/s",
        baseline="one of each",
        baseline_value=figures.one.delivered_per_s,
    )
