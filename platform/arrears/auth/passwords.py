"""Password hashing with Argon2id at OWASP's recommended parameters (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext as _
from zxcvbn import zxcvbn

from arrears.auth.common_passwords import STEMS, WHOLE
from arrears.errors import ValidationFailed

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)


@functools.cache
def _dummy_hash() -> str:
    """A hash verified when the account does not exist, so that the response time does not tell
    which e-mail addresses have accounts (computed on first use, not at import)."""
    return _hasher.hash("not-a-real-password-0f3a")


MIN_LENGTH = 10
MIN_SCORE = 3  # zxcvbn: 10^8 guesses or more ("safely unguessable" online, with throttling)
_TRAILING = re.compile(r"[\W\d_]+$")
_NON_LETTERS = re.compile(r"[\W\d_]+")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_policy(password: str, email: str = "", others: Iterable[str] = ()) -> None:
    """NIST SP 800-63B: long enough, not a known or guessable password, no composition rules.

    Refused: fewer than ``MIN_LENGTH`` characters; the e-mail's name in it; a password on the kept
    lists (``auth.common_passwords``: whole, or a common stem with only digits and symbols after
    it); and what zxcvbn (Dropbox's estimator, offline, with its frequency lists of leaked
    passwords, words, names, dates and keyboard walks) guesses in fewer than 10^8 tries, given the
    user's e-mail and ``others`` (their name, the organisation)."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            _("The password must have at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )
    if len(password) > 256:
        raise ValidationFailed(_("The password is too long."), field="password")
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in password.lower():
        raise ValidationFailed(_("The password must not contain your e-mail name."), field="password")
    lowered = password.lower()
    stem = _TRAILING.sub("", lowered)
    if lowered in WHOLE or stem in STEMS or len(set(password)) < 4:
        raise ValidationFailed(_too_guessable(), field="password")
    own = {
        word
        for text in (local, *others)
        for word in _NON_LETTERS.split((text or "").lower())
        if len(word) >= 3
    }
    letters = left = _NON_LETTERS.sub("", lowered)
    for word in sorted(own, key=len, reverse=True):
        left = left.replace(word, "")
    if left != letters and len(left) < 3:
        raise ValidationFailed(
            _("The password must not be made of your name or your organisation's."), field="password"
        )
    inputs = [*own, *(text.lower().replace(" ", "") for text in others if text)]
    if zxcvbn(password[:100], user_inputs=inputs)["score"] < MIN_SCORE:
        raise ValidationFailed(_too_guessable(), field="password")


def _too_guessable() -> str:
    return _(
        "The password is too easy to guess: it is a common password, a word or name with a "
        "number, a keyboard pattern or a date. A few unrelated words make a good one."
    )
