"""Sign-in throttling that slows a guesser without letting anyone lock an account's owner out.

Counted per attempt (OWASP's "Blocking Brute Force Attacks" and "Slow Down Online Guessing Attacks
with Device Cookies"):

* **account and address** (``pair``): the failures of one address on one account;
* **account, from untrusted clients** (``acct``): every failure on the account from a browser or a
  device that has not signed in to it before, whatever its address (guessing spread over many
  addresses);
* **address** (``ip``): every failure from an address on any account (password spraying);
* **trusted device** (``dev``): a browser or field device that signed in to the account before
  holds a device token (signed, one per account, ``issue_device``); its attempts count on their own
  counter and not on ``acct`` nor ``ip``, so failures an attacker piles up on an account, or on
  the office address behind one NAT, never stop the owner on their own device.

A counter allows ``free`` failures, then each further attempt waits ``base * 2^(failures - free)``
seconds after the last failure, up to ``cap`` (exponential back-off, not a lock-out: the wait ends
by itself). A good sign-in clears the pair and the device counters, never the account's nor the
address's (one good account must not unlock guessing at others). Counters are forgotten a day after
their last failure.

Redis-backed (a hash per counter, shared by every web process) when Redis answers; otherwise the
``auth_throttle`` table does the same for the embedded default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.exceptions import RedisError
from sqlalchemy import delete

from arrears.auth.models import AuthThrottle
from arrears.extensions import db
from arrears.kernel.jobs.queue import redis_connection

FORGET_AFTER = 86_400  # seconds without a failure
DEVICE_MAX_AGE = 365 * 86_400
DEVICE_COOKIE = "arrears_device"


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: the e-mail as typed, the client address, and the device id of a valid
    device token for this account (``None`` from an untrusted client)."""

    email: str
    ip: str
    device: str | None = None

    @property
    def account(self) -> str:
        return account_hash(self.email)


@dataclass(frozen=True)
class _Counter:
    key: str
    free: int


def account_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


def _counters(attempt: Attempt) -> list[_Counter]:
    cfg = current_app.config
    per_pair = int(cfg["LOGIN_MAX_FAILURES_ACCOUNT"])
    pair = _Counter(f"pair:{attempt.account}:{attempt.ip or '-'}", per_pair)
    if attempt.device:
        return [pair, _Counter(f"dev:{attempt.device}", per_pair)]
    return [
        pair,
        _Counter(f"acct:{attempt.account}", int(cfg["LOGIN_MAX_FAILURES_UNTRUSTED"])),
        _Counter(f"ip:{attempt.ip or '-'}", int(cfg["LOGIN_MAX_FAILURES_IP"])),
    ]


def _wait_ms(failures: int, free: int) -> int:
    """Milliseconds to wait after the last failure."""
    if failures < free:
        return 0
    cfg = current_app.config
    base, cap = int(cfg["LOGIN_BACKOFF_SECONDS"]), int(cfg["LOGIN_THROTTLE_WINDOW_SECONDS"])
    return 1000 * min(cap, base * 2 ** min(failures - free, 30))


def _redis_key(key: str) -> str:
    return f"{current_app.config['REDIS_KEY_PREFIX']}:login:{key}"


def _ms(moment: dt.datetime) -> int:
    """A moment as POSIX milliseconds."""
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _read(keys: list[str]) -> dict[str, tuple[int, int]]:
    """{key: (failures, the last failure in POSIX milliseconds)} of the counters that exist."""
    conn = redis_connection()
    if conn is not None:
        try:
            pipe = conn.pipeline()
            for key in keys:
                pipe.hmget(_redis_key(key), ["n", "last"])
            found = {}
            for key, (n, last) in zip(keys, pipe.execute(), strict=True):
                if n is not None and last is not None:
                    found[key] = (int(n), int(last))
            return found
        except RedisError:
            pass
    horizon = _now() - dt.timedelta(seconds=FORGET_AFTER)
    found = {}
    for key in keys:
        row = db.session.get(AuthThrottle, key)
        if row is not None and row.last_failure_at > horizon:
            found[key] = (row.failures, _ms(row.last_failure_at))
    return found


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def retry_after(attempt: Attempt) -> int:
    """Seconds until this attempt may be tried (0: now)."""
    counters = _counters(attempt)
    state = _read([c.key for c in counters])
    now = _ms(_now())
    wait = 0
    for counter in counters:
        if counter.key in state:
            failures, last = state[counter.key]
            wait = max(wait, last + _wait_ms(failures, counter.free) - now)
    return -(-wait // 1000)  # whole seconds, rounded up


def register_failure(attempt: Attempt) -> None:
    keys = [c.key for c in _counters(attempt)]
    now = _now()
    conn = redis_connection()
    if conn is not None:
        try:
            pipe = conn.pipeline()
            for key in keys:
                pipe.hincrby(_redis_key(key), "n", 1)
                pipe.hset(_redis_key(key), "last", _ms(now))
                pipe.expire(_redis_key(key), FORGET_AFTER)
            pipe.execute()
            return
        except RedisError:
            pass
    horizon = now - dt.timedelta(seconds=FORGET_AFTER)
    for key in keys:
        row = db.session.get(AuthThrottle, key)
        if row is None:
            db.session.add(AuthThrottle(key=key, failures=1, last_failure_at=now))
        else:
            row.failures = 1 if row.last_failure_at <= horizon else row.failures + 1
            row.last_failure_at = now


def register_success(attempt: Attempt) -> None:
    """A good sign-in clears the pair's and the device's counters (see the module's docstring)."""
    keys = [c.key for c in _counters(attempt) if c.key.startswith(("pair:", "dev:"))]
    conn = redis_connection()
    if conn is not None:
        try:
            conn.delete(*[_redis_key(key) for key in keys])
            return
        except RedisError:
            pass
    db.session.execute(delete(AuthThrottle).where(AuthThrottle.key.in_(keys)))


# --- device tokens -----------------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="arrears.login-device")


def issue_device(email: str, device: str | None = None) -> str:
    """A device token for this account (kept by the browser in a cookie, by the field app in its
    storage): the device id it already had, or a new one."""
    return _serializer().dumps({"a": account_hash(email), "d": device or secrets.token_urlsafe(16)})


def trusted_device(email: str, tokens: Any) -> str | None:
    """The device id of the first valid token in ``tokens`` (one string, or several) for this
    account; ``None`` when none is."""
    account = account_hash(email)
    for token in [tokens] if isinstance(tokens, str) else list(tokens or ()):
        try:
            data = _serializer().loads(token, max_age=DEVICE_MAX_AGE)
        except (BadSignature, TypeError, ValueError):
            continue
        if isinstance(data, dict) and data.get("a") == account and isinstance(data.get("d"), str):
            return data["d"]
    return None
