"""FixMyStreet as an Open311 client: its requests exactly as its client code (perllib/Open311.pm) forms them —
extended statuses both ways, photos as photo1, photo2, its own attributes, contact fields as people type them,
update ids resent, and a busy window of updates never cut silently."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from citymgmt.core.config import Settings
from citymgmt.open311.keys import Open311Request, create_key
from dispatch.cases.models import Case, CaseEvent
from dispatch.cases.photos import Attachment
from dispatch.workflow.moves import act
from tests.open311.conftest import FORBIDDEN_CITY, check_shape, xml_data

pytestmark = pytest.mark.usefixtures("beijing")

BASE = "/open311/v2"
# The description FixMyStreet's client writes for a UK-style body (title, detail, url, a signature).
DESCRIPTION = (
    "title: 垃圾桶满溢\n\ndetail: 路口垃圾桶满了两天\n\nurl: https://fms.example.org/report/4711\n\n"
    "Submitted via FixMyStreet\n"
)


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    buffer.seek(0)
    return buffer


def fms_request(key: str, **extra: Any) -> dict[str, Any]:
    """POST requests.xml as FixMyStreet's _populate_service_request_params forms it."""
    return {
        "api_key": key,
        "service_code": "E0102",
        "description": DESCRIPTION,
        "first_name": "Zhang",
        "last_name": "San-" + "x" * 60,  # a long surname: kept (bounded), not refused
        "email": "zhang.san(at)example",  # not an address FixMyStreet checked: the centre still sees it
        "phone": "（010）12345678",  # full-width brackets, as typed on a Chinese keyboard
        "lat": FORBIDDEN_CITY["lat"],
        "long": FORBIDDEN_CITY["long"],
        "media_url": "https://fms.example.org/photo/4711.0.full.jpeg",
        "attribute[fixmystreet_id]": "4711",
        "attribute[closest_address]": "景山前街4号附近",
        "attribute[uprn]": "100023336956",
        **extra,
    }


def test_a_fixmystreet_report_with_its_attributes_photos_and_contact_is_taken(client, db_session, open311_key) -> None:  # type: ignore[no-untyped-def]
    form = fms_request(open311_key, photo1=(jpeg((200, 30, 30)), "1.jpeg", "image/jpeg"),
                       photo2=(jpeg((30, 200, 30), (80, 60)), "2.jpeg", "image/jpeg"))  # fmt: skip
    response = client.post(f"{BASE}/requests.xml", data=form, content_type="multipart/form-data")
    assert response.status_code == 200, response.data
    tag, body = xml_data(response.data)
    assert tag == "service_requests"
    case = db_session.execute(select(Case).where(Case.code == body[0]["service_request_id"])).scalar_one()
    assert case.description == DESCRIPTION.strip()
    assert case.reporter_contact == {
        "name": "Zhang San-" + "x" * 60, "phone": "（010）12345678", "email": "zhang.san(at)example",
    }  # fmt: skip
    extra = db_session.get(Open311Request, case.id)
    assert extra.attributes == {"fixmystreet_id": "4711", "closest_address": "景山前街4号附近", "uprn": "100023336956"}
    widths = db_session.execute(select(Attachment.width).where(Attachment.case_id == case.id).order_by(Attachment.id))
    assert list(widths.scalars()) == [64, 80]  # photo1, then photo2

    # Bounded: a contact field is cut, never a reason to refuse.
    long = client.post(f"{BASE}/requests.json", data=fms_request(open311_key, last_name="长" * 500))
    assert long.status_code == 200, long.data
    code = long.get_json()[0]["service_request_id"]
    kept = db_session.execute(select(Case.reporter_contact).where(Case.code == code)).scalar_one()
    assert kept["name"] == "Zhang " + "长" * 100  # each field cut at 100 characters
    # A file under another name is not dropped unseen.
    odd = client.post(
        f"{BASE}/requests.json",
        data=fms_request(open311_key, upload=(jpeg((1, 2, 3)), "u.jpeg", "image/jpeg")),
        content_type="multipart/form-data",
    )
    assert odd.status_code == 400 and odd.get_json()[0]["description"].startswith("upload: files go in media")


