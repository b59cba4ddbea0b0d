"""File storage: local disk (atomic writes, no way out of the root) and S3 against a real moto
server process; ``get_storage()`` picks the backend from the configuration."""

from __future__ import annotations

import os
import pathlib
import uuid
from typing import Any

import pytest

from arrears.integrations.storage import (
    EXTENSION_KEY,
    LocalStorage,
    S3Storage,
    StorageNotFound,
    get_storage,
    tenant_key,
)
from tests.builders.storage import ACCESS_KEY, REGION, SECRET_KEY, Moto, s3_storage
from tests.conftest import PII_INDEX_KEY, PII_KEY

# --- keys -----------------------------------------------------------------------------------------


def test_tenant_key_builds_server_side_paths() -> None:
    assert tenant_key(7, "imports", "batch-12.xlsx") == "tenants/7/imports/batch-12.xlsx"
    assert tenant_key(1, "a") == "tenants/1/a"


@pytest.mark.parametrize(
    "part",
    ["", "a/b", "a\\b", "..", "a..b", "x\x00y", ".hidden", ".", "/etc/passwd", "C:\\x"],
)
def test_tenant_key_refuses_unsafe_parts(part: str) -> None:
    with pytest.raises(ValueError):
        tenant_key(1, "imports", part)


@pytest.mark.parametrize("org_id", [0, -1, True])
def test_tenant_key_refuses_bad_org_ids(org_id: Any) -> None:
    with pytest.raises(ValueError):
        tenant_key(org_id, "x")


def test_tenant_key_needs_a_part() -> None:
    with pytest.raises(ValueError):
        tenant_key(1)


# --- local disk -----------------------------------------------------------------------------------


def test_local_round_trip(tmp_path: pathlib.Path) -> None:
    storage = LocalStorage(str(tmp_path / "media"))
    key = tenant_key(3, "imports", "cases.csv")
    assert not storage.exists(key)
    storage.put(key, b"id,amount\n1,10\n", "text/csv")
    assert storage.exists(key)
    assert storage.get(key) == b"id,amount\n1,10\n"
    assert (tmp_path / "media" / "tenants" / "3" / "imports" / "cases.csv").read_bytes() == (
        b"id,amount\n1,10\n"
    )
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting twice is fine, as on S3


