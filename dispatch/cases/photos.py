"""Photos of cases: checked, re-encoded and thumbnailed; no copy keeps EXIF (so no GPS position, camera or owner
reaches anyone who later sees it). Where the phone recorded a GPS fix, it is kept in the database for staff,
who may compare it with the reported point.

Files are content-addressed (sha256) under the photo directory and written atomically, before the transaction
commits: a rolled-back request leaves at most an unreferenced file, never a reference to a missing one.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError

MAX_PHOTOS = 9
MAX_BYTES = 15 * 1024 * 1024  # per photo, as uploaded
MAX_PIXELS = 50_000_000  # larger images are refused before decoding (decompression bombs)
# All the photos of one request together (nine 12-megapixel phone photos fit): decoding costs CPU by the pixel, so a
# request of nine small files of 49 megapixels each is refused from their headers, before any is decoded.
MAX_REQUEST_PIXELS = 120_000_000
LONG_SIDE = 2560  # stored photos are at most this many pixels on their long side
THUMB_SIDE = 320
FORMATS = ("JPEG", "PNG", "WEBP")


class Attachment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))  # relative to the photo directory
    thumb_path: Mapped[str] = mapped_column(String(200))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    # Staff only: the position the phone wrote into the photo, if any.
    exif_gps: Mapped[dict[str, float] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Photo:
    jpeg: bytes
    thumb: bytes
    width: int
    height: int
    exif_gps: dict[str, float] | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


def process_photos(streams: list[IO[bytes]]) -> list[Photo]:
    """The photos of one request, each checked and re-encoded; refused before any is decoded when together they
    have more pixels than MAX_REQUEST_PIXELS (read from their headers)."""
    uploads = [_read(index, stream) for index, stream in enumerate(streams)]
    pixels = sum(_pixels(data) for data in uploads)
    if pixels > MAX_REQUEST_PIXELS:
        raise ValidationError(
            f"the photos have {pixels // 1_000_000} megapixels together, more than"
            f" {MAX_REQUEST_PIXELS // 1_000_000}: send them smaller",
            details={"photos": "too many pixels together"},
        )
    return [process_photo(index, io.BytesIO(data)) for index, data in enumerate(uploads)]


def _read(index: int, stream: IO[bytes]) -> bytes:
    field = f"photos[{index}]"
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationError(f"{field} is larger than {MAX_BYTES // (1024 * 1024)} MB", details={field: "too large"})
    return data


def _pixels(data: bytes) -> int:
    """The pixels a photo's header declares (0 when it has none we can read: process_photo says what is wrong)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            width, height = Image.open(io.BytesIO(data), formats=FORMATS).size
    except Exception:  # any unreadable header: the photo's own check names the problem
        return 0
    return int(width) * int(height)


def process_photo(index: int, stream: IO[bytes]) -> Photo:
    """One uploaded photo, re-encoded as JPEG without metadata, or ValidationError saying what is wrong."""
    field = f"photos[{index}]"
    data = _read(index, stream)
    if not data:
        raise ValidationError(f"{field} is empty", details={field: "empty"})
    too_big = ValidationError(
        f"{field} has more than {MAX_PIXELS // 1_000_000} megapixels", details={field: "too many pixels"}
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; ours is lower and checked below, before anything is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                opened = Image.open(io.BytesIO(data), formats=FORMATS)
            except Image.DecompressionBombError:
                raise too_big from None
            if opened.width * opened.height > MAX_PIXELS:
                raise ValidationError(
                    f"{field} has {opened.width}x{opened.height} pixels,"
                    f" more than {MAX_PIXELS // 1_000_000} megapixels",
                    details={field: "too many pixels"},
                )
            gps = _gps(opened)
            opened.load()
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except UnidentifiedImageError as exc:
        raise ValidationError(
            f"{field} is not a JPEG, PNG or WebP photo we can read", details={field: type(exc).__name__}
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationError(f"{field} is damaged or truncated", details={field: "unreadable"}) from None
    image.thumbnail((LONG_SIDE, LONG_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)  # no exif= argument: nothing of the original's metadata
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    thumb_out = io.BytesIO()
    thumb.save(thumb_out, "JPEG", quality=80)
    return Photo(out.getvalue(), thumb_out.getvalue(), image.width, image.height, gps)


def _gps(image: Image.Image) -> dict[str, float] | None:
    try:
        info = image.getexif().get_ifd(0x8825)  # GPSInfo
        if not info or 2 not in info or 4 not in info:
            return None

        def degrees(value: Any, ref: str) -> float:
            d, m, s = (float(v) for v in value)
            return round((-1 if ref in ("S", "W") else 1) * (d + m / 60 + s / 3600), 7)

        return {"lat": degrees(info[2], info.get(1, "N")), "lon": degrees(info[4], info.get(3, "E"))}
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None


def store_photo(photo_dir: Path, photo: Photo, now: datetime) -> tuple[str, str]:
    """Write the photo and its thumbnail (atomically, once per content); return their relative paths."""
    folder = Path(f"{now:%Y/%m/%d}")
    digest = photo.sha256
    paths = (folder / f"{digest}.jpg", folder / f"{digest}.thumb.jpg")
    for relative, content in zip(paths, (photo.jpeg, photo.thumb), strict=True):
        target = photo_dir / relative
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    return str(paths[0]), str(paths[1])


def attach_photos(
    session: Session,
    photo_dir: Path,
    case_id: int,
    event_id: int | None,
    uploader_id: int | None,
    photos: list[Photo],
    now: datetime,
) -> list[Attachment]:
    rows = []
    for photo in photos:
        path, thumb = store_photo(photo_dir, photo, now)
        rows.append(
            Attachment(
                case_id=case_id,
                event_id=event_id,
                uploaded_by=uploader_id,
                sha256=photo.sha256,
                path=path,
                thumb_path=thumb,
                width=photo.width,
                height=photo.height,
                bytes=len(photo.jpeg),
                exif_gps=photo.exif_gps,
                created_at=now,
            )
        )
    session.add_all(rows)
    session.flush()
    return rows
