"""S3 against a real moto server process: the server's handle and an ``S3Storage`` on its bucket.
The ``moto_server`` and ``bucket`` fixtures (tests/integration/conftest.py) start and make them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from arrears.integrations.storage import S3Storage

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


def free_port() -> int:
    """A local TCP port nobody listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Moto:
    """A running moto server."""

    endpoint_url: str

    def client(self) -> Any:
        """A boto3 S3 client of the server, with the test credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )


def s3_storage(moto_server: Moto, bucket: str, sse: bool = True) -> S3Storage:
    """The platform's S3 storage on the server's bucket (server-side encryption unless ``sse`` is off)."""
    return S3Storage(
        bucket,
        moto_server.endpoint_url,
        REGION,
        server_side_encryption=sse,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
