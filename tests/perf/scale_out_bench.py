"""Scale-out: the throughput of two web instances and two workers over one of each, behind the same HAProxy address.

On the live stack of tests/e2e/live_stack.py (each process in a directory of its own, sharing PostgreSQL and Redis
by URL). Clients post reports through the balancer for a while, first with web-b and worker-2 stopped, then with
both running; a phase counts the reports acknowledged (201) per second and the time until the departments' notices
of all of them were delivered by the workers. Every process of the installation shares this machine's cores, so
the ratio says how much a second instance adds when the first is the bottleneck, not what a second host adds.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from citymgmt.local.process import read_pid, wait_until
from tests.e2e.live_stack import SANITATION, Stack
from tests.perf.intake_bench import tree_cpu_seconds


@dataclass
class Phase:
    webs: int
    reports_per_s: float
    delivered_per_s: float  # reports notified, per second from the first post to the last notice
    # CPUs used while the reports were posted: the machine's (every process on it), and each part's: the web
    # instances, the workers, the scheduler, the balancer, PostgreSQL, Redis, and this process (the clients and the
    # receiver of the notices). Whether the machine's CPUs were the limit, and whose they were.
    machine_cpus: float = 0.0
    cpus: dict[str, float] = field(default_factory=dict)

    def busiest(self) -> str:
        """The parts' CPUs, the busiest first, as `web-a 0.92 · postgres 0.55 · ...` (those under 0.01 left out)."""
        top = sorted(((name, used) for name, used in self.cpus.items() if used >= 0.01), key=lambda kv: -kv[1])
        return " · ".join(f"{name} {used:.2f}" for name, used in top)


def _machine_busy() -> float:
    """CPU seconds the machine has been busy (every CPU, neither idle nor waiting on the disk) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # user .. steal, less idle, iowait


def _cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each part of the installation and of this process."""
    parts = {name: tree_cpu_seconds(p.pid) for name, p in stack.processes.items() if p.poll() is None}
    parts["postgres"] = tree_cpu_seconds(read_pid(stack.pg.pid_file))
    parts["redis"] = tree_cpu_seconds(read_pid(stack.redis.pid_file))
    parts["clients and receiver"] = time.process_time()
    return parts


@dataclass
class Figures:
    one: Phase
    two: Phase

    @property
    def ratio(self) -> float:
        return self.two.reports_per_s / self.one.reports_per_s if self.one.reports_per_s else 0.0


def _post_for(stack: Stack, seconds: float, clients: int, seed: int) -> tuple[list[int], float]:
    """Reports from `clients` threads through the balancer for `seconds`; the acknowledged case ids and the time."""
    token = stack.token("inspector")
    ids: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        with requests.Session() as http:
            while time.monotonic() < stop:
                body = {
                    "category_code": rng.choice(SANITATION),
                    "lon": round(116.36 + rng.random() * 0.08, 6),  # Dongcheng and around: every point has a cell
                    "lat": round(39.90 + rng.random() * 0.05, 6),
                    "description": "scale-out benchmark",
                }
                response = http.post(
                    stack.url("balancer") + "/api/v1/cases",
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"scale-{uuid.uuid4()}"},
                    timeout=60,
                )
                if response.status_code == 201:
                    with lock:
                        ids.append(response.json()["id"])

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return ids, time.monotonic() - started


def _phase(stack: Stack, webs: int, seconds: float, clients: int, seed: int) -> Phase:
    started = time.monotonic()
    cpu, busy = _cpu(stack), _machine_busy()
    ids, elapsed = _post_for(stack, seconds, clients, seed)
    used = {name: (after - cpu.get(name, 0.0)) / elapsed for name, after in _cpu(stack).items()}
    machine = (_machine_busy() - busy) / elapsed
    assert ids, f"no report acknowledged\n{stack.logs()}"
    wanted = set(ids)

    def delivered() -> set[int]:
        return {i for d in stack.receiver.new_work() for i in d.case_ids if i in wanted}

    rows = stack.sql("SELECT DISTINCT case_id FROM case_events WHERE action = 'dispatch' AND case_id = ANY(%s)", [ids])
    dispatched = {row[0] for row in rows}
    assert wait_until(lambda: delivered() >= dispatched, 300, 0.2), f"notices not delivered\n{stack.logs()}"
    done = time.monotonic() - started
    return Phase(webs, len(ids) / elapsed, len(dispatched) / done, machine, used)


def _balanced_over(stack: Stack, webs: tuple[str, ...]) -> bool:
    """Requests through the balancer reach exactly these instances (HAProxy has seen the others go or come)."""
    marker = f"route-{uuid.uuid4().hex[:10]}"
    for _ in range(6):
        requests.get(f"{stack.url('balancer')}/healthz?{marker}", timeout=30)
    return {w for w in ("web-a", "web-b") if w in stack.processes and marker in stack.log(w, 2_000_000)} == set(webs)


def run(stack: Stack, seconds: float = 30, clients: int = 16) -> Figures:
    """One of each, then two of each; the stack is left with both running."""
    stack.stop("web-b")
    stack.stop("worker-2")
    assert wait_until(lambda: _balanced_over(stack, ("web-a",)), 30, 0.5), "HAProxy still sends to web-b"
    one = _phase(stack, 1, seconds, clients, seed=1)
    stack.start_web("web-b")
    stack.start_worker("worker-2")
    stack.wait_healthy()
    assert wait_until(lambda: _balanced_over(stack, ("web-a", "web-b")), 30, 0.5), "HAProxy does not use web-b"
    two = _phase(stack, 2, seconds, clients, seed=2)
    return Figures(one, two)
