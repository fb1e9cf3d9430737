"""Photos with a report: re-encoded, thumbnailed, no EXIF in any copy, bad files refused with nothing stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

pytestmark = pytest.mark.usefixtures("beijing")

FORM = {"category_code": "E0102", "lon": "116.3906", "lat": "39.9158", "description": "垃圾"}


def jpeg_with_gps(width: int = 4000, height: int = 3000) -> bytes:
    """A phone-like photo: large, with EXIF holding a GPS position, the camera and an owner."""
    image = Image.new("RGB", (width, height), (120, 160, 90))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "王伟"  # Artist
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (39.0, 54.0, 56.88), 3: "E", 4: (116.0, 23.0, 26.16)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=70)
    return out.getvalue()


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def post(client, headers, photos: list[tuple[bytes, str]], **form):  # type: ignore[no-untyped-def]
    data = {**FORM, **form, "photos": [(io.BytesIO(content), name) for content, name in photos]}
    return client.post("/api/v1/cases", data=data, headers=headers, content_type="multipart/form-data")


def counts(db_session, photo_dir: Path) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    rows = db_session.execute(text("SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM attachments)")).one()
    files = len(list(photo_dir.rglob("*.jpg"))) if photo_dir.exists() else 0
    return rows[0], rows[1], files


@pytest.fixture
def photo_dir(app) -> Path:  # type: ignore[no-untyped-def]
    directory: Path = app.extensions["citymgmt.settings"].photos
    return directory


def test_photos_are_stored_without_exif_and_served_to_those_who_may_see_the_case(  # type: ignore[no-untyped-def]
    client, token_for, db_session, make_user
) -> None:
    headers = token_for("inspector")
    response = post(client, headers, [(jpeg_with_gps(), "IMG_0001.jpg"), (png(800, 600), "sketch.png")])
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert len(case["photos"]) == 2
    first = case["photos"][0]
    assert (first["width"], first["height"]) == (2560, 1920)  # long side brought down to 2560
    assert first["event_id"] is not None
    stored = client.get(first["url"], headers=headers)
    assert stored.status_code == 200 and stored.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(stored.data))
    assert image.size == (2560, 1920) and len(image.getexif()) == 0
    assert b"PhoneMaker" not in stored.data and "王伟".encode() not in stored.data
    stored.close()
    thumb = client.get(first["thumb_url"], headers=headers)
    assert (
        max(Image.open(io.BytesIO(thumb.data)).size) == 320 and len(Image.open(io.BytesIO(thumb.data)).getexif()) == 0
    )
    thumb.close()
    # The phone's GPS fix is kept for staff, in the database only.
    gps = db_session.execute(text("SELECT exif_gps FROM attachments WHERE id = :id"), {"id": first["id"]}).scalar_one()
    assert gps == {"lat": pytest.approx(39.9158, abs=1e-4), "lon": pytest.approx(116.3906, abs=1e-4)}
    make_user("t-stranger", "inspector")
    stranger = client.post("/api/v1/auth/token", json={"username": "t-stranger", "password": "a-good-long-password"})
    assert (
        client.get(first["url"], headers={"Authorization": f"Bearer {stranger.get_json()['token']}"}).status_code == 404
    )
    assert client.get(first["url"]).status_code == 401


def test_a_retried_report_with_photos_stores_them_once(client, token_for, db_session, photo_dir) -> None:  # type: ignore[no-untyped-def]
    headers = {**token_for("inspector"), "Idempotency-Key": "photo-retry-0001"}
    first = post(client, headers, [(jpeg_with_gps(800, 600), "a.jpg")])
    before = counts(db_session, photo_dir)
    again = post(client, headers, [(jpeg_with_gps(800, 600), "a.jpg")])
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert counts(db_session, photo_dir) == before


def truncated() -> bytes:
    return jpeg_with_gps(800, 600)[:3000]


@pytest.mark.parametrize(
    ("photos", "message"),
    [
        ([(b"%PDF-1.4 not a photo", "report.pdf")], "photos[0] is not a JPEG, PNG or WebP photo"),
        ([(b"GIF89a" + b"\x00" * 100, "anim.gif")], "photos[0] is not a JPEG, PNG or WebP photo"),
        ([(png(10, 10), "ok.png"), (truncated(), "cut.jpg")], "photos[1] is damaged or truncated"),
        ([(png(10_000, 10_000, "1"), "bomb.png")], "photos[0] has 10000x10000 pixels, more than 50 megapixels"),
        ([(b"", "empty.jpg")], "photos[0] is empty"),
        ([(png(10, 10), f"p{i}.png") for i in range(10)], "at most 9 photos"),
    ],
)
def test_bad_photos_refuse_the_report_and_store_nothing(  # type: ignore[no-untyped-def]
    client, token_for, db_session, photo_dir, photos, message: str
) -> None:
    before = counts(db_session, photo_dir)
    response = post(client, token_for("inspector"), photos)
    assert response.status_code == 422
    assert message in response.get_json()["error"]["message"]
    assert counts(db_session, photo_dir) == before


def test_an_oversized_photo_is_refused(client, token_for, db_session, photo_dir) -> None:  # type: ignore[no-untyped-def]
    before = counts(db_session, photo_dir)
    response = post(client, token_for("inspector"), [(b"\xff\xd8" + b"\x00" * (16 * 1024 * 1024), "huge.jpg")])
    try:
        assert response.status_code == 422 and "larger than 15 MB" in response.get_json()["error"]["message"]
        assert counts(db_session, photo_dir) == before
    finally:  # the test client spools a body this large to a temporary file (wsgi.input): close it
        response.request.environ["wsgi.input"].close()
        response.close()


def test_form_fields_are_checked_like_json(client, token_for) -> None:  # type: ignore[no-untyped-def]
    response = post(client, token_for("inspector"), [], category_code="E05")
    assert response.status_code == 422 and "E05 is a major class" in response.get_json()["error"]["message"]


def test_a_file_under_another_name_refuses_the_report(client, token_for, db_session, photo_dir) -> None:  # type: ignore[no-untyped-def]
    """A file sent as `photo` (or anything but `photos`) would have been dropped without a word: it is refused."""
    before = counts(db_session, photo_dir)
    data = {**FORM, "photo": (io.BytesIO(png(10, 10)), "p.png"), "photos": [(io.BytesIO(png(10, 10)), "q.png")]}
    response = client.post(
        "/api/v1/cases", data=data, headers=token_for("inspector"), content_type="multipart/form-data"
    )
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "unknown_file_field" and error["details"] == {"photo": "unknown file field"}
    assert counts(db_session, photo_dir) == before


def test_photos_over_the_requests_pixel_budget_are_refused_before_any_is_decoded(  # type: ignore[no-untyped-def]
    client, token_for, db_session, photo_dir
) -> None:
    """Small files of many pixels (each under the per-photo limit) cost CPU by the pixel to decode: a request whose
    photos declare more than 120 megapixels together is refused from their headers."""
    before = counts(db_session, photo_dir)
    heavy = png(7000, 7000, "1")  # 49 megapixels in a few kilobytes
    response = post(client, token_for("inspector"), [(heavy, f"h{i}.png") for i in range(3)])
    assert response.status_code == 422, response.get_json()
    # The request's check, made on the headers before any photo is decoded (each alone is within its own limit).
    assert "147 megapixels together, more than 120" in response.get_json()["error"]["message"]
    assert counts(db_session, photo_dir) == before
