"""The keyring that encrypts personal data at rest: format, authentication, rotation, old tokens."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from arrears.security.pii import Keyring, PIIKeyError

INDEX = "i" * 40
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@given(st.text())
def test_round_trip_of_any_text(value: str) -> None:
    ring = Keyring([NEW], INDEX)
    token = ring.encrypt(value)
    assert token.startswith("g1.") and ring.decrypt(token) == value


def test_each_value_gets_its_own_nonce() -> None:
    ring = Keyring([NEW], INDEX)
    assert ring.encrypt("13800138000") != ring.encrypt("13800138000")


def test_a_changed_token_does_not_decrypt() -> None:
    ring = Keyring([NEW], INDEX)
    head, kid, body = ring.encrypt("110101199003071234").split(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1  # one bit of the tag
    with pytest.raises(PIIKeyError):
        ring.decrypt(f"{head}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode()}")
    with pytest.raises(PIIKeyError):
        ring.decrypt(f"{head}.{kid}.!!!")


def test_a_token_of_a_dropped_key_does_not_decrypt() -> None:
    token = Keyring([OLD], INDEX).encrypt("secret")
    with pytest.raises(PIIKeyError):
        Keyring([NEW], INDEX).decrypt(token)


def test_rotation_reads_old_keys_and_writes_the_newest() -> None:
    old_ring = Keyring([OLD], INDEX)
    token = old_ring.encrypt("secret")
    both = Keyring([NEW, OLD], INDEX)
    assert both.decrypt(token) == "secret"
    assert not both.is_current(token)
    rotated = both.rotate(token)
    assert both.is_current(rotated) and both.rotate(rotated) == rotated
    assert Keyring([NEW], INDEX).decrypt(rotated) == "secret"


def test_tokens_of_the_earlier_fernet_format_still_read_and_rotate() -> None:
    legacy = Fernet(OLD.encode()).encrypt(b"110101199003071234").decode()
    ring = Keyring([NEW, OLD], INDEX)
    assert ring.decrypt(legacy) == "110101199003071234"
    assert not ring.is_current(legacy)
    assert ring.rotate(legacy).startswith("g1.")


def test_bad_keys_are_refused_at_start() -> None:
    with pytest.raises(PIIKeyError):
        Keyring([], INDEX)
    with pytest.raises(PIIKeyError):
        Keyring(["not-a-key"], INDEX)
    with pytest.raises(PIIKeyError):
        Keyring([NEW], "short")


def test_blind_index_is_keyed_and_kind_separated() -> None:
    ring, other = Keyring([NEW], INDEX), Keyring([NEW], "j" * 40)
    assert ring.blind_index("mobile", "13800138000") == Keyring([OLD], INDEX).blind_index(
        "mobile", "13800138000"
    )
    assert ring.blind_index("mobile", "13800138000") != other.blind_index("mobile", "13800138000")
    assert ring.blind_index("mobile", "13800138000") != ring.blind_index("phone", "13800138000")
