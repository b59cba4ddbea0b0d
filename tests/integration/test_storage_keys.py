"""Listing a folder of the storage (``Storage.keys``), which the daily reconciliation reads for the
statements the core system dropped: the same answer on local disk and on S3 (a moto server)."""

from __future__ import annotations

import pathlib

import pytest

from arrears.integrations.storage import LocalStorage, Storage
from tests.builders.storage import Moto, s3_storage

KEYS = [
    "tenants/7/statements/2026-10-28.xlsx",
    "tenants/7/statements/2026/10/29.csv",
    "tenants/7/statementsX/not-inside.csv",
    "tenants/8/statements/other-tenant.csv",
]


def _fill(storage: Storage) -> None:
    for key in KEYS:
        storage.put(key, b"x")


def _check(storage: Storage) -> None:
    expected = ["tenants/7/statements/2026-10-28.xlsx", "tenants/7/statements/2026/10/29.csv"]
    assert storage.keys("tenants/7/statements/") == expected
    assert storage.keys("tenants/7/statements") == expected
    assert storage.keys("tenants/7/nothing/") == []
    with pytest.raises(ValueError):
        storage.keys("tenants/7/../8/")


def test_local_keys(tmp_path: pathlib.Path) -> None:
    storage = LocalStorage(str(tmp_path))
    _fill(storage)
    (tmp_path / "tenants/7/statements/.tmp-half.part").write_bytes(b"being written")
    _check(storage)


def test_s3_keys(moto_server: Moto, bucket: str) -> None:
    storage = s3_storage(moto_server, bucket)
    _fill(storage)
    _check(storage)
