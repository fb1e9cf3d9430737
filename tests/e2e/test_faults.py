"""Faults with live processes: Redis stopped, PostgreSQL restarted, a worker killed, a client retrying at once;
and two app instances and two workers contending for one case.

One installation for the module (tests/e2e/live_stack.py): gunicorn, RQ workers and the scheduler as their own
processes on an embedded PostgreSQL and Redis, everything on loopback and Unix sockets. Each test bounds its waits.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from PIL import Image
from redis import Redis
from rq import Worker

from citymgmt.demo import DEMO_PASSWORD
from citymgmt.local.process import wait_until
from tests.e2e.live_stack import BIN, Stack, start_stack, stop_stack
from tests.perf import scale_out_bench as scale_out

pytestmark = pytest.mark.e2e

INTERNALS = ("Traceback", "psycopg", "sqlalchemy", "SQLAlchemy", "OperationalError", "<html", "<!doctype")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    started = time.monotonic()
    s = start_stack()
    print(f"live stack healthy after {time.monotonic() - started:.1f} s")
    try:
        yield s
    finally:
        stop_stack(s)


@dataclass
class Reply:
    key: str
    status: int  # 0: no answer at all
    content_type: str
    body: str
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ReportStream:
    """A client posting reports one after another, each with its own Idempotency-Key, until stopped."""

    stack: Stack
    web: str = "web-a"
    pause: float = 0.2
    replies: list[Reply] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.token = self.stack.token("inspector")
        self.thread = threading.Thread(target=self._run, name="report-stream", daemon=True)

    def _run(self) -> None:
        with requests.Session() as http:
            while not self.stopping.is_set():
                key = f"fault-{uuid.uuid4()}"
                try:
                    response = http.post(
                        self.stack.url(self.web) + "/api/v1/cases",
                        json=self.stack.next_report(),
                        headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
                        timeout=30,
                    )
                    reply = Reply(key, response.status_code, response.headers.get("Content-Type", ""), response.text, 0)
                except requests.RequestException as exc:
                    reply = Reply(key, 0, "", repr(exc), 0)
                reply.at = time.monotonic()
                self.replies.append(reply)
                time.sleep(self.pause)

    def __enter__(self) -> ReportStream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(60)

    def acknowledged(self) -> list[Reply]:
        return [r for r in self.replies if r.status == 201]


def _cases_by_key(stack: Stack, keys: list[str]) -> dict[str, list[int]]:
    rows = stack.sql("SELECT idempotency_key, id FROM cases WHERE idempotency_key = ANY(%s)", [keys])
    found: dict[str, list[int]] = {}
    for key, case_id in rows:
        found.setdefault(key, []).append(case_id)
    return found


def _events(stack: Stack, case_ids: list[int], action: str) -> dict[int, int]:
    rows = stack.sql(
        "SELECT case_id, count(*) FROM case_events WHERE case_id = ANY(%s) AND action = %s GROUP BY case_id",
        [case_ids, action],
    )
    return {case_id: count for case_id, count in rows}


def _deliveries_by_case(stack: Stack, case_ids: list[int]) -> dict[int, list[float]]:
    wanted = set(case_ids)
    found: dict[int, list[float]] = {}
    for delivery in stack.receiver.new_work():
        for case_id in delivery.case_ids:
            if case_id in wanted:
                found.setdefault(case_id, []).append(delivery.at)
    return found


def _undelivered(stack: Stack, case_ids: list[int]) -> str:
    """What the database says of the notices of these cases: their notification rows and delivery jobs."""
    rows = stack.sql(
        "SELECT n.id, n.event, n.case_ids, n.sent_at, m.id, m.enqueued_at, m.done_at, m.attempts, m.last_error"
        " FROM notifications n LEFT JOIN outbox m ON m.id = n.outbox_id WHERE n.case_ids && %s::bigint[]",
        [case_ids],
    )
    return (
        f"undelivered cases {case_ids}: notification, event, cases, sent, job, enqueued, done, attempts, error: {rows}"
    )


def test_redis_stopped_for_30_s_loses_no_report_and_dispatches_each_once(stack: Stack) -> None:
    with ReportStream(stack) as stream:
        time.sleep(3)
        stack.redis.down()
        down_at = time.monotonic()
        time.sleep(30)
        stack.redis.up()
        up_at = time.monotonic()
        time.sleep(3)
    during = [r for r in stream.replies if down_at < r.at < up_at]
    assert len(during) >= 10, f"the stream should keep posting while Redis is down: {len(during)} replies"
    assert {r.status for r in stream.replies} == {201}, [
        (r.status, r.body[:300]) for r in stream.replies if r.status != 201
    ]

    acknowledged = stream.acknowledged()
    case_of = {r.key: r.json()["id"] for r in acknowledged}
    stored = _cases_by_key(stack, list(case_of))
    assert {k: v for k, v in stored.items()} == {k: [v] for k, v in case_of.items()}, "each report once"
    ids = list(case_of.values())
    assert _events(stack, ids, "dispatch") == dict.fromkeys(ids, 1), "each case dispatched once, in its transaction"

    # The department hears of each case once; those reported while Redis was down, after it came back.
    def all_delivered() -> bool:
        return len(_deliveries_by_case(stack, ids)) == len(ids)

    assert wait_until(all_delivered, 90, 0.5), (
        f"{len(_deliveries_by_case(stack, ids))} of {len(ids)} delivered\n"
        f"{_undelivered(stack, sorted(set(ids) - set(_deliveries_by_case(stack, ids))))}\n{stack.logs()}"
    )
    time.sleep(3)  # a second delivery, were there one, would come now
    deliveries = _deliveries_by_case(stack, ids)
    assert {i: len(d) for i, d in deliveries.items()} == dict.fromkeys(ids, 1), "each delivered exactly once"
    late = [case_of[r.key] for r in during]
    assert all(deliveries[i][0] > up_at for i in late), "work created while Redis was down waited for it"
    assert stack.sql("SELECT count(*) FROM outbox WHERE done_at IS NULL AND job = 'notify.deliver'") == [(0,)]
    # Every process lived through it: a worker stopped by Redis in the middle of a job starts again under its name.
    assert {name: p.poll() for name, p in stack.processes.items()} == dict.fromkeys(stack.processes), stack.logs()


def test_postgres_restarted_gives_clean_503s_and_the_app_recovers(stack: Stack) -> None:
    web_pids = {name: stack.processes[name].pid for name in ("web-a", "web-b")}
    with ReportStream(stack, pause=0.1) as stream:
        time.sleep(2)
        stack.pg.down()
        down_at = time.monotonic()
        time.sleep(4)
        stack.pg.up()
        up_at = time.monotonic()
        ok_again = wait_until(lambda: any(r.status == 201 and r.at > up_at for r in stream.replies[-3:]), 30, 0.2)
        time.sleep(1)
    assert ok_again, [(r.status, r.body[:200]) for r in stream.replies[-5:]]
    assert {name: stack.processes[name].pid for name in web_pids} == web_pids, "recovered without a restart"

    statuses = {r.status for r in stream.replies}
    assert statuses <= {201, 503}, [(r.status, r.body[:300]) for r in stream.replies if r.status not in (201, 503)]
    refused = [r for r in stream.replies if r.status == 503]
    assert refused, "requests while PostgreSQL was down should have been refused"
    assert all(down_at - 1 < r.at < up_at + 30 for r in refused)
    for reply in refused:
        assert reply.content_type.startswith("application/json"), reply.content_type
        error = reply.json()["error"]
        assert error["code"] == "unavailable" and error["message"]
        assert not any(word in reply.body for word in INTERNALS), reply.body

    # Nothing half-done: each acknowledged report exists once, each refused one not at all.
    stored = _cases_by_key(stack, [r.key for r in stream.replies])
    assert {k: len(v) for k, v in stored.items()} == {r.key: 1 for r in stream.acknowledged()}


def _worker_running(redis: Redis, job_id: str) -> Worker | None:
    for worker in Worker.all(connection=redis):
        if worker.get_current_job_id() == job_id:
            return worker
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_worker_killed_mid_job_the_job_is_retried_and_takes_effect_once(stack: Stack) -> None:
    note = f"killed-{uuid.uuid4()}"
    with psycopg.connect(stack.pg.conninfo(), autocommit=True) as conn:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO outbox (job, args, queue) VALUES ('test.slow_effect', %s, 'default') RETURNING id",
                [json.dumps({"note": note, "seconds": 4})],
            ).fetchone()
            conn.execute("SELECT pg_notify('citymgmt_outbox', '')")
        assert row is not None
        message_id = row[0]
    redis = Redis.from_url(stack.env["REDIS_URL"], socket_timeout=5)
    try:
        job_id = f"outbox-{message_id}"

        def sleeping() -> bool:
            return bool(stack.sql("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'"))

        assert wait_until(sleeping, 30, 0.1), stack.logs()
        worker = _worker_running(redis, job_id)
        assert worker is not None
        name = next(n for n, p in stack.processes.items() if p.pid == worker.pid)
        # The job runs in the worker process itself (no work horse); its children (RQ's scheduler) go with it, the
        # whole worker at once, as when its machine dies.
        for pid in (worker.pid, *_children(worker.pid)):
            os.kill(pid, signal.SIGKILL)
        stack.processes.pop(name).wait(10)
        # The killed attempt never recorded a failure, yet it counts, and its row says it did not end.
        [(attempts, error)] = stack.sql("SELECT attempts, last_error FROM outbox WHERE id = %s", [message_id])
        assert attempts == 1 and error.startswith("the attempt begun at ") and "has not ended" in error
        stack.start_worker(name)  # its supervisor starts it again (the other worker keeps going anyway)

        def done() -> bool:
            return stack.sql("SELECT done_at IS NOT NULL FROM outbox WHERE id = %s", [message_id]) == [(True,)]

        assert wait_until(done, 150, 0.5), f"not retried\n{stack.logs()}"
    finally:
        redis.close()
    assert stack.sql("SELECT count(*) FROM test_effects WHERE note = %s", [note]) == [(1,)]
    assert stack.sql("SELECT attempts, last_error FROM outbox WHERE id = %s", [message_id]) == [(2, None)]


class SlowReceiver:
    """A webhook receiver that takes `pause` seconds over each delivery: a batch of notices to it lasts long enough to
    stop something in the middle of it."""

    def __init__(self, pause: float) -> None:
        self.arrivals: list[str] = []  # delivery ids, in order
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(pause)
                with receiver.lock:
                    receiver.arrivals.append(self.headers["X-Citymgmt-Delivery"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="slow-receiver", daemon=True)
        self.thread.start()

    def received(self) -> list[str]:
        with self.lock:
            return list(self.arrivals)

    def __enter__(self) -> SlowReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()


def _notices_to(stack: Stack, url: str, count: int) -> dict[str, int]:
    """`count` notifications to a channel of their own at `url`, each with its delivery job in the outbox, committed
    together (as a burst of dispatches writes them); their delivery ids → outbox ids."""
    with psycopg.connect(stack.pg.conninfo(), autocommit=True) as conn, conn.transaction():
        row = conn.execute(
            "INSERT INTO notification_channels (department_code, kind, target, secret, events, retired_at)"
            " VALUES (NULL, 'webhook', %s, 'a-long-enough-webhook-secret', ARRAY['new_work'], now()) RETURNING id",
            [url],
        ).fetchone()  # retired at once: only these rows name it, no notify() will pick it
        assert row is not None
        fresh = [
            n
            for (n,) in conn.execute(
                "INSERT INTO notifications (channel_id, event, case_ids, created_at)"
                " SELECT %s, 'new_work', ARRAY[]::bigint[], now() FROM generate_series(1, %s) RETURNING id",
                [row[0], count],
            )
        ]
        rows = conn.execute(
            "WITH jobs AS (INSERT INTO outbox (job, args, queue)"
            "   SELECT 'notify.deliver', jsonb_build_object('notification_id', id), 'default'"
            "   FROM unnest(%s::bigint[]) AS id ORDER BY id"
            "   RETURNING id, (args->>'notification_id')::bigint AS notification_id)"
            " UPDATE notifications n SET outbox_id = jobs.id FROM jobs WHERE n.id = jobs.notification_id"
            " RETURNING n.delivery_id::text, jobs.id",
            [fresh],
        ).fetchall()
        assert len(rows) == count
        conn.execute("SELECT pg_notify('citymgmt_outbox', '')")
    return dict(rows)


def _all_sent(stack: Stack, outbox_ids: list[int]) -> bool:
    return stack.sql(
        "SELECT count(*) FROM outbox m JOIN notifications n ON n.outbox_id = m.id"
        " WHERE m.id = ANY(%s) AND m.done_at IS NOT NULL AND n.sent_at IS NOT NULL",
        [outbox_ids],
    ) == [(len(outbox_ids),)]


def test_a_worker_killed_mid_batch_of_notices_loses_none(stack: Stack) -> None:
    """Notices go out several to an RQ job (issue 25); a worker killed in the middle of a batch has committed none of
    it, so the batch's retry sends them all: each notice at least once, those sent before the kill twice (with the
    same delivery id, for the receiver to drop)."""
    with SlowReceiver(pause=1.0) as receiver:  # 40 notices, 8 at a time: five seconds or more
        notices = _notices_to(stack, f"http://127.0.0.1:{receiver.server.server_port}/", 40)
        ids = list(notices.values())
        assert wait_until(lambda: len(receiver.received()) >= 5, 60, 0.05), stack.logs()
        [(job_id,)] = stack.sql("SELECT DISTINCT rq_job FROM outbox WHERE id = ANY(%s)", [ids])
        assert job_id is not None, "the 40 notices went out in one RQ job"
        redis = Redis.from_url(stack.env["REDIS_URL"], socket_timeout=5)
        try:
            worker = _worker_running(redis, job_id)
        finally:
            redis.close()
        assert worker is not None, stack.logs()
        name = next(n for n, p in stack.processes.items() if p.pid == worker.pid)
        for pid in (worker.pid, *_children(worker.pid)):
            os.kill(pid, signal.SIGKILL)
        stack.processes.pop(name).wait(10)
        before_kill = receiver.received()
        assert len(before_kill) < len(ids), "killed in the middle of the batch"
        assert stack.sql(
            "SELECT count(*) FROM notifications n JOIN outbox m ON m.id = n.outbox_id"
            " WHERE m.id = ANY(%s) AND n.sent_at IS NOT NULL",
            [ids],
        ) == [(0,)], "nothing committed"
        stack.start_worker(name)
        assert wait_until(lambda: _all_sent(stack, ids), 150, 0.5), f"not all sent\n{stack.logs()}"
        received = receiver.received()
    assert set(received) == set(notices), "each notice delivered"
    assert all(received.count(d) >= 2 for d in before_kill), "those sent before the kill sent again"
    assert stack.sql("SELECT DISTINCT attempts, last_error FROM outbox WHERE id = ANY(%s)", [ids]) == [(2, None)]


def test_redis_stopped_mid_batch_of_notices_loses_none(stack: Stack) -> None:
    """Redis stops while a batch of notices is being delivered: the batch's work is in PostgreSQL, so it ends and
    commits; when Redis is back, nothing is lost and nothing was sent twice by the batch's leftover RQ job."""
    # 40 notices, 8 at a time: fifteen seconds or more, so that Redis is down before the batch ends even on a loaded
    # machine (stopping it may take seconds)
    with SlowReceiver(pause=3.0) as receiver:
        notices = _notices_to(stack, f"http://127.0.0.1:{receiver.server.server_port}/", 40)
        ids = list(notices.values())
        assert wait_until(lambda: len(receiver.received()) >= 5, 60, 0.05), stack.logs()
        stack.redis.down()
        try:  # Redis back whatever happens, for the tests after this one
            assert len(receiver.received()) < len(notices), "stopped in the middle of the batch"
            assert wait_until(lambda: _all_sent(stack, ids), 60, 0.5), f"not sent with Redis down\n{stack.logs()}"
        finally:
            stack.redis.up()
        time.sleep(30)  # the batch's RQ job, were it run again, would run now (abandoned after 20 s, maintenance 5 s)
        received = receiver.received()
    assert sorted(received) == sorted(notices), "each notice delivered, once"
    assert stack.sql("SELECT count(*) FROM outbox WHERE id = ANY(%s) AND done_at IS NOT NULL", [ids]) == [(40,)]


