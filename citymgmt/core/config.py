"""One typed configuration object, read from the environment over the configuration file (and nowhere else)."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

# Argon2id cost profiles (citymgmt.core.identity holds their parameters): the first is the default.
PASSWORD_HASH_PROFILES = ("rfc9106-low-memory", "cheapest")
CENTRE_HOURS = ("24x7", "working")  # CITYMGMT_CENTRE_HOURS: the clock of the centre's own steps
HOLIDAYS = ("cn", "none")  # CITYMGMT_HOLIDAYS: China's statutory holidays built in, or none (the city imports its own)
# The kinds of department (CITYMGMT_DEPARTMENT_KINDS) by default: a Chinese city's municipal services.
DEFAULT_DEPARTMENT_KINDS = (
    "water",  # 供水
    "drainage",  # 排水
    "power",  # 供电
    "gas",  # 燃气
    "roads",  # 道路 / 市政
    "landscaping",  # 园林绿化
    "sanitation",  # 环卫
    "traffic_police",  # 交警
    "enforcement",  # 城管执法
    "street_office",  # 街道办
    "other",
)
DEPARTMENT_KIND = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


class ConfigError(ValueError):
    """A configuration variable has a value we cannot use; the message names it."""


def current_settings() -> Settings:
    """The current app's settings (the kernel hands them to jobs; the domain is given them, never fetches them)."""
    from flask import current_app

    settings: Settings = current_app.extensions["citymgmt.settings"]
    return settings


def _env_bool(env: ConfigSource, name: str, default: bool) -> bool:
    raw = env.get(name, "true" if default else "false")
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def _env_optional_bool(env: ConfigSource, name: str) -> bool | None:
    raw = env.get(name)
    return None if raw is None or raw == "" else _env_bool(env, name, False)  # read as given, never its default


