"""Configuration comes from the environment over the configuration file, and a bad value names its variable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from citymgmt import create_app
from citymgmt.core.config import ConfigError, ConfigSource, Settings, mask

REPO = Path(__file__).resolve().parents[2]


def test_defaults_use_the_embedded_servers(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("DATABASE_URL", "REDIS_URL", "CITYMGMT_ENV", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CITYMGMT_VAR_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert settings.embedded_database and settings.embedded_redis
    assert settings.resolved_database_url().startswith("postgresql+psycopg://citymgmt@/citymgmt?host=")
    assert settings.resolved_redis_url() == f"unix://{tmp_path}/redis/redis.sock?db=0"
    assert settings.timezone == "Asia/Shanghai" and settings.default_locale == "zh_CN"
    # Outside production a key is made once and kept, so sessions survive restarts.
    key = settings.resolved_secret_key()
    assert len(key) > 40 and settings.resolved_secret_key() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_external_urls_are_used_as_given(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/city")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    settings = Settings.from_env()
    assert settings.resolved_database_url() == "postgresql+psycopg://u:p@db.example:5432/city"
    assert settings.resolved_redis_url() == "redis://cache.example:6379/2"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CITYMGMT_TIMEZONE", "Mars/Olympus", "CITYMGMT_TIMEZONE='Mars/Olympus': not an IANA time zone"),
        ("CITYMGMT_LOCALE", "fr", "CITYMGMT_LOCALE='fr': expected zh_CN or en"),
        ("CITYMGMT_SLA_WARN_FRACTION", "1.5", "CITYMGMT_SLA_WARN_FRACTION=1.5"),
        ("CITYMGMT_SLA_WARN_FRACTION", "lots", "CITYMGMT_SLA_WARN_FRACTION='lots': expected a number"),
        ("CITYMGMT_ENV", "staging", "CITYMGMT_ENV='staging'"),
        ("CITYMGMT_LOG_LEVEL", "chatty", "CITYMGMT_LOG_LEVEL='CHATTY'"),
        ("CITYMGMT_SESSION_IDLE_MINUTES", "0", "CITYMGMT_SESSION_IDLE_MINUTES=0.0: expected 1 to 10080 minutes"),
        ("CITYMGMT_SESSION_MAX_HOURS", "long", "CITYMGMT_SESSION_MAX_HOURS='long': expected a number"),
        ("CITYMGMT_SECURE_COOKIES", "maybe", "CITYMGMT_SECURE_COOKIES='maybe': expected true or false"),
        ("CITYMGMT_LOGIN_MAX_FAILURES", "many", "CITYMGMT_LOGIN_MAX_FAILURES='many': expected a whole number"),
        ("CITYMGMT_LOGIN_MAX_FAILURES_PER_ADDRESS", "0", "CITYMGMT_LOGIN_MAX_FAILURES and"),
        ("CITYMGMT_LOGIN_LOCKOUT_MINUTES", "0", "CITYMGMT_LOGIN_LOCKOUT_MINUTES=0.0: expected more than 0"),
        ("CITYMGMT_LOGIN_WINDOW_MINUTES", "2000", "CITYMGMT_LOGIN_WINDOW_MINUTES=2000.0"),
        ("CITYMGMT_TRUSTED_PROXIES", "9", "CITYMGMT_TRUSTED_PROXIES=9: expected 0 to 5"),
        ("CITYMGMT_WORKER_MAINTENANCE_SECONDS", "0", "CITYMGMT_WORKER_MAINTENANCE_SECONDS=0: expected at least 1"),
        ("CITYMGMT_ESCALATION_REPLY_HOURS", "0", "CITYMGMT_ESCALATION_REPLY_HOURS=0.0: expected more than 0"),
        ("CITYMGMT_MAX_SUSPENSION_DAYS", "soon", "CITYMGMT_MAX_SUSPENSION_DAYS='soon': expected a number"),
        ("CITYMGMT_MAX_SUSPENSION_DAYS", "2000", "CITYMGMT_MAX_SUSPENSION_DAYS=2000.0: expected more than 0"),
        ("CITYMGMT_PHONE_VERIFICATION_SOURCES", "hotline,inspector", "CITYMGMT_PHONE_VERIFICATION_SOURCES: unknown"),
        ("CITYMGMT_CENTRE_HOURS", "9x5", "CITYMGMT_CENTRE_HOURS='9x5': expected 24x7 or working"),
        ("CITYMGMT_WORKER_MAINTENANCE_SECONDS", "soon", "CITYMGMT_WORKER_MAINTENANCE_SECONDS='soon': expected a whole"),
        ("CITYMGMT_HOLIDAYS", "us", "CITYMGMT_HOLIDAYS='us': expected cn or none"),
        ("CITYMGMT_DEPARTMENT_KINDS", "water,Fire Dept", "CITYMGMT_DEPARTMENT_KINDS: Fire Dept: expected a comma"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, variable: str, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env()
    assert str(raised.value).startswith(message)


def test_production_requires_a_secret_key(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITYMGMT_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        Settings.from_env()


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown settings: colour"):
        Settings().with_overrides({"colour": "red"})


@pytest.mark.parametrize(
    ("env", "variable", "secure"),
    [("development", None, False), ("test", None, False), ("production", None, True), ("development", "true", True)],
)
def test_cookies_are_secure_in_production_unless_configured(
    monkeypatch, env: str, variable: str | None, secure: bool
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITYMGMT_ENV", env)
    monkeypatch.setenv("SECRET_KEY", "configured")
    if variable is None:
        monkeypatch.delenv("CITYMGMT_SECURE_COOKIES", raising=False)
    else:
        monkeypatch.setenv("CITYMGMT_SECURE_COOKIES", variable)
    assert Settings.from_env().cookies_secure is secure


def test_sign_in_and_session_settings_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITYMGMT_SESSION_IDLE_MINUTES", "30")
    monkeypatch.setenv("CITYMGMT_SESSION_MAX_HOURS", "8")
    monkeypatch.setenv("CITYMGMT_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("CITYMGMT_LOGIN_LOCKOUT_MINUTES", "60")
    settings = Settings.from_env()
    assert (settings.session_idle_minutes, settings.session_max_hours) == (30, 8)
    assert (settings.login_max_failures, settings.login_lockout_minutes) == (3, 60)
    assert (settings.login_max_failures_per_address, settings.login_window_minutes) == (20, 15)


def test_the_cheapest_password_hashing_is_refused_in_production(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("CITYMGMT_PASSWORD_HASH_PROFILE", "cheapest")
    assert Settings.from_env().password_hash_profile == "cheapest"  # development: allowed
    monkeypatch.setenv("CITYMGMT_ENV", "production")
    with pytest.raises(ConfigError, match=r"PASSWORD_HASH_PROFILE=cheapest .* refused with CITYMGMT_ENV=production"):
        Settings.from_env()
    monkeypatch.setenv("CITYMGMT_PASSWORD_HASH_PROFILE", "md5")
    with pytest.raises(ConfigError, match="'md5': expected rfc9106-low-memory or cheapest"):
        Settings.from_env()


def test_the_closing_limit_must_be_a_positive_number_of_hours(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITYMGMT_CLOSING_HOURS", "0")
    with pytest.raises(ConfigError, match=r"CITYMGMT_CLOSING_HOURS=0\.0: expected more than 0"):
        Settings.from_env()
    monkeypatch.setenv("CITYMGMT_CLOSING_HOURS", "2.5")
    assert Settings.from_env().closing_hours == 2.5


def test_the_centre_runs_round_the_clock_unless_configured(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert Settings.from_env().centre_hours == "24x7"
    monkeypatch.setenv("CITYMGMT_CENTRE_HOURS", "Working")
    assert Settings.from_env().centre_hours == "working"


def test_holidays_and_department_kinds_default_to_a_chinese_city(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env()
    assert settings.holidays == "cn"
    assert "street_office" in settings.department_kinds and "sanitation" in settings.department_kinds
    monkeypatch.setenv("CITYMGMT_HOLIDAYS", "None")
    monkeypatch.setenv("CITYMGMT_DEPARTMENT_KINDS", " streets, sanitation ,water,streets")
    settings = Settings.from_env()
    assert settings.holidays == "none"
    assert settings.department_kinds == ("streets", "sanitation", "water")


# -- the configuration file: the environment over the file over the defaults --------------------------------------

CITY_FILE = """# Los Angeles
CITYMGMT_TIMEZONE=America/Los_Angeles
CITYMGMT_LOCALE=en
DATABASE_URL=postgres://city:hunter2@db.example:5432/city
SECRET_KEY="a secret with spaces"
CITYMGMT_SMTP_URL=smtp://mailer:pa55@mail.example:587
CITYMGMT_BASEMAP_URL=https://tiles.example/{z}/{x}/{y}.png?api_key=k123&style=light
"""


def test_the_file_is_read_under_the_environment_and_over_the_defaults(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "city.env"
    path.write_text(CITY_FILE, encoding="utf-8")
    env = ConfigSource.load({"CITYMGMT_CONFIG": str(path), "CITYMGMT_LOCALE": "zh_CN"})
    settings = Settings.from_env(env)
    assert settings.timezone == "America/Los_Angeles"  # the file
    assert settings.default_locale == "zh_CN"  # the environment wins over the file
    assert settings.max_extensions == 2  # the default
    assert settings.database_url == "postgresql+psycopg://city:hunter2@db.example:5432/city"
    assert settings.secret_key == "a secret with spaces"
    assert (env.origin("CITYMGMT_TIMEZONE"), env.origin("CITYMGMT_LOCALE"), env.origin("CITYMGMT_MAX_EXTENSIONS")) == (
        str(path),
        "environment",
        "default",
    )


def test_the_default_file_is_citymgmt_env_in_the_current_directory(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(ConfigSource.load({})).timezone == "Asia/Shanghai"  # no file: the defaults
    (tmp_path / "citymgmt.env").write_text("CITYMGMT_TIMEZONE=Europe/Paris\n", encoding="utf-8")
    assert Settings.from_env(ConfigSource.load({})).timezone == "Europe/Paris"
    # `none` reads no file at all (the test suite's own setting, tests/conftest.py).
    assert Settings.from_env(ConfigSource.load({"CITYMGMT_CONFIG": "none"})).timezone == "Asia/Shanghai"


def test_the_suite_reads_no_configuration_file(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "citymgmt.env").write_text("CITYMGMT_TIMEZONE=Europe/Paris\n", encoding="utf-8")
    assert Settings.from_env().timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("CITYMGMT_TIMEZON=America/Los_Angeles\n", "city.env: unknown setting CITYMGMT_TIMEZON"),
        ("CITYMGMT_MAX_EXTENSIONS=two\n", "CITYMGMT_MAX_EXTENSIONS='two': expected a number"),
        ("CITYMGMT_TIMEZONE\n", "city.env: CITYMGMT_TIMEZONE: expected NAME=value"),
    ],
)
def test_a_bad_file_is_refused_naming_the_variable(tmp_path, content: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "city.env"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(ConfigSource.load({"CITYMGMT_CONFIG": str(path)}))


def test_a_named_file_must_exist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"CITYMGMT_CONFIG='.*missing.env': cannot read the configuration file"):
        ConfigSource.load({"CITYMGMT_CONFIG": str(tmp_path / "missing.env")})


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("SECRET_KEY", "s3cr3t", "********"),
        ("CITYMGMT_SMTP_PASSWORD", "s3cr3t", "********"),
        ("DATABASE_URL", "postgresql+psycopg://city:hunter2@db:5432/c", "postgresql+psycopg://city:********@db:5432/c"),
        ("REDIS_URL", "redis://:pw@cache:6379/0", "redis://:********@cache:6379/0"),
        ("REDIS_URL", "redis://cache:6379/0", "redis://cache:6379/0"),
        ("CITYMGMT_BASEMAP_URL", "https://t.example/{z}.png?api_key=k&s=a", "https://t.example/{z}.png?api_key=********&s=a"),
        ("CITYMGMT_PASSWORD_HASH_PROFILE", "cheapest", "cheapest"),
        ("CITYMGMT_TIMEZONE", "America/Los_Angeles", "America/Los_Angeles"),
    ],
)  # fmt: skip
def test_secrets_are_masked(name: str, value: str, shown: str) -> None:
    assert mask(name, value) == shown


def test_config_show_prints_every_setting_with_its_origin_and_no_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The command as an operator runs it: its own process, the environment over the file."""
    path = tmp_path / "city.env"
    path.write_text(CITY_FILE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYMGMT_") and k not in ("DATABASE_URL",)}
    env |= {"CITYMGMT_CONFIG": str(path), "CITYMGMT_MAX_EXTENSIONS": "3"}
    done = subprocess.run(
        [str(REPO / ".venv/bin/citymgmt"), "config", "show"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split("=", 1)[0]: line for line in done.stdout.splitlines()}
    assert lines["# configuration file: " + str(path)]
    assert re.fullmatch(rf"CITYMGMT_TIMEZONE=America/Los_Angeles +# {re.escape(str(path))}", lines["CITYMGMT_TIMEZONE"])
    assert re.fullmatch(r"CITYMGMT_MAX_EXTENSIONS=3 +# environment", lines["CITYMGMT_MAX_EXTENSIONS"])
    assert re.fullmatch(r"CITYMGMT_MAX_SUSPENSIONS=1 +# default", lines["CITYMGMT_MAX_SUSPENSIONS"])
    assert "DATABASE_URL=postgresql+psycopg://city:********@db.example:5432/city" not in done.stdout  # as written
    assert "DATABASE_URL=postgres://city:********@db.example:5432/city" in done.stdout
    assert "SECRET_KEY=********" in done.stdout and "CITYMGMT_SMTP_URL=smtp://mailer:********@" in done.stdout
    for secret in ("hunter2", "a secret with spaces", "pa55", "k123"):
        assert secret not in done.stdout + done.stderr

    path.write_text("CITYMGMT_TIMEZONE=Mars/Olympus\n", encoding="utf-8")
    bad = subprocess.run(
        [str(REPO / ".venv/bin/citymgmt"), "config", "show"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "CITYMGMT_TIMEZONE=Mars/Olympus" in bad.stdout
    assert "error: CITYMGMT_TIMEZONE='Mars/Olympus': not an IANA time zone" in bad.stderr


def test_every_process_builds_its_app_from_the_file(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """web (wsgi), worker, scheduler and every command make their app by create_app(), which reads the file."""
    path = tmp_path / "city.env"
    path.write_text(f"CITYMGMT_TIMEZONE=America/Los_Angeles\nCITYMGMT_VAR_DIR={tmp_path / 'var'}\n", encoding="utf-8")
    monkeypatch.setenv("CITYMGMT_CONFIG", str(path))
    monkeypatch.delenv("CITYMGMT_TIMEZONE", raising=False)
    monkeypatch.delenv("CITYMGMT_VAR_DIR", raising=False)
    app = create_app()
    assert app.extensions["citymgmt.settings"].timezone == "America/Los_Angeles"


def test_a_file_saved_with_a_byte_order_mark_reads_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "city.env"
    path.write_text("CITYMGMT_TIMEZONE=America/Chicago\n", encoding="utf-8-sig")
    assert Settings.from_env(ConfigSource.load({"CITYMGMT_CONFIG": str(path)})).timezone == "America/Chicago"
