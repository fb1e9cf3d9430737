"""Signing in with a password, for the API token and the browser form alike: failures counted, lockout, audit.

After `login_max_failures` failed sign-ins for one username, or `login_max_failures_per_address` from one client
address, within `login_window_minutes`, every further attempt for that username or from that address is refused
for `login_lockout_minutes` (429 with Retry-After), whatever the password, without checking it. Usernames that do
not exist are counted like the others, so a lockout tells nothing about which accounts exist.

The counts live in Redis: a sorted set of failure times per username and per address (IPv6 addresses by /64,
which one client usually holds whole), and a key holding the end of a lockout. Times come from the app's clock;
Redis expiry only clears old keys. If Redis is unreachable, sign-in still works (logged): locking every user out
of the system because the cache is away would be the worse failure, and Argon2 keeps guessing slow.

Every attempt leaves an audit line on the `citymgmt.audit` logger (username, address, outcome; never a password).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.errors import TooManyAttempts
from citymgmt.core.identity import Unauthenticated, User, authenticate

log = logging.getLogger(__name__)
audit = logging.getLogger("citymgmt.audit")


def address_bucket(address: str | None) -> str:
    """The unit an address is counted in: an IPv4 address, or an IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class LoginThrottle:
    redis: Redis
    prefix: str
    max_per_user: int
    max_per_address: int
    window: timedelta
    lockout: timedelta

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis) -> LoginThrottle:
        return cls(
            redis=redis,
            prefix=f"{settings.queue_prefix}:login",
            max_per_user=settings.login_max_failures,
            max_per_address=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_window_minutes),
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )

    def _scopes(self, username: str, address: str) -> list[tuple[str, str, int]]:
        return [("user", username, self.max_per_user), ("address", address, self.max_per_address)]

    def check(self, username: str, address: str, now: datetime) -> None:
        """Raise TooManyAttempts while the username or the address is locked out."""
        scopes = self._scopes(username, address)
        try:
            ends = self.redis.mget([f"{self.prefix}:lock:{scope}:{key}" for scope, key, _ in scopes])
        except RedisError as exc:
            log.warning("sign-in throttle unavailable (%s): not checked", type(exc).__name__)
            return
        for (scope, _key, _limit), end in zip(scopes, ends, strict=True):
            if end is None:
                continue
            seconds = float(end) - now.timestamp()
            if seconds > 0:
                wait = math.ceil(seconds)
                minutes = math.ceil(seconds / 60)
                whose = "for this account" if scope == "user" else "from this address"
                raise TooManyAttempts(
                    f"too many failed sign-ins {whose}: try again in {minutes} minute{'s' if minutes > 1 else ''}",
                    details={"retry_after_seconds": wait, "locked": scope},
                    retry_after=wait,
                )

    def failed(self, username: str, address: str, now: datetime) -> list[str]:
        """Count a failure; return the scopes ("user", "address") that this failure locked out."""
        stamp = now.timestamp()
        keep = int((self.window + self.lockout).total_seconds()) + 60
        locked: list[str] = []
        try:
            for scope, key, limit in self._scopes(username, address):
                failures = f"{self.prefix}:failures:{scope}:{key}"
                pipe = self.redis.pipeline()
                pipe.zadd(failures, {f"{stamp}:{secrets.token_hex(4)}": stamp})
                pipe.zremrangebyscore(failures, "-inf", stamp - self.window.total_seconds())
                pipe.zcard(failures)
                pipe.expire(failures, keep)
                count = pipe.execute()[2]
                if count >= limit:
                    lock = f"{self.prefix}:lock:{scope}:{key}"
                    self.redis.set(lock, stamp + self.lockout.total_seconds(), ex=keep)
                    self.redis.delete(failures)  # after the lockout, a fresh allowance
                    locked.append(scope)
        except RedisError as exc:
            log.warning("sign-in throttle unavailable (%s): failure not counted", type(exc).__name__)
        return locked

    def succeeded(self, username: str) -> None:
        """A correct password clears the username's failures (not the address's: one account cannot reset it)."""
        try:
            self.redis.delete(f"{self.prefix}:failures:user:{username}")
        except RedisError as exc:
            log.warning("sign-in throttle unavailable (%s)", type(exc).__name__)


def login_throttle() -> LoginThrottle:
    """The throttle of the current app: its settings and its Redis."""
    from flask import current_app

    from citymgmt.core.queue import get_redis

    return LoginThrottle.from_settings(current_app.extensions["citymgmt.settings"], get_redis())


def sign_in(
    session: Session, throttle: LoginThrottle, username: str, password: str, address: str, now: datetime, via: str
) -> User:
    """The user with these credentials; TooManyAttempts while locked out, Unauthenticated when wrong."""
    name = username.strip().lower()
    bucket = address_bucket(address)
    try:
        throttle.check(name, bucket, now)
    except TooManyAttempts:
        audit.warning("sign-in refused (locked out): username=%r address=%s via=%s", name, bucket, via)
        raise
    try:
        user = authenticate(session, name, password)
    except Unauthenticated:
        locked = throttle.failed(name, bucket, now)
        audit.warning("sign-in failed: username=%r address=%s via=%s", name, bucket, via)
        for scope in locked:
            audit.warning(
                "sign-in locked out for %d s: %s=%r",
                throttle.lockout.total_seconds(),
                "username" if scope == "user" else "address",
                name if scope == "user" else bucket,
            )
        raise
    throttle.succeeded(name)
    audit.info("sign-in ok: user=%s address=%s via=%s", user.username, bucket, via)
    return user
