"""The demo grids (Dongcheng and Xicheng, 100 m cells), loaded once per test session and kept for all tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db


@pytest.fixture(scope="session")
def beijing(app: Flask) -> Iterator[None]:
    from citymgmt.demo import demo_loaded, load_demo

    with app.app_context():
        session = db.session()
        if not demo_loaded(session):
            load_demo(session, SystemClock().now(), progress=lambda message: None)
            session.commit()
        db.session.remove()
    yield
