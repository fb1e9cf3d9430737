"""/open311/v2: the GeoReport v2 documents in both formats, reports in, requests and updates out, no personal data."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import select, text

from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.errors import Forbidden
from citymgmt.core.identity import Role
from citymgmt.open311.keys import Open311Key, Open311Request
from dispatch.cases.models import Case
from dispatch.cases.photos import Attachment
from dispatch.intake.operations import source_for
from dispatch.workflow.moves import act
from tests.open311.conftest import FORBIDDEN_CITY, PERSONAL, check_shape, same_in_both, xml_data

pytestmark = pytest.mark.usefixtures("beijing")

BASE = "/open311/v2"


def post(client, key: str | None, fmt: str = "json", **fields):  # type: ignore[no-untyped-def]
    data = {"service_code": "E0102", **FORBIDDEN_CITY, "description": "路边暴露垃圾", **fields}
    if key is not None:
        data["api_key"] = key
    return client.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None})


def new_request(client, key: str, **fields) -> str:  # type: ignore[no-untyped-def]
    response = post(client, key, **fields)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    check_shape("post_request", body)
    return str(body[0]["service_request_id"])


def test_discovery_in_both_formats(client) -> None:  # type: ignore[no-untyped-def]
    document = same_in_both(client, f"{BASE}/discovery", "discovery", "discovery")
    endpoint = document["endpoints"][0]
    assert endpoint["url"] == "http://localhost/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"


def test_services_are_the_current_categories(client) -> None:  # type: ignore[no-untyped-def]
    services = same_in_both(client, f"{BASE}/services", "services", "services")
    garbage = next(s for s in services if s["service_code"] == "E0102")
    assert garbage["service_name"] == "暴露垃圾" and garbage["metadata"] is True and garbage["type"] == "realtime"
    assert garbage["description"] == "道路、公共场所有暴露垃圾"
    assert garbage["group"]  # the major class
    assert all(len(s["service_code"]) == 5 for s in services)  # minor classes only
    english = client.get(f"{BASE}/services.json", headers={"Accept-Language": "en"}).get_json()
    assert next(s for s in english if s["service_code"] == "E0102")["service_name"] == "Exposed garbage"


def test_a_service_definition_has_urgency_and_the_filing_criteria(client) -> None:  # type: ignore[no-untyped-def]
    definition = same_in_both(client, f"{BASE}/services/E0102", "service_definition", "service_definition")
    urgency, criteria = definition["attributes"]
    assert urgency["code"] == "urgency" and urgency["variable"] is True and urgency["required"] is False
    assert {v["key"] for v in urgency["values"]} <= {"urgent", "normal"} and urgency["values"]
    assert criteria["variable"] is False and criteria["description"] == "道路、公共场所有暴露垃圾"
    missing = same_in_both(client, f"{BASE}/services/E9999", "errors", "errors")
    assert missing[0]["code"] == 404 and "E9999" in missing[0]["description"]


def test_a_report_goes_through_intake_and_reads_back_without_personal_data(  # type: ignore[no-untyped-def]
    client, db_session, open311_key, users, clock
) -> None:
    code = new_request(
        client,
        open311_key,
        **PERSONAL,
        address_string="景山前街4号",
        address_id="addr-77",
        media_url="https://photos.example.org/p/1.jpg",
        service_code="C0101",
        **{"attribute[urgency]": "urgent"},
    )
    case = db_session.execute(select(Case).where(Case.code == code)).scalar_one()
    assert case.source == "open311" and case.urgency == "urgent" and case.address == "景山前街4号"
    assert case.reporter_contact == {"name": "三 张", "phone": "13800138000", "email": "zhang.san@example.org"}
    extra = db_session.get(Open311Request, case.id)
    assert extra.media_url == "https://photos.example.org/p/1.jpg" and extra.attributes == {"urgency": "urgent"}
    [request] = same_in_both(client, f"{BASE}/requests/{code}", "service_requests", "requests")
    assert request["status"] == "open" and request["service_code"] == "C0101" and request["address_id"] == "addr-77"
    assert request["lat"] == pytest.approx(39.9158) and request["long"] == pytest.approx(116.3906)
    assert request["requested_datetime"] == "2026-11-23T09:30:00+08:00"
    assert request["media_url"] == "https://photos.example.org/p/1.jpg"
    assert request["agency_responsible"] is None  # not dispatched yet

    # The centre has it verified on site, files and dispatches it: the department answers for it, by the deadline.
    settings: Settings = client.application.extensions["citymgmt.settings"]
    for action, user, body in (
        ("request_verification", "operator", {}),
        ("verify", "inspector", {"result": "pass"}),
        ("file", "leader", {}),
    ):
        case, _ = act(db_session, case.id, action, users[user], case.version, body, clock.now(), settings)
    case, _ = act(
        db_session, case.id, "dispatch", users["dispatcher"], case.version, {"department": "bj-water"},
        clock.now(), settings,
    )  # fmt: skip
    db_session.flush()
    [request] = same_in_both(client, f"{BASE}/requests/{code}", "service_requests", "requests")
    assert request["agency_responsible"] == "北京市自来水集团"
    assert datetime.fromisoformat(request["expected_datetime"]) == case.disposal_due_at
    assert request["status_notes"] == "已派遣至处置部门"
    updates = same_in_both(client, f"{BASE}/servicerequestupdates", "service_request_updates", "servicerequestupdates")
    mine = [u for u in updates if u["service_request_id"] == code]
    assert [u["status"] for u in mine] == ["OPEN", "INVESTIGATING", "OPEN", "OPEN", "ACTION_SCHEDULED"]
    assert mine[0]["media_url"] == "https://photos.example.org/p/1.jpg"

    # Nothing personal in anything public, in either format.
    for path in (f"requests/{code}", "requests", "servicerequestupdates", f"tokens/{code}"):
        for fmt in ("json", "xml"):
            body = client.get(f"{BASE}/{path}.{fmt}").data.decode("utf-8")
            for secret in (*PERSONAL.values(), "t-client", "open311-t-client", "Open311: t-client"):
                assert secret not in body, (path, fmt, secret)
    tokens = same_in_both(client, f"{BASE}/tokens/{code}", "service_requests", "token")
    assert tokens == [{"service_request_id": code, "token": code}]


def test_a_photo_sent_as_media_is_attached(client, db_session, open311_key) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    response = client.post(
        f"{BASE}/requests.xml",
        data={"api_key": open311_key, "service_code": "E0102", **FORBIDDEN_CITY,
              "media": (io.BytesIO(buffer.getvalue()), "p.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 200, response.data
    tag, body = xml_data(response.data)
    assert tag == "service_requests" and body[0]["service_notice"] == ""
    case = db_session.execute(select(Case).where(Case.code == body[0]["service_request_id"])).scalar_one()
    assert db_session.execute(select(Attachment.width).where(Attachment.case_id == case.id)).scalar_one() == 64
    bad = client.post(
        f"{BASE}/requests.json",
        data={"api_key": open311_key, "service_code": "E0102", **FORBIDDEN_CITY,
              "media": (io.BytesIO(b"not an image"), "p.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert bad.status_code == 400 and bad.get_json()[0]["description"].startswith("media:")


def test_report_photos_are_published_only_when_the_city_says_so(  # type: ignore[no-untyped-def]
    client, db_session, open311_key, configure, users, clock
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 160, 40)).save(buffer, "JPEG")
    sent = client.post(
        f"{BASE}/requests.json",
        data={"api_key": open311_key, "service_code": "E0103", **FORBIDDEN_CITY,
              "media": (io.BytesIO(buffer.getvalue()), "p.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )  # fmt: skip
    code = sent.get_json()[0]["service_request_id"]
    photo = db_session.execute(
        select(Attachment).join(Case, Case.id == Attachment.case_id).where(Case.code == code)
    ).scalar_one()
    name = f"{photo.id}-{photo.sha256[:16]}"

    # Off by default: no media_url, and the photo's public address does not answer.
    assert client.get(f"{BASE}/requests/{code}.json").get_json()[0]["media_url"] is None
    assert client.get(f"{BASE}/media/{name}.jpg").status_code == 404

    configure(open311_publish_photos=True)
    one = client.get(f"{BASE}/requests/{code}.json").get_json()[0]
    assert one["media_url"] == f"http://localhost{BASE}/media/{name}.jpg"
    listed = client.get(f"{BASE}/requests.json", query_string={"service_request_id": code}).get_json()
    assert listed[0]["media_url"] == one["media_url"]
    _, xml_body = xml_data(client.get(f"{BASE}/requests/{code}.xml").data)
    assert xml_body[0]["media_url"] == one["media_url"]
    image = client.get(f"{BASE}/media/{name}.jpg")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.headers["Cache-Control"] == "public, max-age=86400"
    assert Image.open(io.BytesIO(image.data)).size == (80, 60)
    image.close()

    # Names cannot be guessed, and photos taken after the report (the handler's) are never public.
    assert client.get(f"{BASE}/media/{photo.id}-{'0' * 16}.jpg").status_code == 404
    assert client.get(f"{BASE}/media/{photo.id}.jpg").status_code == 404
    case = db_session.execute(select(Case).where(Case.code == code)).scalar_one()
    later = Attachment(
        case_id=case.id, event_id=None, uploaded_by=users["handler"].id, sha256="ab" * 32, path=photo.path,
        thumb_path=photo.thumb_path, width=80, height=60, bytes=photo.bytes, created_at=clock.now(),
    )  # fmt: skip
    db_session.add(later)
    db_session.flush()
    assert client.get(f"{BASE}/media/{later.id}-{'ab' * 8}.jpg").status_code == 404
    # An address given by the client stays as it was.
    given = new_request(client, open311_key, media_url="https://photos.example.org/1.jpg")
    assert client.get(f"{BASE}/requests/{given}.json").get_json()[0]["media_url"] == "https://photos.example.org/1.jpg"


def test_requests_filters_defaults_and_paging(client, open311_key, clock) -> None:  # type: ignore[no-untyped-def]
    clock.advance(days=-100)
    old = new_request(client, open311_key)
    clock.advance(days=100)
    first = new_request(client, open311_key)
    clock.advance(minutes=5)
    second = new_request(client, open311_key, service_code="E0103")
    clock.advance(minutes=5)

    def codes(**params) -> list[str]:  # type: ignore[no-untyped-def]
        response = client.get(f"{BASE}/requests.json", query_string=params)
        assert response.status_code == 200, response.get_json()
        check_shape("requests", response.get_json())
        return [r["service_request_id"] for r in response.get_json()]

    recent = codes()
    assert recent.index(second) < recent.index(first) and old not in recent  # newest first, 90 days by default
    assert codes(service_request_id=f"{old},{second}") == [second, old]  # ids override every other filter
    assert codes(service_request_id=old, status="closed") == [old]
    assert first not in codes(service_code="E0103") and second in codes(service_code="e0103,E0102")
    assert old in codes(start_date="2026-08-01T00:00:00+08:00", end_date="2026-08-20T00:00:00Z")
    assert second in codes(start_date="2026-11-23T01:30:00Z") and first not in codes(start_date="2026-11-23T01:31:00Z")
    assert second in codes(status="open") and second not in codes(status="closed")
    assert codes(service_code="E0102,E0103", page_size=1) == [second]
    assert codes(service_code="E0102,E0103", page_size=1, page=2)[0] == first
    assert len(codes(page_size=1000)) <= 1000


def test_source_open311_is_only_for_open311_clients(db_session, open311_key, users) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.identity import User

    client_user = db_session.execute(select(User).where(User.username == "open311-t-client")).scalar_one()
    assert source_for(client_user, "open311") == "open311" and client_user.roles == [Role.operator]
    with pytest.raises(Forbidden):
        source_for(users["operator"], "open311")


ERRORS = [
    (
        "urgency the service lacks",
        {"attribute[urgency]": "urgent"},
        400,
        "attribute[urgency]",
    ),  # E0102 has no urgent limit
    ("missing api_key", dict(key=None), 400, "api_key"),
    ("unknown api_key", dict(key="nope"), 403, "api_key"),
    ("unknown service", dict(service_code="E9999"), 404, "service_code"),
    ("no service", dict(service_code=""), 400, "service_code"),
    ("lat not a number", dict(lat="abc"), 400, "lat"),
    ("long out of range", dict(long="181"), 400, "long"),
    ("outside the grid", dict(lat="31.2304", long="121.4737"), 400, "cell"),
    (
        "an address not in the gazetteer",
        dict(lat=None, long=None, address_string="朝阳区三里屯路19号"),
        400,
        "gazetteer",
    ),
    ("an address_id only", dict(lat=None, long=None, address_id="addr-77"), 400, "address_id"),
    ("no location", dict(lat=None, long=None), 400, "lat"),
    ("malformed attribute", {"attribute[colour": "red"}, 400, "attribute[colour"),
    ("bad urgency", {"attribute[urgency]": "whenever"}, 400, "attribute[urgency]"),
    ("bad media_url", dict(media_url="ftp://x/y"), 400, "media_url"),
    ("wrong jurisdiction", dict(jurisdiction_id="elsewhere.gov"), 404, "jurisdiction_id"),
    ("NUL in the description", dict(description="a\x00b"), 400, "description"),
    ("a number past the database's", dict(lat="1" + "0" * 400), 400, "lat"),
]


@pytest.mark.parametrize(("why", "change", "status", "named"), ERRORS, ids=[e[0] for e in ERRORS])
def test_a_bad_post_is_refused_in_the_spec_error_format(client, open311_key, why, change, status, named) -> None:  # type: ignore[no-untyped-def]
    change = dict(change)
    key = change.pop("key", open311_key)
    for fmt in ("json", "xml"):
        response = post(client, key, fmt, **change)
        assert response.status_code == status, response.data
        if fmt == "json":
            body = json.loads(response.data.decode("utf-8"))
            check_shape("errors", body)
        else:
            tag, body = xml_data(response.data)
            assert tag == "errors"
            body = [{"code": int(e["code"]), "description": e["description"]} for e in body]
        assert body[0]["code"] == status and named in body[0]["description"], body


def test_a_report_with_only_an_address_is_placed_at_the_gazetteer_s_point(  # type: ignore[no-untyped-def]
    client, db_session, open311_key
) -> None:
    # The demo city's gazetteer has a door number in every cell (grids.addresses); typed a little differently.
    code = new_request(client, open311_key, lat=None, long=None, address_string=" 东城区街道001社区001第1号")
    case = db_session.execute(select(Case).where(Case.code == code)).scalar_one()
    assert case.cell_code == "110101001001001" and case.address == "东城区街道001社区001第1号"
    [request] = same_in_both(client, f"{BASE}/requests/{code}", "service_requests", "requests")
    point = db_session.execute(
        text("SELECT ST_X(point), ST_Y(point) FROM addresses WHERE address = '东城区街道001社区001第1号'")
    ).one()
    assert (request["long"], request["lat"]) == pytest.approx(tuple(point))


def test_a_revoked_key_is_refused(client, db_session, open311_key, clock) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.open311.keys import revoke_key

    new_request(client, open311_key)
    revoke_key(db_session, "t-client", clock.now())
    response = post(client, open311_key)
    assert response.status_code == 403 and "revoked" in response.get_json()[0]["description"]


BAD_QUERIES = [
    ("requests", {"start_date": "yesterday"}, 400, "start_date"),
    ("requests", {"end_date": "2026-13-01"}, 400, "end_date"),
    ("requests", {"start_date": "2026-11-20T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, 400, "start_date"),
    ("requests", {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, 400, "90 days"),
    ("requests", {"status": "pending"}, 400, "status"),
    ("requests", {"page_size": "5000"}, 400, "page_size"),
    ("requests", {"jurisdiction_id": "elsewhere.gov"}, 404, "jurisdiction_id"),
    ("servicerequestupdates", {"start_date": "nope"}, 400, "start_date"),
    ("requests/19990101000001", {}, 404, "19990101000001"),
    ("tokens/nope", {}, 404, "nope"),
    ("no-such-thing", {}, 404, "no-such-thing"),
]


@pytest.mark.parametrize(("path", "params", "status", "named"), BAD_QUERIES)
def test_a_bad_query_is_refused_in_the_spec_error_format(client, path, params, status, named) -> None:  # type: ignore[no-untyped-def]
    body = same_in_both(client, f"{BASE}/{path}", "errors", "errors", query_string=params)
    assert body[0]["code"] == status and named in body[0]["description"], body


def test_a_configured_jurisdiction_is_accepted_and_others_refused(client, open311_key, configure) -> None:  # type: ignore[no-untyped-def]
    configure(open311_jurisdiction_id="beijing.example.gov.cn")
    assert (
        client.get(f"{BASE}/services.json", query_string={"jurisdiction_id": "beijing.example.gov.cn"}).status_code
        == 200
    )
    assert client.get(f"{BASE}/services.json").status_code == 200  # one jurisdiction: it may be left out
    new_request(client, open311_key, jurisdiction_id="beijing.example.gov.cn")
    refused = post(client, open311_key, jurisdiction_id="shanghai.example.gov.cn")
    assert refused.status_code == 404 and "beijing.example.gov.cn" in refused.get_json()[0]["description"]


def test_posts_are_rate_limited_per_key(client, open311_key, configure, clock) -> None:  # type: ignore[no-untyped-def]
    configure(open311_posts_per_minute=2)
    clock.at = clock.at.replace(second=10)
    new_request(client, open311_key)
    new_request(client, open311_key)
    for fmt in ("json", "xml"):
        limited = post(client, open311_key, fmt)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "50"
        assert b"more than 2 POSTs a minute" in limited.data
    check_shape("errors", post(client, open311_key).get_json())
    clock.advance(minutes=1)
    new_request(client, open311_key)  # the next minute has its own count


def test_with_redis_unreachable_posts_go_through_unlimited(app, client, open311_key, configure, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The limit is a courtesy to the city: a report is not refused because the counter's store is down."""
    from redis import Redis

    configure(open311_posts_per_minute=1)
    nowhere = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    monkeypatch.setitem(app.extensions, "citymgmt.redis", nowhere)  # a real client; no server listens there
    new_request(client, open311_key)
    new_request(client, open311_key)


