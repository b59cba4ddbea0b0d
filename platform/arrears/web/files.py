"""Sending a stored file to the browser or an API client: as a download (never shown inline, so an
uploaded PDF or image cannot run in the platform's origin), not sniffed, not cached."""

from __future__ import annotations

import io
from typing import Any

from flask import send_file


def download(data: bytes, *, filename: str, content_type: str) -> Any:
    response = send_file(io.BytesIO(data), mimetype=content_type, as_attachment=True, download_name=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def attachment_download(attachment: Any, data: bytes) -> Any:
    """A case's attachment (``models.Attachment``) with its bytes, from ``attachments.open_for``."""
    return download(data, filename=attachment.filename, content_type=attachment.content_type)