def test_local_overwrite_is_atomic_and_leaves_no_temp_files(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(str(tmp_path))
    key = tenant_key(1, "exports", "report.xlsx")
    storage.put(key, b"first version")
    target = storage.path(key)
    inode = target.stat().st_ino
    storage.put(key, b"second")
    assert storage.get(key) == b"second"
    assert target.stat().st_ino != inode  # a new file was renamed over the old one
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.xlsx"]

    # A write that fails before the rename leaves the previous content and no temporary file.
    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        storage.put(key, b"third")
    monkeypatch.undo()
    assert storage.get(key) == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.xlsx"]


def test_local_copy_is_the_stored_file_itself(tmp_path: pathlib.Path) -> None:
    storage = LocalStorage(str(tmp_path))
    key = tenant_key(2, "imports", "big.xlsx")
    storage.put(key, b"PK\x03\x04 workbook")
    with storage.local_copy(key) as path:
        assert path == storage.path(key) and path.read_bytes() == b"PK\x03\x04 workbook"
    assert storage.exists(key)  # not consumed
    with pytest.raises(StorageNotFound), storage.local_copy(tenant_key(2, "imports", "absent")):
        pass


def test_local_missing_key(tmp_path: pathlib.Path) -> None:
    storage = LocalStorage(str(tmp_path))
    with pytest.raises(StorageNotFound):
        storage.get(tenant_key(1, "nothing"))
    with pytest.raises(KeyError):  # StorageNotFound is a KeyError (and a LookupError)
        storage.get("tenants/1/nothing")
    storage.put(tenant_key(1, "dir", "file"), b"x")
    with pytest.raises(StorageNotFound):
        storage.get("tenants/1/dir")  # a directory is not an object
    with pytest.raises(StorageNotFound):
        storage.get("tenants/1/dir/file/below")  # below a file
    assert not storage.exists("tenants/1/dir")


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "../../etc/passwd",
        "tenants/1/../../../x",
        "tenants/../..",
        "/etc/passwd",
        "/tmp/x",
        "a\\..\\..\\x",
        "x\x00y",
        "",
        ".",
        "tenants//1",
        "tenants/1/",
    ],
)
def test_local_refuses_keys_outside_the_root(tmp_path: pathlib.Path, key: str) -> None:
    storage = LocalStorage(str(tmp_path / "media"))
    for call in (
        lambda: storage.put(key, b"x"),
        lambda: storage.get(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert not (tmp_path / "x").exists()


def test_local_refuses_symlinks_out_of_the_root(tmp_path: pathlib.Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "media"
    (root / "tenants").mkdir(parents=True)
    (root / "tenants" / "1").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(str(root))
    with pytest.raises(ValueError):
        storage.put(tenant_key(1, "x"), b"x")
    assert list(outside.iterdir()) == []


# --- S3 against a moto server ---------------------------------------------------------------------
# (the moto_server and bucket fixtures: tests/integration/conftest.py)


@pytest.mark.slow
def test_s3_round_trip(moto_server: Moto, bucket: str) -> None:
    storage = s3_storage(moto_server, bucket)
    key = tenant_key(5, "imports", "cases.csv")
    assert not storage.exists(key)
    storage.put(key, b"id,amount\n1,10\n", "text/csv")
    assert storage.exists(key)
    assert storage.get(key) == b"id,amount\n1,10\n"
    head = moto_server.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "text/csv"
    assert head["ServerSideEncryption"] == "AES256"
    storage.put(key, b"replaced")
    assert storage.get(key) == b"replaced"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting a missing key is not an error


@pytest.mark.slow
def test_s3_local_copy_is_a_temporary_download(moto_server: Moto, bucket: str) -> None:
    storage = s3_storage(moto_server, bucket)
    key = tenant_key(5, "imports", "big.xlsx")
    payload = os.urandom(3 * 1024 * 1024)  # several parts of a streamed download
    storage.put(key, payload)
    with storage.local_copy(key) as path:
        assert path.read_bytes() == payload
        folder = path.parent
    assert not folder.exists()  # removed after use
    assert storage.exists(key)
    with pytest.raises(StorageNotFound), storage.local_copy(tenant_key(5, "absent")):
        pass


@pytest.mark.slow
def test_s3_without_server_side_encryption(moto_server: Moto, bucket: str) -> None:
    storage = s3_storage(moto_server, bucket, sse=False)
    key = tenant_key(5, "plain")
    storage.put(key, b"\x00\xffbinary")
    assert storage.get(key) == b"\x00\xffbinary"
    assert "ServerSideEncryption" not in moto_server.client().head_object(Bucket=bucket, Key=key)


@pytest.mark.slow
def test_s3_missing_key(moto_server: Moto, bucket: str) -> None:
    storage = s3_storage(moto_server, bucket)
    with pytest.raises(StorageNotFound):
        storage.get(tenant_key(5, "nothing"))
    assert not storage.exists(tenant_key(5, "nothing"))
    with pytest.raises(ValueError):
        storage.get("../x")


@pytest.mark.slow
def test_s3_missing_bucket_is_not_a_missing_key(moto_server: Moto) -> None:
    from botocore.exceptions import ClientError

    storage = s3_storage(moto_server, f"absent-{uuid.uuid4().hex[:12]}")
    with pytest.raises(ClientError) as info:
        storage.get(tenant_key(5, "x"))
    assert not isinstance(info.value, StorageNotFound)


@pytest.mark.slow
def test_s3_client_is_created_lazily() -> None:
    storage = S3Storage("never-used", "http://127.0.0.1:9", REGION)
    assert storage._client is None


# --- get_storage ----------------------------------------------------------------------------------


def _app(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Any:
    from arrears.app import create_app

    # Keep the instance folder (secret key, media) inside the test's own directory.
    monkeypatch.setenv("ARREARS_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app(
        {
            "ARREARS_ENV": "testing",
            "SECRET_KEY": "x" * 32,
            "REDIS_URL": "",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
            "PII_KEYS": PII_KEY,
            "PII_INDEX_KEY": PII_INDEX_KEY,
            **extra,
        }
    )


@pytest.mark.slow
def test_get_storage_uses_s3_when_a_bucket_is_configured(
    moto_server: Moto, bucket: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The application path uses boto3's normal credential chain; monkeypatch undoes this after.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    app = _app(
        tmp_path,
        monkeypatch,
        S3_BUCKET=bucket,
        S3_ENDPOINT_URL=moto_server.endpoint_url,
        S3_REGION=REGION,
        S3_SSE=True,
    )
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        assert (storage.bucket, storage.endpoint_url, storage.region) == (
            bucket,
            moto_server.endpoint_url,
            REGION,
        )
        assert storage.server_side_encryption is True
        assert get_storage() is storage
        assert app.extensions[EXTENSION_KEY] is storage
        key = tenant_key(9, "letters", "1.pdf")
        storage.put(key, b"%PDF-1.7", "application/pdf")
    assert moto_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == b"%PDF-1.7"


@pytest.mark.slow
def test_get_storage_reads_aws_region_and_sse_flag(
    moto_server: Moto, bucket: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(
        tmp_path,
        monkeypatch,
        S3_BUCKET=bucket,
        S3_ENDPOINT_URL=moto_server.endpoint_url,
        AWS_REGION="eu-west-1",
        S3_SSE=False,
    )
    with app.app_context():
        storage = get_storage()
    assert isinstance(storage, S3Storage)
    assert storage.region == "eu-west-1"
    assert storage.server_side_encryption is False


def test_get_storage_uses_local_disk_without_a_bucket(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDIA_ROOT", raising=False)
    app = _app(tmp_path, monkeypatch, S3_BUCKET="")
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, LocalStorage)
        assert storage.root == (tmp_path / "instance" / "media").resolve()
        assert get_storage() is storage
        storage.put(tenant_key(2, "a.txt"), b"hello")
    assert (tmp_path / "instance" / "media" / "tenants" / "2" / "a.txt").read_bytes() == b"hello"


def test_get_storage_honours_media_root(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(tmp_path, monkeypatch, S3_BUCKET="", MEDIA_ROOT=str(tmp_path / "elsewhere"))
    with app.app_context():
        storage = get_storage()
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "elsewhere").resolve()


def test_default_config_has_the_storage_keys(tmp_path: pathlib.Path) -> None:
    from arrears.config import load_config

    config = load_config(str(tmp_path), {"ARREARS_ENV": "testing", "SECRET_KEY": "x" * 32})
    assert config["S3_BUCKET"] == ""
    assert config["S3_REGION"] == ""
    assert config["S3_SSE"] is True
    config = load_config(
        str(tmp_path),
        {"ARREARS_ENV": "testing", "SECRET_KEY": "x" * 32, "S3_REGION": "cn-north-1", "S3_SSE": "false"},
    )
    assert (config["S3_REGION"], config["S3_SSE"]) == ("cn-north-1", False)
