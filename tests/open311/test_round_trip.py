"""A round trip with a real third-party GeoReport v2 client against a live server.

The client is `georeport` (PyPI), which reads (services, definitions, requests) in JSON and XML but has no call to
create a request; the report is POSTed with `requests` as a 311 app does (form-encoded, the specification's fields).
The older clients on PyPI (`open311`, `three`) are Python 2 only and do not import on Python 3.11.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from georeport import GeoReport

from tests.conftest import make_test_app, serve
from tests.open311.conftest import FORBIDDEN_CITY, PERSONAL, check_shape


@pytest.fixture
def live_open311(servers) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The demo city served live on a database of its own: what the client reports there is committed, and must not
    show up in the suite's shared database (the evaluation tests count every case of a period)."""
    url = servers.demo_database("citymgmt_open311_live")
    app = make_test_app(servers, url, redis_db=3, open311_jurisdiction_id="beijing.example.gov.cn")
    with serve(app, "live-open311") as base:
        yield base + "/open311/v2"


def test_a_third_party_client_reports_and_follows_a_request(live_open311: str) -> None:
    form = {
        "api_key": "demo-open311-key",
        "jurisdiction_id": "beijing.example.gov.cn",
        "service_code": "E0102",
        **FORBIDDEN_CITY,
        **PERSONAL,
        "description": "Round trip: exposed garbage by the east gate",
        "media_url": "https://photos.example.org/round-trip.jpg",
    }
    with requests.post(f"{live_open311}/requests.json", data=form, timeout=30) as created:
        assert created.status_code == 200, created.text
        body = created.json()
    check_shape("post_request", body)
    code = body[0]["service_request_id"]

    for fmt in ("json", "xml"):
        city = GeoReport(live_open311, jurisdiction="beijing.example.gov.cn", output_format=fmt)
        services = city.get_service_list()
        assert any(s["service_code"] == "E0102" for s in services)
        definition = city.get_service_definition("E0102")
        assert definition["service_code"] == "E0102"
        request = city.get_service_request(code)
        assert request["service_request_id"] == code and request["status"] == "open"
        assert request["description"] == form["description"] and request["media_url"] == form["media_url"]
        assert float(request["lat"]) == pytest.approx(39.9158)
        found = city.get_service_requests(service_request_id=code)
        found = found if isinstance(found, list) else [found]  # xmltodict gives one item as a dict
        assert [r["service_request_id"] for r in found] == [code]
        for secret in PERSONAL.values():
            assert secret not in str(request) and secret not in str(found)

    elsewhere = GeoReport(live_open311, jurisdiction="shanghai.example.gov.cn")
    with pytest.raises(requests.HTTPError) as refused:
        elsewhere.get_service_list()
    assert refused.value.response.status_code == 404
    assert refused.value.response.json()[0]["code"] == 404
