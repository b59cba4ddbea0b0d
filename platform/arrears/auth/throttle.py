"""Failed-login throttling per account and per client address.

Redis-backed (``INCR`` + ``EXPIRE``, shared by every web process) when Redis answers; otherwise a
small table (``auth_throttle``) does the same job for the embedded default.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, select

from arrears.auth.models import AuthThrottle
from arrears.extensions import db
from arrears.kernel.jobs.queue import redis_connection


def _keys(email: str, ip: str) -> list[tuple[str, int]]:
    cfg = current_app.config
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]
    return [
        (f"acct:{account}", int(cfg["LOGIN_MAX_FAILURES_ACCOUNT"])),
        (f"ip:{ip or '-'}", int(cfg["LOGIN_MAX_FAILURES_IP"])),
    ]


def _window() -> int:
    return int(current_app.config["LOGIN_THROTTLE_WINDOW_SECONDS"])


def _redis_key(key: str) -> str:
    return f"{current_app.config['REDIS_KEY_PREFIX']}:login-failures:{key}"


def is_blocked(email: str, ip: str) -> bool:
    conn = redis_connection()
    if conn is not None:
        try:
            values = conn.mget([_redis_key(k) for k, _ in _keys(email, ip)])
            return any(
                v is not None and int(v) >= limit
                for v, (_, limit) in zip(values, _keys(email, ip), strict=True)
            )
        except RedisError:
            pass
    now = dt.datetime.now(dt.UTC)
    for key, limit in _keys(email, ip):
        row = db.session.get(AuthThrottle, key)
        if (
            row is not None
            and row.window_started_at > now - dt.timedelta(seconds=_window())
            and row.failures >= limit
        ):
            return True
    return False


def register_failure(email: str, ip: str) -> None:
    conn = redis_connection()
    if conn is not None:
        try:
            pipe = conn.pipeline()
            for key, _ in _keys(email, ip):
                pipe.incr(_redis_key(key))
                pipe.expire(_redis_key(key), _window(), nx=True)
            pipe.execute()
            return
        except RedisError:
            pass
    now = dt.datetime.now(dt.UTC)
    for key, _ in _keys(email, ip):
        row = db.session.get(AuthThrottle, key)
        if row is None:
            db.session.add(AuthThrottle(key=key, failures=1, window_started_at=now))
        elif row.window_started_at <= now - dt.timedelta(seconds=_window()):
            row.failures, row.window_started_at = 1, now
        else:
            row.failures += 1


def register_success(email: str, ip: str) -> None:
    """A good login clears the account's counter (not the address's: one good account must not
    unlock guessing at others from the same address)."""
    account_key = _keys(email, ip)[0][0]
    conn = redis_connection()
    if conn is not None:
        try:
            conn.delete(_redis_key(account_key))
            return
        except RedisError:
            pass
    db.session.execute(delete(AuthThrottle).where(AuthThrottle.key == account_key))


def failures(email: str, ip: str) -> int:
    conn = redis_connection()
    key = _keys(email, ip)[0][0]
    if conn is not None:
        return int(conn.get(_redis_key(key)) or 0)
    return int(db.session.scalar(select(AuthThrottle.failures).where(AuthThrottle.key == key)) or 0)
