"""The password policy (NIST SP 800-63B): long enough, not common, not guessable, no composition
rules; what the attack run got through is refused, long phrases pass."""

from __future__ import annotations

import pytest

from arrears.auth.passwords import check_policy
from arrears.errors import ValidationFailed

REFUSED = [
    # the attack run's
    "1234567890",
    "Password1!",
    "qwertyuiop",
    "password12",
    # common in the Chinese leaks, and a stem with a number after it
    "woaini1314520",
    "Admin@123456",
    "zhangwei123456",
    "5201314abc",
    "1qaz2wsx3edc",
    "P@ssw0rd2026",
    "abcd1234!@",
    "aaaaaaaaaaaa",
    # short
    "Kx9#mQ2",
]


@pytest.mark.parametrize("password", REFUSED)
def test_common_guessable_and_short_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_policy(password, "someone@bank.example")
    assert refused.value.field == "password"


def test_the_users_own_words_count_against_them() -> None:
    with pytest.raises(ValidationFailed):
        check_policy("Huang-Xiaoming-2026", "hxm@bank.example", ["Huang Xiaoming", "bank"])
    check_policy("Huang-Xiaoming-2026", "hxm@bank.example")  # someone else may use it


@pytest.mark.parametrize(
    "password", ["Kestrel-Orchard-58", "correct horse battery staple", "Demo-Pass-2026!", "山水画-窗前-2046"]
)
def test_long_unrelated_words_pass(password: str) -> None:
    check_policy(password, "someone@bank.example")
