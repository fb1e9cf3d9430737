"""The application factory's body (see citymgmt.create_app)."""

from __future__ import annotations

import importlib
import logging
import weakref
from collections.abc import Callable
from datetime import timedelta
from inspect import iscoroutinefunction
from pathlib import Path
from typing import Any

from flask import Flask, g
from flask.typing import ResponseReturnValue
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from citymgmt.api.errors import register_error_handlers
from citymgmt.core.access import install_access_control
from citymgmt.core.clock import Clock, OffsetClock, SystemClock
from citymgmt.core.config import Settings
from citymgmt.core.db import REPLICA, close_reads, db, ping_when_idle, unit_of_work
from citymgmt.core.headers import install_security_headers
from citymgmt.core.inputs import install_input_checks
from citymgmt.core.logs import configure_logging, install_request_ids
from citymgmt.core.queue import init_redis
from citymgmt.core.sessions import COOKIE_NAME, install_browser_sessions

MIGRATIONS = Path(__file__).parent / "migrations"

# Modules that define models, outbox jobs, periodic jobs, health probes or signal receivers: imported once so every
# process knows them.
MODEL_AND_JOB_MODULES = (
    "citymgmt.core.outbox",
    "citymgmt.core.identity",
    "citymgmt.core.audit",
    "grids.models",
    "grids.matching",
    "citymgmt.core.departments",
    "dispatch.taxonomy.operations",
    "dispatch.components.operations",
    "dispatch.cases.models",
    "dispatch.cases.photos",
    "dispatch.routing.rules",
    "dispatch.sla.calendar",
    "dispatch.sla.sweep",
    "dispatch.notifications.operations",
    "citymgmt.open311.keys",
    "dispatch.metrics.operations",
    "dispatch.analysis.rollups",
)

migrate = Migrate()


class CitymgmtFlask(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_async: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's, with whether a function is a coroutine function remembered (weakly: a function made per request
        is forgotten with it): Flask asks `inspect.iscoroutinefunction` of every hook and view on every request, some
        twenty times a request here."""
        try:
            is_async = self._is_async.get(func)
            if is_async is None:
                is_async = self._is_async[func] = iscoroutinefunction(func)
        except TypeError:  # not weakly referenceable
            return super().ensure_sync(func)
        return self.async_to_sync(func) if is_async else func

    def dispatch_request(self) -> ResponseReturnValue:
        """Every view runs in one unit of work: committed when it returns (after its answer is built), rolled back
        if it raises. Views never commit."""
        with unit_of_work():
            return super().dispatch_request()


def build_app(overrides: dict[str, Any] | None = None) -> Flask:
    overrides = dict(overrides or {})
    clock: Clock | None = overrides.pop("clock", None)
    flask_overrides = {k: overrides.pop(k) for k in list(overrides) if k.isupper()}
    settings = Settings.from_env().with_overrides(overrides) if overrides else Settings.from_env()
    settings.validate()
    if clock is None:
        clock = OffsetClock(settings.clock_offset_file) if settings.clock_offset_file else SystemClock()

    configure_logging(settings.log_level)
    app = CitymgmtFlask(
        "citymgmt",
        instance_path=str(settings.var_dir / "instance"),
        static_folder=str(Path(__file__).parent / "web" / "static"),
    )
    engine_options = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size * 2,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 5, "application_name": "citymgmt"},
    }
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        SQLALCHEMY_DATABASE_URI=settings.resolved_database_url(),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        # The replica is a second engine (Flask-SQLAlchemy's bind), used only through citymgmt.core.db.reads.
        SQLALCHEMY_BINDS={REPLICA: {"url": settings.replica_url, **engine_options}} if settings.replica_url else {},
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=100 * 1024 * 1024,
        TESTING=settings.env == "test",
        # The browser session cookie (see citymgmt.core.sessions); the session itself is server-side.
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        REMEMBER_COOKIE_HTTPONLY=True,  # Flask-Login's remember-me is never used; should it be, the same flags
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.cookies_secure,
        WTF_CSRF_CHECK_DEFAULT=False,  # the access hook decides which requests need a CSRF token
        WTF_CSRF_TIME_LIMIT=int(settings.session_max_hours * 3600),  # a form stays usable as long as a session
    )
    app.config.update(flask_overrides)
    if settings.trusted_proxies:
        # Behind reverse proxies: the client's address (sign-in limits, logs) and scheme come from their headers.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["citymgmt.settings"] = settings
    app.extensions["citymgmt.clock"] = clock
    if isinstance(clock, OffsetClock):
        logging.getLogger("citymgmt").warning(
            "the clock is moved by the offset in %s (CITYMGMT_CLOCK_OFFSET_FILE): for tests only", clock.path
        )

    for module in (*MODEL_AND_JOB_MODULES, *settings.extra_modules):
        importlib.import_module(module)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine)
    app.teardown_appcontext(close_reads)
    migrate.init_app(app, db, directory=str(MIGRATIONS), compare_type=True, render_as_batch=False)
    init_redis(app, settings.resolved_redis_url())

    @app.before_request
    def _fresh_g() -> None:
        # A request starts with an empty `g`, as when it pushes its own app context. When requests share one (the
        # test client inside an app context), what extensions cache there (Flask-Login's user, Flask-WTF's token,
        # Flask-Babel's locale) must not pass from one request to the next.
        for name in list(g):
            g.pop(name)

    install_request_ids(app)
    install_input_checks(app)
    install_security_headers(app, settings)
    register_error_handlers(app)
    install_browser_sessions(app, settings)
    install_access_control(app)

    from citymgmt.api import init_api
    from citymgmt.api.health import bp as health_bp
    from citymgmt.open311.views import bp as open311_bp
    from citymgmt.web import init_web

    app.register_blueprint(health_bp)
    init_api(app)
    app.register_blueprint(open311_bp)
    init_web(app, settings)
    return app


def settings_of(app: Flask) -> Settings:
    settings: Settings = app.extensions["citymgmt.settings"]
    return settings