def _env_int(env: ConfigSource, name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None


def _env_float(env: ConfigSource, name: str, default: float) -> float:
    raw = env.get(name, _number(default))
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# -- where the settings come from: the environment, over the configuration file, over the defaults -----------------

CONFIG_VARIABLE = "CITYMGMT_CONFIG"  # the configuration file's path; `none`: no file
DEFAULT_CONFIG_FILE = "citymgmt.env"  # read from the current directory when CITYMGMT_CONFIG is not set
ENVIRONMENT = "environment"
DEFAULT = "default"


@dataclass
class ConfigSource:
    """The variables every process and command reads its settings from: the process's environment first, then the
    configuration file (`NAME=value` lines, as a shell or docker's --env-file writes them), then each setting's
    default. Records every variable asked for, with its default, so `citymgmt config show` can list them all."""

    environ: Mapping[str, str]
    file: Path | None = None
    file_values: dict[str, str] = field(default_factory=dict)
    asked: dict[str, str | None] = field(default_factory=dict)  # name → its default, in the order asked

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> ConfigSource:
        """The environment (os.environ unless given) and the file CITYMGMT_CONFIG names (default: ./citymgmt.env
        when it exists; `none`: no file). A named file that is missing or unreadable is a ConfigError."""
        environ = os.environ if environ is None else environ
        named = environ.get(CONFIG_VARIABLE, "").strip()
        if named.lower() == "none":
            return cls(environ)
        path = Path(named or DEFAULT_CONFIG_FILE).absolute()
        if not named and not path.is_file():
            return cls(environ)
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is not a name
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{CONFIG_VARIABLE}={named or DEFAULT_CONFIG_FILE!r}: cannot read the configuration file {path}"
                f" ({exc.strerror if isinstance(exc, OSError) else exc})"
            ) from None
        values = dotenv_values(stream=io.StringIO(text), interpolate=False)
        empty = [name for name, value in values.items() if value is None]
        if empty:
            raise ConfigError(f"{path}: {', '.join(empty)}: expected NAME=value")
        return cls(environ, path, {name: value or "" for name, value in values.items()})

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        self.asked.setdefault(name, default)
        if name in self.environ:
            return self.environ[name]
        return self.file_values.get(name, default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def origin(self, name: str) -> str:
        """Where the variable's value comes from: `environment`, the file's path, or `default`."""
        if name in self.environ:
            return ENVIRONMENT
        if name in self.file_values:
            return str(self.file)
        return DEFAULT

    def unknown_in_file(self) -> list[str]:
        """The file's names that no setting reads (a misspelt name would otherwise leave its default in force)."""
        return sorted(set(self.file_values) - set(self.asked))

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, value with secrets masked, origin) of every variable asked for, in the order asked."""
        out = []
        for name, default in self.asked.items():
            value = self.get(name, default or "") if default is not None else self.get(name)
            out.append((name, mask(name, value), self.origin(name)))
        return out


SECRET_NAME = re.compile(r"(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIALS?)$", re.IGNORECASE)  # by its last word
SECRET_QUERY = re.compile(r"key|token|secret|password|passwd|sig|auth", re.IGNORECASE)
MASK = "********"


def mask(name: str, value: str | None) -> str:
    """The value as it may be shown: a secret's value hidden, a URL's password and secret query values hidden."""
    if value is None or value == "":
        return "" if value == "" else "(not set)"
    if SECRET_NAME.search(name):
        return MASK
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return MASK
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    query = "&".join(
        f"{k}={MASK}" if sep and SECRET_QUERY.search(k) else f"{k}{sep}{v}"
        for k, sep, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass(frozen=True)
class Settings:
    """Everything configurable. `Settings.from_env()` is the only reader of the environment and the file."""

    env: str = "development"  # development | production | test
    var_dir: Path = field(default_factory=lambda: Path.cwd() / "var")
    database_url: str = ""  # empty: the embedded PostgreSQL under var/postgres
    redis_url: str = ""  # empty: the embedded Redis under var/redis
    # A PostgreSQL streaming replica of database_url for the dashboards' and metrics' reads (empty: the primary),
    # and how far behind it may fall before /healthz calls it unwell.
    replica_url: str = ""
    replica_max_lag_s: float = 60.0
    secret_key: str = ""
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    log_level: str = "INFO"
    photo_dir: Path | None = None  # default var/photos
    queue_prefix: str = "citymgmt"
    worker_heartbeat_seconds: float = 90.0  # a worker silent for longer counts as gone in /healthz
    scheduler_heartbeat_seconds: float = 30.0
    worker_maintenance_seconds: int = 60  # how often workers retry jobs abandoned by a dead worker (RQ: 10 min)
    health_failed_jobs_limit: int = 10  # this many jobs failed for good in the last hour: /healthz says unwell
    health_backlog_seconds: float = 120.0  # the oldest queued job waiting longer: /healthz says the jobs are behind
    health_outbox_seconds: float = 300.0  # an outbox row written longer ago and never tried: /healthz says so
    # Acceptance tests and rehearsals only: every process reads "now" as the wall clock plus the seconds written in
    # this file (read again whenever it changes), so that time can be moved forward for a whole running system.
    # Refused when CITYMGMT_ENV=production.
    clock_offset_file: Path | None = None
    # Argon2id cost: rfc9106-low-memory (the default), or cheapest where passwords protect nothing (the test suite);
    # cheapest is refused when CITYMGMT_ENV=production.
    password_hash_profile: str = PASSWORD_HASH_PROFILES[0]
    sla_warn_fraction: float = 0.8
    db_pool_size: int = 5
    duplicate_radius_m: float = 50.0  # same category within this distance ...
    duplicate_window_hours: float = 24.0  # ... and this time: a candidate duplicate
    component_search_radius_m: float = 30.0  # a component report with no asset named: nearest of its class this near
    extra_modules: tuple[str, ...] = ()  # more modules defining models or jobs (plugins, tests)
    # The case loop (*local* rules, DOMAIN.md §3 and §5).
    working_periods: str = "08:00-12:00,14:00-18:00"  # the city's working day, in its zone
    auto_file_sources: tuple[str, ...] = ("inspector",)  # reports from these sources are filed on arrival
    auto_request_check: bool = True  # a handled case goes to the on-site check at once
    max_extensions: int = 2  # granted extensions per case
    max_suspensions: int = 1  # suspensions per case
    closing_hours: float = 1.0  # the leader's closing step after a passed check
    # The clock of the centre's own steps (accept, verify, file, dispatch, send to check, check, close): 24x7 (hours
    # round the clock, as centres run) or working (the working calendar, as the departments' disposal always is).
    centre_hours: str = "24x7"
    escalation_reply_hours: float = 8.0  # a department's time to reply to an escalation (督办), in working hours
    max_suspension_days: float = 365.0  # a case's suspensions (挂账) in all
    # Sources whose reports the centre may verify by phone (a note, instead of an inspector on site); none by default.
    phone_verification_sources: tuple[str, ...] = ()
    # Closing a case from these sources opens a call-back (回访) in the operators' queue; an unsatisfied caller
    # reopens the case as rework (返工) to its department when callback_rework is on (off by default).
    callback_sources: tuple[str, ...] = ("public", "hotline")
    callback_rework: bool = False
    sla_escalate_overdue: bool = True  # an overdue disposal is escalated (督办) by the sweep
    smtp_url: str = ""  # smtp://[user:pass@]host:port, smtps://..., smtp+starttls://...; empty: no e-mail
    mail_from: str = "citymgmt@localhost"
    session_idle_minutes: float = 120.0  # a browser session unused this long ends ...
    session_max_hours: float = 12.0  # ... and every browser session ends this long after sign-in
    secure_cookies: bool | None = None  # None: Secure cookies in production only
    login_max_failures: int = 5  # failed sign-ins for one username within the window ...
    login_max_failures_per_address: int = 20  # ... or from one client address (offices share one) ...
    login_window_minutes: float = 15.0
    login_lockout_minutes: float = 15.0  # ... refuse further sign-ins for this long
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto to believe
    open311_jurisdiction_id: str = ""  # Open311 GeoReport v2: when set, a request naming another is refused
    open311_posts_per_minute: int = 60  # POSTs per Open311 API key and minute (429 beyond)
    # Publish the first photo of each report as its Open311 media_url (public, unauthenticated). Off by default:
    # street photos may show faces and number plates, and a city decides whether its reports' photos are public.
    open311_publish_photos: bool = False
    # Evaluation (DOMAIN.md §6, *local*): composite score weights over the defaults, as JSON
    # {"department"|"inspector"|"region": {component: weight}}, and the grade bands, best first.
    metrics_weights: str = ""
    metrics_grades: str = "A:90,B:75,C:60,D:40,E:0"
    # The maps' basemap (issue 6): a Leaflet tile URL template ({z}/{x}/{y}, optional {s}) and the CRS its tiles are
    # drawn in; overlays are shifted to match. Empty: no basemap, the cell and district outlines alone (offline).
    basemap_url: str = ""
    basemap_crs: str = "wgs84"  # wgs84 | gcj02 (AMap, Tencent)
    basemap_attribution: str = ""
    # The working calendar's built-in holidays: cn (China's statutory holidays and make-up days, from
    # chinese-calendar) or none (weekends only, plus what the city imports with `citymgmt calendar import`).
    holidays: str = "cn"
    # The kinds a department may be (routing's "the locality's department of a kind" names one).
    department_kinds: tuple[str, ...] = DEFAULT_DEPARTMENT_KINDS
    # What the city calls its three levels of areas (district, street, community), in that order: generated names
    # and the grids commands use them. Empty: the locale's words (区/街道/社区, District/Street/Community).
    level_names: tuple[str, ...] = ()
    demo: bool = True  # `make run` loads the demo city on first start (CITYMGMT_DEMO=0: it does not)

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def cookies_secure(self) -> bool:
        return self.secure_cookies if self.secure_cookies is not None else self.env == "production"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def photos(self) -> Path:
        return self.photo_dir or self.var_dir / "photos"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        from citymgmt.local import EmbeddedPostgres

        return EmbeddedPostgres(self.var_dir / "postgres").url()

    def resolved_redis_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        from citymgmt.local import EmbeddedRedis

        return EmbeddedRedis(self.var_dir / "redis").url()

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **overrides)

    def _validate_basemap(self) -> None:
        if self.basemap_crs not in ("wgs84", "gcj02"):
            raise ConfigError(f"CITYMGMT_BASEMAP_CRS={self.basemap_crs!r}: expected wgs84 or gcj02")
        if self.basemap_url:
            parts = urlsplit(self.basemap_url.replace("{", "").replace("}", ""))
            if parts.scheme not in ("http", "https") and not self.basemap_url.startswith("/"):
                raise ConfigError(f"CITYMGMT_BASEMAP_URL={self.basemap_url!r}: expected an http(s) URL or a /path")
            if not all(f"{{{k}}}" in self.basemap_url for k in "xyz"):
                raise ConfigError(
                    f"CITYMGMT_BASEMAP_URL={self.basemap_url!r}: the template needs {{z}}, {{x}} and {{y}}"
                )

    def _validate_metrics(self) -> None:
        if self.metrics_weights:
            try:
                weights = json.loads(self.metrics_weights)
            except ValueError:
                raise ConfigError("CITYMGMT_METRICS_WEIGHTS: not JSON") from None
            if not isinstance(weights, dict) or not all(
                kind in ("department", "inspector", "region", "leader", "dispatcher")
                and isinstance(w, dict)
                and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in w.values())
                and all(c == "volume_score" or c.removeprefix("1-").endswith("_rate") for c in w)
                for kind, w in weights.items()
            ):
                raise ConfigError(
                    "CITYMGMT_METRICS_WEIGHTS: expected {department|inspector|region|leader|dispatcher:"
                    " {component: weight >= 0}},"
                    " components volume_score, a rate (closing_rate...) or 1-a rate (1-rework_rate)"
                )
        try:
            bands = [part.strip().partition(":") for part in self.metrics_grades.split(",")]
            bounds = [float(b) for g, sep, b in bands if g.strip() and sep]
        except ValueError:
            bounds = []
        if not bounds or len(bounds) != len(bands) or bounds != sorted(bounds, reverse=True):
            raise ConfigError(
                f"CITYMGMT_METRICS_GRADES={self.metrics_grades!r}: expected GRADE:LOWER_BOUND,... best first"
            )

    @classmethod
    def from_env(cls, env: ConfigSource | None = None) -> Settings:
        """The settings from `env` (default: the process's environment over the configuration file, see
        ConfigSource), each variable named in the error when its value cannot be used."""
        env = env if env is not None else ConfigSource.load()
        environment = env.get("CITYMGMT_ENV", "development")
        if environment not in ("development", "production", "test"):
            raise ConfigError(f"CITYMGMT_ENV={environment!r}: expected development, production or test")
        var_dir = Path(env.get("CITYMGMT_VAR_DIR", "./var") or "./var").absolute()
        settings = cls(
            env=environment,
            var_dir=var_dir,
            database_url=_normalise_database_url(env.get("DATABASE_URL", "")),
            redis_url=env.get("REDIS_URL", ""),
            replica_url=_normalise_database_url(env.get("CITYMGMT_REPLICA_URL", "")),
            replica_max_lag_s=_env_float(env, "CITYMGMT_REPLICA_MAX_LAG_S", 60.0),
            secret_key=env.get("SECRET_KEY", ""),
            timezone=env.get("CITYMGMT_TIMEZONE", "Asia/Shanghai"),
            default_locale=env.get("CITYMGMT_LOCALE", "zh_CN"),
            log_level=env.get("CITYMGMT_LOG_LEVEL", "INFO").upper(),
            photo_dir=Path(env["CITYMGMT_PHOTO_DIR"]) if env.get("CITYMGMT_PHOTO_DIR") else None,
            worker_maintenance_seconds=_env_int(env, "CITYMGMT_WORKER_MAINTENANCE_SECONDS", 60),
            health_failed_jobs_limit=_env_int(env, "CITYMGMT_HEALTH_FAILED_JOBS_LIMIT", 10),
            health_backlog_seconds=_env_float(env, "CITYMGMT_HEALTH_BACKLOG_SECONDS", 120.0),
            health_outbox_seconds=_env_float(env, "CITYMGMT_HEALTH_OUTBOX_SECONDS", 300.0),
            clock_offset_file=(
                Path(env["CITYMGMT_CLOCK_OFFSET_FILE"]) if env.get("CITYMGMT_CLOCK_OFFSET_FILE") else None
            ),
            password_hash_profile=env.get("CITYMGMT_PASSWORD_HASH_PROFILE", PASSWORD_HASH_PROFILES[0]).strip(),
            sla_warn_fraction=_env_float(env, "CITYMGMT_SLA_WARN_FRACTION", 0.8),
            db_pool_size=int(_env_float(env, "CITYMGMT_DB_POOL_SIZE", 5)),
            duplicate_radius_m=_env_float(env, "CITYMGMT_DUPLICATE_RADIUS_M", 50.0),
            duplicate_window_hours=_env_float(env, "CITYMGMT_DUPLICATE_WINDOW_HOURS", 24.0),
            component_search_radius_m=_env_float(env, "CITYMGMT_COMPONENT_SEARCH_RADIUS_M", 30.0),
            session_idle_minutes=_env_float(env, "CITYMGMT_SESSION_IDLE_MINUTES", 120.0),
            session_max_hours=_env_float(env, "CITYMGMT_SESSION_MAX_HOURS", 12.0),
            secure_cookies=_env_optional_bool(env, "CITYMGMT_SECURE_COOKIES"),
            login_max_failures=_env_int(env, "CITYMGMT_LOGIN_MAX_FAILURES", 5),
            login_max_failures_per_address=_env_int(env, "CITYMGMT_LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
            login_window_minutes=_env_float(env, "CITYMGMT_LOGIN_WINDOW_MINUTES", 15.0),
            login_lockout_minutes=_env_float(env, "CITYMGMT_LOGIN_LOCKOUT_MINUTES", 15.0),
            trusted_proxies=_env_int(env, "CITYMGMT_TRUSTED_PROXIES", 0),
            open311_jurisdiction_id=env.get("CITYMGMT_OPEN311_JURISDICTION_ID", "").strip(),
            open311_posts_per_minute=_env_int(env, "CITYMGMT_OPEN311_POSTS_PER_MINUTE", 60),
            open311_publish_photos=_env_bool(env, "CITYMGMT_OPEN311_PUBLISH_PHOTOS", False),
            extra_modules=tuple(m.strip() for m in env.get("CITYMGMT_EXTRA_MODULES", "").split(",") if m.strip()),
            working_periods=env.get("CITYMGMT_WORKING_PERIODS", "08:00-12:00,14:00-18:00"),
            auto_file_sources=tuple(
                s.strip() for s in env.get("CITYMGMT_AUTO_FILE_SOURCES", "inspector").split(",") if s.strip()
            ),
            auto_request_check=_env_bool(env, "CITYMGMT_AUTO_REQUEST_CHECK", True),
            max_extensions=int(_env_float(env, "CITYMGMT_MAX_EXTENSIONS", 2)),
            max_suspensions=int(_env_float(env, "CITYMGMT_MAX_SUSPENSIONS", 1)),
            closing_hours=_env_float(env, "CITYMGMT_CLOSING_HOURS", 1.0),
            centre_hours=env.get("CITYMGMT_CENTRE_HOURS", "24x7").strip().lower() or "24x7",
            escalation_reply_hours=_env_float(env, "CITYMGMT_ESCALATION_REPLY_HOURS", 8.0),
            max_suspension_days=_env_float(env, "CITYMGMT_MAX_SUSPENSION_DAYS", 365.0),
            phone_verification_sources=tuple(
                s.strip() for s in env.get("CITYMGMT_PHONE_VERIFICATION_SOURCES", "").split(",") if s.strip()
            ),
            callback_sources=tuple(
                s.strip() for s in env.get("CITYMGMT_CALLBACK_SOURCES", "public,hotline").split(",") if s.strip()
            ),
            callback_rework=_env_bool(env, "CITYMGMT_CALLBACK_REWORK", False),
            sla_escalate_overdue=_env_bool(env, "CITYMGMT_SLA_ESCALATE_OVERDUE", True),
            smtp_url=env.get("CITYMGMT_SMTP_URL", ""),
            mail_from=env.get("CITYMGMT_MAIL_FROM", "citymgmt@localhost"),
            metrics_weights=env.get("CITYMGMT_METRICS_WEIGHTS", ""),
            metrics_grades=env.get("CITYMGMT_METRICS_GRADES", "A:90,B:75,C:60,D:40,E:0"),
            basemap_url=env.get("CITYMGMT_BASEMAP_URL", "").strip(),
            basemap_crs=env.get("CITYMGMT_BASEMAP_CRS", "wgs84").strip().lower() or "wgs84",
            basemap_attribution=env.get("CITYMGMT_BASEMAP_ATTRIBUTION", "").strip(),
            holidays=env.get("CITYMGMT_HOLIDAYS", "cn").strip().lower() or "cn",
            department_kinds=tuple(
                dict.fromkeys(
                    k.strip()
                    for k in (env.get("CITYMGMT_DEPARTMENT_KINDS") or ",".join(DEFAULT_DEPARTMENT_KINDS)).split(",")
                    if k.strip()
                )
            ),
            level_names=tuple(n.strip() for n in env.get("CITYMGMT_LEVEL_NAMES", "").split(",") if n.strip()),
            demo=_env_bool(env, "CITYMGMT_DEMO", True),
        )
        unknown = env.unknown_in_file()
        if unknown:
            raise ConfigError(
                f"{env.file}: unknown setting {', '.join(unknown)} (`citymgmt config show` lists the settings)"
            )
        settings.validate()
        return settings

    def periods(self) -> tuple[tuple[time, time], ...]:
        """The working periods, e.g. "08:00-12:00,14:00-18:00"; ValueError saying what is wrong."""
        out = []
        for part in self.working_periods.split(","):
            start, sep, end = part.strip().partition("-")
            if not sep:
                raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM")
            try:
                out.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM") from None
        previous = time(0)
        for start_, end_ in out:
            if not previous <= start_ < end_:
                raise ValueError("periods must be increasing and not overlap, each start before its end")
            previous = end_
        return tuple(out)

    def validate(self) -> None:
        if self.clock_offset_file is not None and self.env == "production":
            raise ConfigError(
                "CITYMGMT_CLOCK_OFFSET_FILE moves the system's clock (acceptance tests and rehearsals only): it is"
                " refused with CITYMGMT_ENV=production"
            )
        if self.password_hash_profile not in PASSWORD_HASH_PROFILES:
            raise ConfigError(
                f"CITYMGMT_PASSWORD_HASH_PROFILE={self.password_hash_profile!r}: expected"
                f" {' or '.join(PASSWORD_HASH_PROFILES)}"
            )
        if self.password_hash_profile == PASSWORD_HASH_PROFILES[-1] and self.env == "production":
            raise ConfigError(
                "CITYMGMT_PASSWORD_HASH_PROFILE=cheapest makes passwords cheap to guess from a stolen database: it is"
                " refused with CITYMGMT_ENV=production"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"CITYMGMT_TIMEZONE={self.timezone!r}: not an IANA time zone") from None
        if self.default_locale not in ("zh_CN", "en"):
            raise ConfigError(f"CITYMGMT_LOCALE={self.default_locale!r}: expected zh_CN or en")
        if self.level_names and (len(self.level_names) != 3 or any(len(n) > 40 for n in self.level_names)):
            raise ConfigError(
                f"CITYMGMT_LEVEL_NAMES={','.join(self.level_names)!r}: expected three names of at most 40 characters,"
                " district,street,community (e.g. Council,Area,Block)"
            )
        if not 0 < self.sla_warn_fraction < 1:
            raise ConfigError(f"CITYMGMT_SLA_WARN_FRACTION={self.sla_warn_fraction}: expected between 0 and 1")
        try:
            self.periods()
        except ValueError as exc:
            raise ConfigError(f"CITYMGMT_WORKING_PERIODS={self.working_periods!r}: {exc}") from None
        if self.smtp_url and urlsplit(self.smtp_url).scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ConfigError("CITYMGMT_SMTP_URL must start with smtp://, smtps:// or smtp+starttls://")
        unknown_sources = set(self.auto_file_sources) - {"inspector", "public", "hotline", "open311"}
        if unknown_sources:
            raise ConfigError(f"CITYMGMT_AUTO_FILE_SOURCES: unknown {', '.join(sorted(unknown_sources))}")
        if self.open311_posts_per_minute < 1:
            raise ConfigError(f"CITYMGMT_OPEN311_POSTS_PER_MINUTE={self.open311_posts_per_minute}: expected at least 1")
        if not 0 < self.closing_hours <= 24 * 30:
            raise ConfigError(f"CITYMGMT_CLOSING_HOURS={self.closing_hours}: expected more than 0 and at most 720")
        if self.centre_hours not in CENTRE_HOURS:
            raise ConfigError(f"CITYMGMT_CENTRE_HOURS={self.centre_hours!r}: expected {' or '.join(CENTRE_HOURS)}")
        if not 0 < self.escalation_reply_hours <= 24 * 30:
            raise ConfigError(
                f"CITYMGMT_ESCALATION_REPLY_HOURS={self.escalation_reply_hours}: expected more than 0 and at most 720"
            )
        if not 0 < self.max_suspension_days <= 3 * 365:
            raise ConfigError(
                f"CITYMGMT_MAX_SUSPENSION_DAYS={self.max_suspension_days}: expected more than 0 and at most 1095"
            )
        unknown_phone = set(self.phone_verification_sources) - {"public", "hotline", "open311"}
        if unknown_phone:
            raise ConfigError(
                f"CITYMGMT_PHONE_VERIFICATION_SOURCES: unknown {', '.join(sorted(unknown_phone))} (expected public,"
                " hotline or open311)"
            )
        unknown_callback = set(self.callback_sources) - {"public", "hotline", "open311"}
        if unknown_callback:
            raise ConfigError(
                f"CITYMGMT_CALLBACK_SOURCES: unknown {', '.join(sorted(unknown_callback))} (expected public, hotline"
                " or open311)"
            )
        if self.max_extensions < 0 or self.max_suspensions < 0:
            raise ConfigError("CITYMGMT_MAX_EXTENSIONS and CITYMGMT_MAX_SUSPENSIONS must be at least 0")
        if self.worker_maintenance_seconds < 1:
            raise ConfigError(
                f"CITYMGMT_WORKER_MAINTENANCE_SECONDS={self.worker_maintenance_seconds}: expected at least 1"
            )
        self._validate_metrics()
        self._validate_basemap()
        if self.holidays not in HOLIDAYS:
            raise ConfigError(f"CITYMGMT_HOLIDAYS={self.holidays!r}: expected {' or '.join(HOLIDAYS)}")
        bad_kinds = [k for k in self.department_kinds if not DEPARTMENT_KIND.match(k)]
        if bad_kinds or not self.department_kinds:
            raise ConfigError(
                f"CITYMGMT_DEPARTMENT_KINDS: {', '.join(bad_kinds) or 'none given'}: expected a comma-separated list of"
                " kinds, each a lowercase letter then up to 19 lowercase letters, digits or _"
            )
        if self.env == "production" and not self.secret_key:
            raise ConfigError("SECRET_KEY must be set when CITYMGMT_ENV=production")
        if not 0 <= self.duplicate_radius_m <= 10_000:
            raise ConfigError(f"CITYMGMT_DUPLICATE_RADIUS_M={self.duplicate_radius_m}: expected 0 to 10000 metres")
        if not 0 <= self.duplicate_window_hours <= 24 * 30:
            raise ConfigError(f"CITYMGMT_DUPLICATE_WINDOW_HOURS={self.duplicate_window_hours}: expected 0 to 720 hours")
        if not 0 <= self.component_search_radius_m <= 1000:
            raise ConfigError(
                f"CITYMGMT_COMPONENT_SEARCH_RADIUS_M={self.component_search_radius_m}: expected 0 to 1000 metres"
            )
        if not 1 <= self.session_idle_minutes <= 7 * 24 * 60:
            raise ConfigError(f"CITYMGMT_SESSION_IDLE_MINUTES={self.session_idle_minutes}: expected 1 to 10080 minutes")
        if not 0.1 <= self.session_max_hours <= 30 * 24:
            raise ConfigError(f"CITYMGMT_SESSION_MAX_HOURS={self.session_max_hours}: expected 0.1 to 720 hours")
        if self.login_max_failures < 1 or self.login_max_failures_per_address < 1:
            raise ConfigError(
                "CITYMGMT_LOGIN_MAX_FAILURES and CITYMGMT_LOGIN_MAX_FAILURES_PER_ADDRESS: expected at least 1"
            )
        for name, minutes in (
            ("CITYMGMT_LOGIN_WINDOW_MINUTES", self.login_window_minutes),
            ("CITYMGMT_LOGIN_LOCKOUT_MINUTES", self.login_lockout_minutes),
        ):
            if not 0 < minutes <= 24 * 60:
                raise ConfigError(f"{name}={minutes}: expected more than 0 and at most 1440 minutes")
        if not 0 <= self.trusted_proxies <= 5:
            raise ConfigError(f"CITYMGMT_TRUSTED_PROXIES={self.trusted_proxies}: expected 0 to 5")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"CITYMGMT_LOG_LEVEL={self.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or outside production a random key kept in var/secret_key so sessions survive restarts."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key)
            return key
        except FileExistsError:
            return path.read_text().strip()


def _normalise_database_url(url: str) -> str:
    """Accept the common postgres:// and postgresql:// forms and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
