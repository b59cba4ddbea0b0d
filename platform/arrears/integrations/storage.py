"""File storage: local disk by default, S3 (or any S3-compatible store) when ``S3_BUCKET`` is set.

Keys are always built by the server with :func:`tenant_key` (``tenants/<org_id>/<part>/...``);
nothing a user sends becomes a key as is. Both backends also check every key they are given, so
a key that would work on one backend but not on the other is refused on both.

``get_storage()`` picks the backend from the application's configuration and keeps one instance
per application in ``app.extensions["arrears.storage"]``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from flask import current_app

EXTENSION_KEY = "arrears.storage"
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class StorageNotFound(KeyError):
    """No object is stored under the key."""


class Storage(ABC):
    """The few operations the platform needs from a blob store."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store ``data`` under ``key``, replacing whatever was there."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; :class:`StorageNotFound` if there are none."""

    @abstractmethod
    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A file on this machine holding the object, for as long as the ``with`` block runs (the
        file itself on local disk; a temporary download, streamed, from S3), so that large files are
        read from disk rather than held in memory. :class:`StorageNotFound` if there is none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """The keys of the objects under the folder ``prefix`` (``tenants/7/statements/``), at any
        depth, sorted. Files other programs put there (a core system's drop) are listed too."""


def _check_part(part: str) -> str:
    if not isinstance(part, str) or not part:
        raise ValueError("storage key parts must be non-empty strings")
    if "/" in part or "\\" in part or "\x00" in part or ".." in part or part.startswith("."):
        raise ValueError(f"refusing storage key part {part!r}")
    return part


def tenant_key(org_id: int, *parts: str) -> str:
    """``tenants/<org_id>/<part>/<part>...``, refusing any part that could change the path."""
    if isinstance(org_id, bool) or not isinstance(org_id, int) or org_id <= 0:
        raise ValueError(f"org_id must be a positive integer, got {org_id!r}")
    if not parts:
        raise ValueError("a storage key needs at least one part after the tenant")
    return "/".join(["tenants", str(org_id), *(_check_part(p) for p in parts)])


def _check_key(key: str) -> str:
    """A relative, slash-separated key without empty, ``.`` or ``..`` segments."""
    if not isinstance(key, str) or not key:
        raise ValueError("storage keys must be non-empty strings")
    if "\x00" in key or "\\" in key or key.startswith("/"):
        raise ValueError(f"refusing storage key {key!r}")
    if any(segment in {"", ".", ".."} for segment in key.split("/")):
        raise ValueError(f"refusing storage key {key!r}")
    return key


class LocalStorage(Storage):
    """Files under ``root`` (``MEDIA_ROOT``); writes go to a temporary file first, then replace."""

    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """Where ``key`` lives on disk; ValueError if it would land outside the root."""
        candidate = (self.root / _check_key(key)).resolve()
        if candidate == self.root or not candidate.is_relative_to(self.root):
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return candidate

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        # content_type only matters to stores that serve files themselves; disk keeps the bytes.
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(target.parent)

    def get(self, key: str) -> bytes:
        target = self.path(key)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageNotFound(key) from None

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        target = self.path(key)
        if not target.is_file():
            raise StorageNotFound(key)
        yield target  # already a file on this disk: no copy

    def delete(self, key: str) -> None:
        target = self.path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            target.unlink()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self, prefix: str) -> list[str]:
        folder = self.path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        found = []
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith("."):  # our own .tmp- parts, hidden files
                found.append(path.relative_to(self.root).as_posix())
        return sorted(found)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable where the platform allows opening directories."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:  # pragma: no cover - Windows
        return
    fd = os.open(directory, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Storage(Storage):
    """Objects in one bucket of S3 or an S3-compatible store (``endpoint_url``).

    The boto3 client is created on first use. Credentials come from boto3's usual chain
    (environment, shared files, instance role) unless ``access_key``/``secret_key`` are given.
    Objects are written with ``ServerSideEncryption=AES256`` unless ``server_side_encryption`` is
    off, for S3-compatible stores that refuse the header.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        server_side_encryption: bool = True,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.server_side_encryption = server_side_encryption
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r}, region={self.region!r})"
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # noqa: PLC0415  (only S3 deployments pay boto3's import, 0.25 s)

                    self._client = boto3.client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        region_name=self.region,
                        aws_access_key_id=self._access_key,
                        aws_secret_access_key=self._secret_key,
                    )
        return self._client

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        extra: dict[str, str] = {"ServerSideEncryption": "AES256"} if self.server_side_encryption else {}
        self.client.put_object(
            Bucket=self.bucket, Key=_check_key(key), Body=data, ContentType=content_type, **extra
        )

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="arrears-s3-") as folder:
            target = Path(folder) / "object"
            try:
                self.client.download_file(self.bucket, _check_key(key), str(target))  # streamed to disk
            except Exception as exc:
                if _is_not_found(exc):
                    raise StorageNotFound(key) from None
                raise
            yield target

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=_check_key(key))
        except Exception as exc:
            if _is_not_found(exc):
                raise StorageNotFound(key) from None
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=_check_key(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=_check_key(key))
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def keys(self, prefix: str) -> list[str]:
        folder = _check_key(prefix.rstrip("/")) + "/"
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            found.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
        return sorted(found)


def _is_not_found(exc: Exception) -> bool:

    if not isinstance(exc, ClientError):
        return False
    # Only a missing object: NoSuchBucket (also a 404) is a configuration error and must surface.
    return exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES


def get_storage() -> Storage:
    """The current application's storage: S3 when ``S3_BUCKET`` is set, else ``MEDIA_ROOT``."""
    app = current_app
    storage: Storage | None = app.extensions.get(EXTENSION_KEY)
    if storage is None:
        storage = app.extensions.setdefault(EXTENSION_KEY, _from_config(app.config))
    return storage


def _from_config(config: Any) -> Storage:
    bucket = config.get("S3_BUCKET") or ""
    if bucket:
        return S3Storage(
            bucket,
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or config.get("AWS_REGION") or None,
            server_side_encryption=bool(config.get("S3_SSE", True)),
        )
    root = config.get("MEDIA_ROOT") or os.path.join(current_app.instance_path, "media")
    return LocalStorage(root)