def test_updates_speak_extended_statuses_and_plain_ones_to_a_client_that_asks(  # type: ignore[no-untyped-def]
    client, app, db_session, open311_key, users, clock
) -> None:
    settings: Settings = app.extensions["citymgmt.settings"]
    codes = []
    for _ in range(3):
        response = client.post(f"{BASE}/requests.json", data=fms_request(open311_key))
        assert response.status_code == 200, response.data
        codes.append(response.get_json()[0]["service_request_id"])
    cancelled, merged, original = (db_session.execute(select(Case).where(Case.code == c)).scalar_one() for c in codes)
    now = clock.now()
    act(db_session, cancelled.id, "cancel", users["leader"], cancelled.version, {"note": "无此问题"}, now, settings)
    body = {"original": original.id, "note": "重复"}
    act(db_session, merged.id, "merge", users["operator"], merged.version, body, now, settings)
    db_session.commit()

    def statuses(**params: str) -> dict[str, list[str]]:
        response = client.get(f"{BASE}/servicerequestupdates.json", query_string=params)
        assert response.status_code == 200, response.data
        check_shape("servicerequestupdates", response.get_json())
        out: dict[str, list[str]] = {}
        for update in response.get_json():
            out.setdefault(update["service_request_id"], []).append(update["status"])
        return out

    extended = statuses()
    # Cancelled is not fixed: FixMyStreet reads CLOSED as "fixed" unless it knows extended statuses.
    assert extended[cancelled.code][-1] == "NO_FURTHER_ACTION" and extended[merged.code][-1] == "DUPLICATE"
    assert statuses(api_key=open311_key) == extended  # the key's default: extended
    plain_key, _ = create_key(db_session, "t-plain", clock.now(), status_style="plain")
    db_session.commit()
    plain = statuses(api_key=plain_key)
    assert plain[cancelled.code][-1] == "CLOSED" and plain[merged.code][-1] == "CLOSED"
    assert set(plain[cancelled.code][:-1]) == {"OPEN"}
    assert client.get(f"{BASE}/servicerequestupdates.json", query_string={"api_key": "nope"}).status_code == 403


def test_a_fixmystreet_update_with_extended_statuses_once_per_update_id(client, db_session, open311_key) -> None:  # type: ignore[no-untyped-def]
    code = client.post(f"{BASE}/requests.json", data=fms_request(open311_key)).get_json()[0]["service_request_id"]
    case_id = db_session.execute(select(Case.id).where(Case.code == code)).scalar_one()
    sent = ("FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "DUPLICATE", "NOT_COUNCILS_RESPONSIBILITY",
            "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "REOPEN")  # fmt: skip
    for n, status in enumerate(sent):
        # As _populate_service_request_update_params forms it.
        form = {
            "api_key": open311_key, "service_request_id": code, "status": status, "description": f"更新 {n}",
            "updated_datetime": "2026-11-23T09:40:00+08:00", "first_name": "Zhang", "last_name": "-",
            "email": "zhang.san@example.org", "phone": "（010）12345678", "update_id": f"fms-{n}",
        }  # fmt: skip
        first = client.post(f"{BASE}/servicerequestupdates.xml", data=form)
        assert first.status_code == 200, (status, first.data)
        again = client.post(f"{BASE}/servicerequestupdates.xml", data=form)  # sent again: its answer was lost
        assert again.status_code == 200 and xml_data(again.data) == xml_data(first.data)
        event = db_session.get(CaseEvent, int(xml_data(first.data)[1][0]["update_id"]))
        assert event.payload["open311"]["status"] == status and event.payload["open311"]["update_id"] == f"fms-{n}"
    comments = select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.action == "comment")
    assert db_session.execute(comments).scalar_one() == 9  # one per update_id
    refused = client.post(f"{BASE}/servicerequestupdates.json", data={**form, "status": "MAYBE", "update_id": "x"})
    assert refused.status_code == 400 and "status" in refused.get_json()[0]["description"]


def test_a_busy_window_of_updates_is_never_cut_silently(client, db_session, open311_key, clock) -> None:  # type: ignore[no-untyped-def]
    code = client.post(f"{BASE}/requests.json", data=fms_request(open311_key)).get_json()[0]["service_request_id"]
    case_id = db_session.execute(select(Case.id).where(Case.code == code)).scalar_one()
    start = clock.now() - timedelta(minutes=1)
    # 1,200 changes of state in an hour (a busy city's hour): rows as the loop writes them.
    db_session.execute(
        text(
            "INSERT INTO case_events (case_id, action, at, from_status, to_status, payload)"
            " SELECT :case, 'comment', :at + n * interval '1 second', 'reported', 'filed', '{}'::jsonb"
            " FROM generate_series(1, 1200) n"
        ),
        {"case": case_id, "at": clock.now()},
    )
    db_session.commit()
    window = {"start_date": start.isoformat(), "end_date": (start + timedelta(hours=1)).isoformat()}
    # FixMyStreet names the window and no page: more than one page is refused, saying how to ask.
    refused = client.get(f"{BASE}/servicerequestupdates.xml", query_string=window)
    assert refused.status_code == 400
    assert "holds more than 1000 updates" in xml_data(refused.data)[1][0]["description"]
    # Paged: every update once, oldest first, each page saying whether another follows.
    seen: list[tuple[str, str]] = []
    url, params = f"{BASE}/servicerequestupdates.json", {**window, "page": "1"}
    while True:
        page = client.get(url, query_string=params)
        assert page.status_code == 200, page.data
        seen += [(u["updated_datetime"], u["update_id"]) for u in page.get_json()]
        if "Link" not in page.headers:
            break
        link = page.headers["Link"]
        assert link.endswith('>; rel="next"') and "page=" in link
        following = urlsplit(link[1 : link.index(">")])
        url, params = following.path, dict(parse_qsl(following.query))
    assert len(seen) == len({u for _, u in seen}) == 1201  # the report's own update, and the 1,200
    assert [datetime.fromisoformat(t) for t, _ in seen] == sorted(datetime.fromisoformat(t) for t, _ in seen)