def test_the_same_idempotency_key_ten_times_at_once_makes_one_case(stack: Stack) -> None:
    token = stack.token("inspector")
    key = f"same-{uuid.uuid4()}"
    report = stack.next_report()
    barrier = threading.Barrier(10)
    replies: list[tuple[int, Any]] = []

    def send(i: int) -> None:
        with requests.Session() as http:
            barrier.wait(30)
            response = http.post(
                stack.url("web-a" if i % 2 else "web-b") + "/api/v1/cases",
                json=report,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                timeout=60,
            )
            replies.append((response.status_code, response.json()))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert [status for status, _ in replies] == [201] * 10, replies
    assert len({body["id"] for _, body in replies}) == 1
    assert _cases_by_key(stack, [key]) == {key: [replies[0][1]["id"]]}


def test_fifty_conflicting_actions_across_two_instances_exactly_one_wins(stack: Stack) -> None:
    inspector = {"Authorization": f"Bearer {stack.token('inspector')}", "Idempotency-Key": f"c-{uuid.uuid4()}"}
    created = requests.post(stack.url() + "/api/v1/cases", json=stack.next_report(), headers=inspector, timeout=30)
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["status"] == "dispatched", case
    handler = {"Authorization": f"Bearer {stack.token('handler-' + case['department_code'])}"}
    seen = requests.get(stack.url("web-b") + f"/api/v1/cases/{case['id']}", headers=handler, timeout=30)
    etag = seen.headers["ETag"]

    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def handle(i: int) -> None:
        with requests.Session() as http:
            barrier.wait(60)
            response = http.post(
                stack.url("web-a" if i % 2 else "web-b") + f"/api/v1/cases/{case['id']}/actions/handle",
                json={"note": f"处理完毕 {i}"},
                headers={**handler, "If-Match": etag},
                timeout=90,
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=handle, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(statuses) == [200] + [409] * 49
    assert _events(stack, [case["id"]], "handle") == {case["id"]: 1}


def test_sweeps_started_together_in_several_processes_escalate_once(stack: Stack) -> None:
    inspector = {"Authorization": f"Bearer {stack.token('inspector')}", "Idempotency-Key": f"s-{uuid.uuid4()}"}
    created = requests.post(stack.url() + "/api/v1/cases", json=stack.next_report(), headers=inspector, timeout=30)
    assert created.status_code == 201 and created.json()["status"] == "dispatched", created.text
    case_id = created.json()["id"]
    sweep = [str(BIN / "citymgmt"), "sla", "sweep"]
    # The sweeps' own clock five years on (a sweep refuses --at in the future): the case is long overdue by then.
    offset = stack.root / "sweep-clock-offset"
    offset.write_text(str(5 * 365 * 86400))
    sweep_env = {**stack.env, "CITYMGMT_CLOCK_OFFSET_FILE": str(offset)}

    # Hold the case's row so that the sweeps, started one by one, all reach it before any of them moves it.
    with psycopg.connect(stack.pg.conninfo()) as conn:
        conn.execute("SELECT id FROM cases WHERE id = %s FOR UPDATE", [case_id])
        sweeps = [
            subprocess.Popen(sweep, cwd=stack.root, env=sweep_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(3)
        ]
        try:

            def all_waiting() -> bool:
                rows = stack.sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%%cases%%'"
                )
                return rows[0][0] >= 3

            assert wait_until(all_waiting, 90, 0.2), "the sweeps did not all reach the case"
        finally:
            conn.commit()
        outputs = [p.communicate(timeout=90)[0].decode() for p in sweeps]
    assert [p.returncode for p in sweeps] == [0, 0, 0], outputs

    escalations = stack.sql(
        "SELECT case_id, count(*) FROM case_events WHERE action = 'escalate' GROUP BY case_id HAVING count(*) > 1"
    )
    assert escalations == [], "no case escalated twice"
    assert _events(stack, [case_id], "escalate") == {case_id: 1}
    assert _events(stack, [case_id], "overdue") == {case_id: 1}


def _served_by(stack: Stack, marker: str) -> dict[str, int]:
    """How many requests carrying `marker` each web instance's access log shows."""
    return {web: stack.log(web, 1_000_000).count(marker) for web in ("web-a", "web-b")}


def test_two_hosts_behind_one_address_serve_one_installation(stack: Stack) -> None:
    """Two web instances and two workers, each with a working directory of its own, behind HAProxy: requests to
    the one address are shared out, a photo stored through one instance is served by the other, a token from one
    works on the other, and the reports' notices are delivered once each by whichever worker took them."""
    marker = f"probe-{uuid.uuid4().hex[:12]}"
    balancer = stack.url("balancer")
    for _ in range(10):
        assert requests.get(f"{balancer}/healthz?{marker}", timeout=30).status_code == 200
    # Round robin: each instance got half (gunicorn writes an access line just after its answer: wait for them).
    assert wait_until(lambda: _served_by(stack, marker) == {"web-a": 5, "web-b": 5}, 10, 0.1), _served_by(stack, marker)

    token = requests.post(
        balancer + "/api/v1/auth/token", json={"username": "inspector", "password": DEMO_PASSWORD}, timeout=30
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    image = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(image, "JPEG")
    created = requests.post(
        balancer + "/api/v1/cases",
        data=stack.next_report(),
        files={"photos": ("p.jpg", image.getvalue(), "image/jpeg")},
        headers=auth | {"Idempotency-Key": f"scale-{uuid.uuid4()}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    case = created.json()
    path = urlsplit(case["photos"][0]["url"]).path
    photos = {web: requests.get(stack.url(web) + path, headers=auth, timeout=30) for web in ("web-a", "web-b")}
    assert {web: r.status_code for web, r in photos.items()} == {"web-a": 200, "web-b": 200}
    assert photos["web-a"].content == photos["web-b"].content
    for host in ("web-a", "web-b", "worker-1", "worker-2"):
        assert not (stack.host(host) / "var" / "photos").exists()  # nothing of the case kept on one host only

    assert wait_until(lambda: case["id"] in _deliveries_by_case(stack, [case["id"]]), 60, 0.2), _undelivered(
        stack, [case["id"]]
    )
    assert len(_deliveries_by_case(stack, [case["id"]])[case["id"]]) == 1


def test_the_scale_out_benchmark_runs_one_then_two_of_each(stack: Stack) -> None:
    """The benchmark's own code (tests/perf/scale_out_bench.py), briefly, so that `make bench` cannot rot unnoticed;
    it leaves both instances and both workers running. Its one-instance phase has worker-1 alone: it fails if a worker
    did not survive the faults of the tests before it (Redis stopped while it ran a job)."""
    assert {name: p.poll() for name, p in stack.processes.items()} == dict.fromkeys(stack.processes), stack.logs()
    figures = scale_out.run(stack, seconds=2, clients=2)
    assert figures.one.reports_per_s > 0 and figures.two.reports_per_s > 0
    assert figures.one.delivered_per_s > 0 and figures.two.delivered_per_s > 0
    # Where the CPU went in each phase: the machine's, and each running part's (web-b and worker-2 only in the second).
    assert figures.one.machine_cpus > 0 and figures.two.machine_cpus > 0
    assert "web-b" not in figures.one.cpus and figures.two.cpus["web-b"] > 0, (figures.one.cpus, figures.two.cpus)
    assert all(figures.one.cpus[part] > 0 for part in ("web-a", "postgres", "clients and receiver")), figures.one.cpus
    assert {"web-a", "web-b", "worker-1", "worker-2"} <= set(stack.processes)
