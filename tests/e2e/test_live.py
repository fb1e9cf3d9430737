"""The live acceptance suite: the process set exactly as `make run` starts it (citymgmt/local/run.sh: gunicorn,
`citymgmt worker`, `citymgmt scheduler` on the embedded servers), driven through HTTP only, with time moved forward
for every process at once (CITYMGMT_CLOCK_OFFSET_FILE). No command is typed: the scheduler's sweep alone turns the
lights, the worker alone delivers the notices to a real webhook receiver and a real SMTP server, the hourly roll-up
alone fills the dashboard's figures. After each test the failed-job registry is empty and no process logged a
traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
import requests
from aiosmtpd.controller import Controller

from citymgmt.core.clock import OffsetClock
from citymgmt.demo import DEMO_PASSWORD
from citymgmt.local import EmbeddedRedis
from citymgmt.local.process import wait_until
from tests.conftest import REPO, failed_jobs
from tests.dispatch.notifications.test_notifications import Mailbox
from tests.e2e.live_stack import Receiver
from tests.e2e.test_make_run import MakeRun, free_port

pytestmark = pytest.mark.e2e

GARBAGE = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "暴露垃圾（现场）"}
SANITATION = "110101-sanitation"
SECRET = "a-webhook-secret-of-some-length"
BEIJING = ZoneInfo("Asia/Shanghai")


class Live:
    """The running system, as its users and operators reach it."""

    def __init__(self, root: Path, receiver: Receiver, mailbox: Mailbox, smtp_port: int) -> None:
        self.root, self.var, self.port = root, root / "var", free_port()
        self.log = root / "run.log"
        self.clock = OffsetClock(root / "clock-offset")
        self.receiver, self.mailbox = receiver, mailbox
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            "CITYMGMT_CLOCK_OFFSET_FILE": str(self.clock.path),
            "CITYMGMT_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "CITYMGMT_MAIL_FROM": "centre@example.org",
        }
        self.tokens: dict[str, str] = {}
        self.start()

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, "CITYMGMT_VAR_DIR": str(self.var)}
        done = subprocess.run(
            [str(REPO / ".venv/bin/citymgmt"), *args], env=env, capture_output=True, text=True, check=False
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def start(self) -> None:
        os.environ.update(self.env)  # MakeRun passes this process's environment on
        try:
            self.run = MakeRun(self.var, self.port, self.log)
        finally:
            for key in self.env:
                os.environ.pop(key)
        try:
            self.run.wait_healthy(180)
        except BaseException:
            self.stop()
            raise

    # -- time ------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def move_to(self, when: datetime) -> None:
        """Every process's clock reads `when` from now on (moving only forward)."""
        assert when > self.now()
        self.clock.advance(seconds=(when - self.now()).total_seconds())
        self.tokens.clear()  # tokens expire by the moved clock: sign in again

    # -- HTTP ------------------------------------------------------------------------------------------------

    def headers(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            response = requests.post(
                f"{self.base}/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}, timeout=30
            )
            assert response.status_code == 201, response.text
            self.tokens[username] = response.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def report(self, username: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{self.base}/api/v1/cases", json=body, headers=self.headers(username), timeout=30)
        assert response.status_code == 201, response.text
        case: dict[str, Any] = response.json()
        return case

    def case(self, case_id: int, username: str = "supervisor") -> dict[str, Any]:
        response = requests.get(f"{self.base}/api/v1/cases/{case_id}", headers=self.headers(username), timeout=30)
        assert response.status_code == 200, response.text
        case: dict[str, Any] = response.json()
        return case

    def act(self, case_id: int, username: str, action: str, **body: Any) -> dict[str, Any]:
        version = self.case(case_id, username)["version"]
        response = requests.post(
            f"{self.base}/api/v1/cases/{case_id}/actions/{action}",
            json=body,
            headers={**self.headers(username), "If-Match": str(version)},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        case: dict[str, Any] = response.json()
        return case

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
        found: list[Any] = []

        def ready() -> bool:
            value = check()
            if value:
                found.append(value)
            return bool(value)

        assert wait_until(ready, timeout, interval=0.5), f"{what}: not within {timeout} s\n{self.tail()}"
        return found[-1]

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    # -- what must hold after every test -----------------------------------------------------------------------

    def assert_clean(self) -> None:
        connection = redis_lib.Redis.from_url(EmbeddedRedis(self.var / "redis").url())
        try:
            assert failed_jobs(connection) == []
        finally:
            connection.close()
        log = self.log.read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 2000 : log.index("Traceback") + 3000]

    def stop(self) -> None:
        try:
            self.run.ctrl_c()
        finally:
            self.run.kill()
            subprocess.run(
                [str(REPO / ".venv/bin/citymgmt"), "services", "down"],
                env={**os.environ, "CITYMGMT_VAR_DIR": str(self.var)},
                capture_output=True,
                check=False,
            )


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    root = Path(tempfile.mkdtemp(prefix="citymgmt-live-"))  # not tmp_path: see test_make_run.run_root
    receiver = Receiver()
    mailbox, smtp_port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    system = None
    try:
        system = Live(root, receiver, mailbox, smtp_port)
        system.cli(
            "notify", "channels", "add", "--department", SANITATION, "--webhook", receiver.url, "--secret", SECRET
        )
        system.cli("notify", "channels", "add", "--email", "centre@example.org")
        yield system
    finally:
        if system is not None:
            system.stop()
        controller.stop()
        receiver.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clean(live: Live) -> Iterator[Live]:
    yield live
    live.assert_clean()


def actions(case: dict[str, Any]) -> list[str]:
    return [e["action"] for e in case["events"]]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def test_a_report_goes_yellow_then_red_by_the_sweep_alone_and_round_the_loop(clean: Live) -> None:
    live = clean
    case = live.report("inspector", GARBAGE)
    assert case["status"] == "dispatched" and case["department_code"] == SANITATION  # filed and dispatched at once
    assert case["light"] == "green"
    case_id, warn_at, due_at = case["id"], at(case["warn_at"]), at(case["due_at"])
    live.wait_for("the new-work notice", lambda: [d for d in live.receiver.deliveries if case_id in d.case_ids])

    live.move_to(warn_at + timedelta(seconds=5))
    live.wait_for("the yellow light", lambda: live.case(case_id)["light"] == "yellow")
    live.move_to(due_at + timedelta(seconds=5))
    case = live.wait_for("the red light", lambda: (c := live.case(case_id))["light"] == "red" and c)
    assert {"warn", "overdue"} <= set(actions(case))
    assert case["escalated"] is True and "escalate" in actions(case)

    # The department's webhook and the centre's mailbox heard of both, from the worker alone.
    events = live.wait_for(
        "the warning and overdue notices",
        lambda: (
            (e := {d.event for d in live.receiver.deliveries if case_id in d.case_ids}) >= {"sla_warn", "sla_overdue"}
            and e
        ),
    )
    assert "new_work" in events
    live.wait_for("the centre's e-mails", lambda: len(live.mailbox.messages) >= 2)

    # The loop closes: the department answers the escalation (督办) and handles the case, checked on site, closed
    # (not before the escalation is answered).
    assert case["escalation_due_at"] is not None
    live.act(case_id, f"handler-{SANITATION}", "reply", note="已安排清运")
    handled = live.act(case_id, f"handler-{SANITATION}", "handle", note="已清理")
    assert handled["status"] == "checking"
    live.act(case_id, "inspector", "check", result="pass", note="现场已清理")
    closed = live.act(case_id, "leader", "close", note="结案")
    assert closed["status"] == "closed"
    closed_day = live.now().astimezone(BEIJING).date().isoformat()

    # An hour later the hourly roll-up has run by itself and the dashboard's figures show the case.
    live.move_to(live.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, seconds=5))

    def department_figures() -> dict[str, Any] | None:
        response = requests.get(
            f"{live.base}/api/v1/metrics",
            params={"group_by": "department", "from": closed_day, "to": closed_day},
            headers=live.headers("supervisor"),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        for group in response.json()["groups"]:
            if group["key"] == SANITATION and group["counts"]["closed"] >= 1:
                return dict(group)
        return None

    figures = live.wait_for("the roll-up's figures", department_figures, timeout=120)
    assert figures["counts"]["handled"] >= 1 and figures["counts"]["closed_on_time"] == 0  # handled late


def test_a_hotline_report_left_untouched_goes_red_at_its_filing_deadline(clean: Live) -> None:
    live = clean
    case = live.report("operator", {**GARBAGE, "source": "hotline", "description": "市民来电：暴露垃圾"})
    assert case["source"] == "hotline" and case["status"] == "reported"
    assert case["light"] == "green" and case["due_at"]
    started = time.monotonic()
    live.move_to(at(case["due_at"]) + timedelta(seconds=1))
    red = live.wait_for("the centre step's red light", lambda: (c := live.case(case["id"]))["light"] == "red" and c)
    assert red["status"] == "reported" and "overdue" in actions(red)
    assert time.monotonic() - started < 2 * 60  # within two sweep intervals, with no command typed
    health = requests.get(f"{live.base}/healthz", timeout=30).json()
    assert health["checks"]["periodic"]["jobs"]["sla-sweep"]["state"] == "ok", health
    assert re.match(r"\d{4}-", health["checks"]["periodic"]["jobs"]["sla-sweep"]["last_success_at"])


def test_a_restore_is_refused_while_the_system_runs_and_works_once_it_is_stopped(clean: Live) -> None:
    live = clean
    archive = live.root / "backup.tar"
    live.cli("db", "backup", "--output", str(archive))
    case = live.report("inspector", {**GARBAGE, "category_code": "E0104", "description": "备份之后的上报"})

    refused = live.cli("db", "restore", str(archive), "--replace", ok=False)
    assert refused.returncode == 1
    assert re.match(r"error: \d+ other connections to the database \(citymgmt ×\d+\): stop the web", refused.stderr)
    assert live.case(case["id"])["id"] == case["id"]  # nothing was touched; the system serves on
    assert requests.get(f"{live.base}/healthz", timeout=30).status_code == 200

    # As README's Operations say: stop the system, restore, start it again.
    live.run.ctrl_c()
    live.cli("db", "restore", str(archive), "--replace")
    live.start()
    live.tokens.clear()
    gone = requests.get(f"{live.base}/api/v1/cases/{case['id']}", headers=live.headers("supervisor"), timeout=30)
    assert gone.status_code == 404  # reported after the backup: not in it
    again = live.report("inspector", {**GARBAGE, "category_code": "E0104", "description": "恢复之后的上报"})
    assert again["cell_code"] and again["status"] == "dispatched"
    match = requests.get(
        f"{live.base}/api/v1/grids/match",
        params={"lon": 116.3906, "lat": 39.9158},
        headers=live.headers("inspector"),
        timeout=30,
    )
    assert match.status_code == 200 and match.json()["code"] == again["cell_code"]