def test_keys_are_created_and_revoked_from_the_command_line(app, client) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    runner = app.test_cli_runner()
    created = runner.invoke(cli, ["open311", "keys", "create", "t-fixmystreet"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert len(key) >= 40
    new_request(client, key)
    again = runner.invoke(cli, ["open311", "keys", "create", "t-fixmystreet"])
    assert again.exit_code == 1 and "exists" in again.output
    revoked = runner.invoke(cli, ["open311", "keys", "revoke", "t-fixmystreet"])
    assert revoked.exit_code == 0, revoked.output
    assert post(client, key).status_code == 403
    assert runner.invoke(cli, ["open311", "keys", "revoke", "t-nobody"]).exit_code == 1
    plain = runner.invoke(cli, ["open311", "keys", "create", "t-plain", "--statuses", "plain"])
    assert plain.exit_code == 0, plain.output

    def style() -> str:
        found = db.session.execute(select(Open311Key.status_style).where(Open311Key.name == "t-plain"))
        return str(found.scalar_one())

    assert style() == "plain"
    changed = runner.invoke(cli, ["open311", "keys", "statuses", "t-plain", "extended"])
    assert changed.exit_code == 0 and "reads extended statuses" in changed.output
    assert style() == "extended"
    assert runner.invoke(cli, ["open311", "keys", "statuses", "t-plain", "fancy"]).exit_code == 2


def test_the_demo_key_works(client) -> None:  # type: ignore[no-untyped-def]
    new_request(client, "demo-open311-key")


def test_a_client_update_is_a_comment_for_the_centre(client, db_session, open311_key, clock) -> None:  # type: ignore[no-untyped-def]
    from dispatch.cases.models import CaseEvent

    code = new_request(client, open311_key)
    clock.advance(minutes=3)
    form = {"api_key": open311_key, "service_request_id": code, "description": "还在，越来越多", "status": "OPEN",
            "email": PERSONAL["email"], "first_name": "三", "update_id": "fms-991"}  # fmt: skip
    response = client.post(f"{BASE}/servicerequestupdates.xml", data=form)
    assert response.status_code == 200, response.data
    tag, body = xml_data(response.data)
    assert tag == "service_request_updates"
    check_shape("post_update", body)
    event = db_session.get(CaseEvent, int(body[0]["update_id"]))
    assert event.action == "comment" and event.payload["note"] == "还在，越来越多"
    assert event.payload["open311"] == {
        "client": "t-client", "status": "OPEN", "update_id": "fms-991",
        "contact": {"name": "三", "email": PERSONAL["email"]},
    }  # fmt: skip
    updates = client.get(f"{BASE}/servicerequestupdates.json").data.decode("utf-8")
    assert code in updates and PERSONAL["email"] not in updates and "越来越多" not in updates
    for change, status, named in (
        ({"service_request_id": "19990101000001"}, 404, "service_request_id"),
        ({"description": ""}, 400, "description"),
        ({"status": "MAYBE"}, 400, "status"),
        ({"api_key": ""}, 400, "api_key"),
    ):
        refused = client.post(f"{BASE}/servicerequestupdates.json", data={**form, **change})
        assert refused.status_code == status, refused.data
        check_shape("errors", refused.get_json())
        assert named in refused.get_json()[0]["description"]


def test_xml_stays_well_formed_whatever_the_text(client, open311_key) -> None:  # type: ignore[no-untyped-def]
    """A description pasted from a word processor (vertical tab, form feed) is kept as given and shown in JSON, and
    written as U+FFFD in XML, which XML 1.0 cannot otherwise hold: the feed stays readable by every XML client."""
    code = new_request(client, open311_key, description="井盖\x0b缺失\x0c请处理")
    as_json = client.get(f"{BASE}/requests/{code}.json").get_json()
    assert as_json[0]["description"] == "井盖\x0b缺失\x0c请处理"
    for path in (f"{BASE}/requests/{code}.xml", f"{BASE}/requests.xml"):
        response = client.get(path)
        assert response.status_code == 200
        _, requests = xml_data(response.data)  # raises unless well-formed
        assert "井盖\ufffd缺失\ufffd请处理" in [r["description"] for r in requests]


def test_urls_no_endpoint_serves_answer_in_the_georeport_error_format(client) -> None:  # type: ignore[no-untyped-def]
    for path in (f"{BASE}/services.html", f"{BASE}/requests.csv", f"{BASE}/nothing.json"):
        response = client.get(path)
        assert response.status_code == 404
        body = response.get_json()
        assert isinstance(body, list) and body[0]["code"] == 404 and body[0]["description"], body
    xml = client.get(f"{BASE}/nothing.xml")
    root, errors = xml_data(xml.data)
    assert xml.status_code == 404 and root == "errors" and errors[0]["code"] == "404" and errors[0]["description"]
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"  # elsewhere: the app's shape
