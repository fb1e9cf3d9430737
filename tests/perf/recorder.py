"""Benchmark figures: each measured beside its baseline in the same run, printed as Markdown and written to
var/bench/results.json as {"metrics": {name: {"value": x, "unit": u, ...}}}."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Metric:
    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    higher_is_better: bool = True
    target: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        assert self.baseline_value is not None
        return self.value / self.baseline_value


@dataclass
class Recorder:
    metrics: list[Metric] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, **kwargs: Any) -> Metric:
        metric = Metric(name, value, unit, **kwargs)
        self.metrics.append(metric)
        return metric

    def table(self) -> str:
        lines = [
            "| metric | value | baseline | baseline value | ratio | target |",
            "|---|---|---|---|---|---|",
        ]
        for m in self.metrics:
            ratio = f"{m.ratio:.2f}" if m.ratio is not None else ""
            base = f"{m.baseline_value:,.3g} {m.unit}" if m.baseline_value is not None else ""
            lines.append(
                f"| {m.name} | {m.value:,.3g} {m.unit} | {m.baseline or ''} | {base} | {ratio} | {m.target or ''} |"
            )
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        existing: dict[str, Any] = {}
        if path.exists():
            existing = json.loads(path.read_text()).get("metrics", {})
        for m in self.metrics:
            entry: dict[str, Any] = {"value": round(m.value, 6), "unit": m.unit}
            if m.baseline is not None:
                entry |= {"baseline": m.baseline, "baseline_value": m.baseline_value, "ratio": m.ratio}
            if m.target:
                entry["target"] = m.target
            existing[m.name] = entry
        path.write_text(json.dumps({"metrics": existing}, indent=2, ensure_ascii=False) + "\n")


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(q * 1000) - 1]
