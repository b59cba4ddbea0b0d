"""Password hashing with Argon2id at OWASP's recommended parameters (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext as _

from arrears.errors import ValidationFailed

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)


@functools.cache
def _dummy_hash() -> str:
    """A hash verified when the account does not exist, so that the response time does not tell
    which e-mail addresses have accounts (computed on first use, not at import)."""
    return _hasher.hash("not-a-real-password-0f3a")


MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_policy(password: str, email: str = "") -> None:
    """Length over composition rules (NIST SP 800-63B); refuse the obvious."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            _("The password must have at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )
    if len(password) > 256:
        raise ValidationFailed(_("The password is too long."), field="password")
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in password.lower():
        raise ValidationFailed(_("The password must not contain your e-mail name."), field="password")
    if len(set(password)) < 4:
        raise ValidationFailed(_("The password is too simple."), field="password")
