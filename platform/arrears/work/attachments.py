"""Files on a case (附件): evidence of a payment, documents, the letters the platform generates.

A file is accepted when its first bytes say it is a PDF, JPEG, PNG or WebP image *and* its name's
extension says the same; its size is at most ``ATTACHMENT_MAX_BYTES``. The bytes go to storage under
the case owner's prefix (``tenants/<owner>/cases/<case>/attachments/<uuid>.<ext>``, built by the
server), the row names the owner (``org_id``) and the agency whose person uploaded it
(``agency_org_id``, NULL for the owner's own people). A failed upload leaves nothing behind: no row,
no file. Downloads are audited.
"""

from __future__ import annotations

import contextlib
import hashlib
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.cases.models import Case
from arrears.errors import PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.integrations.storage import get_storage, tenant_key
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.tenancy.models import OrgKind
from arrears.work.loaders import get_attachment_for
from arrears.work.models import Application, Attachment
from arrears.work.notes import worked_case

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# What a person may upload; "letter" is written only by work.letters.
UPLOAD_KINDS = ("evidence", "document")
KINDS = (*UPLOAD_KINDS, "letter")


@dataclass(frozen=True)
class FileType:
    ext: str  # the extension stored
    content_type: str
    extensions: tuple[str, ...]  # the names' extensions that agree with it


TYPES = {
    "pdf": FileType("pdf", "application/pdf", ("pdf",)),
    "jpeg": FileType("jpg", "image/jpeg", ("jpg", "jpeg")),
    "png": FileType("png", "image/png", ("png",)),
    "webp": FileType("webp", "image/webp", ("webp",)),
}


def sniff(data: bytes) -> FileType | None:
    """The type the content itself declares, from its magic bytes; ``None`` for anything else."""
    if data.startswith(b"%PDF-"):
        return TYPES["pdf"]
    if data.startswith(b"\xff\xd8\xff"):
        return TYPES["jpeg"]
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return TYPES["png"]
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return TYPES["webp"]
    return None


def max_bytes() -> int:
    return int(current_app.config.get("ATTACHMENT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def _size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"


def clean_filename(filename: str) -> str:
    """The name shown and offered on download: the last path part, without control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return name[:255]


def check_file(filename: str, data: bytes) -> tuple[str, FileType]:
    """The cleaned name and the sniffed type; ``ValidationFailed`` on the field ``file`` otherwise."""
    name = clean_filename(filename)
    if not name:
        raise ValidationFailed(_("Choose a file to upload."), field="file")
    if not data:
        raise ValidationFailed(_("The file is empty."), field="file")
    limit = max_bytes()
    if len(data) > limit:
        raise ValidationFailed(
            _(
                "The file is %(size)s; the limit is %(limit)s.",
                size=_size_text(len(data)),
                limit=_size_text(limit),
            ),
            field="file",
        )
    kind = sniff(data)
    if kind is None:
        raise ValidationFailed(
            _("Only PDF, JPEG, PNG and WebP files are accepted; this file is none of them."), field="file"
        )
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in kind.extensions:
        raise ValidationFailed(
            _(
                "The file's name ends in “%(ext)s” but its content is %(type)s; rename it or choose "
                "another file.",
                ext=extension or _("no extension"),
                type=kind.ext.upper(),
            ),
            field="file",
        )
    return name, kind


def agency_of(actor: User) -> int | None:
    """The organisation a piece of work is shared with: the actor's agency, or NULL for the owner's."""
    return actor.org_id if actor.org.kind == OrgKind.AGENCY else None


def may_see_work(actor: User) -> bool:
    return actor.can("workbench.use") or actor.can("work.view")


def require_work_view(actor: User) -> None:
    if not may_see_work(actor):
        raise PermissionDenied(_("You do not have the permission for this action."))


@contextlib.contextmanager
def stored(key: str, data: bytes, content_type: str) -> Iterator[None]:
    """Put the bytes in storage, then run the body of the ``with`` (the transaction that writes the
    row): if the body raises, the file is removed again, so a failed use case leaves no orphan file."""
    storage = get_storage()
    storage.put(key, data, content_type)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            storage.delete(key)
        raise


def new_key(case: Case, file_type: FileType) -> str:
    """A fresh storage key under the case owner's prefix (never anything the user sent)."""
    name = f"{uuid.uuid4().hex}.{file_type.ext}"
    return tenant_key(case.org_id, "cases", str(case.id), "attachments", name)


def store(
    actor: User,
    case: Case,
    *,
    key: str,
    filename: str,
    data: bytes,
    kind: str,
    file_type: FileType,
    application_id: int | None = None,
) -> Attachment:
    """Add the row in the caller's transaction, which runs inside ``stored(key, ...)``."""
    attachment = Attachment(
        org_id=case.org_id,
        case_id=case.id,
        agency_org_id=agency_of(actor),
        uploaded_by_id=actor.id,
        kind=kind,
        filename=filename,
        content_type=file_type.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        application_id=application_id,
    )
    db.session.add(attachment)
    db.session.flush()
    return attachment


def upload(
    actor: User,
    case_id: Any,
    filename: str,
    data: bytes,
    kind: str = "evidence",
    *,
    application_id: int | None = None,
) -> Attachment:
    """Attach a file to a case the actor works (``notes.worked_case``: in their scope and held by
    their organisation)."""
    case = worked_case(actor, case_id)
    if kind not in UPLOAD_KINDS:
        raise ValidationFailed(_("Choose what the file is: evidence or a document."), field="kind")
    name, file_type = check_file(filename, data)
    if application_id is not None and not db.session.scalar(
        select(Application.id).where(Application.id == application_id, Application.case_id == case.id)
    ):
        raise ValidationFailed(_("The application is not one of this case's."), field="application_id")
    key = new_key(case, file_type)
    with stored(key, data, file_type.content_type), transaction():
        attachment = store(
            actor,
            case,
            key=key,
            filename=name,
            data=data,
            kind=kind,
            file_type=file_type,
            application_id=application_id,
        )
        audit.record(
            "attachment.uploaded",
            actor=actor,
            target=attachment,
            details={"case_id": case.id, "kind": kind, "size": len(data), "sha256": attachment.sha256},
        )
    return attachment


def list_for(actor: User, case: Case) -> list[Attachment]:
    """The files on a case the actor sees (an agency: its own people's), newest first."""
    require_work_view(actor)
    return list(
        db.session.scalars(
            select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id.desc())
        )
    )


def open_for(actor: User, attachment_id: Any) -> tuple[Attachment, bytes]:
    """A file's row and bytes for download; the download is audited."""
    attachment = get_attachment_for(actor, attachment_id)
    require_work_view(actor)
    data = get_storage().get(attachment.storage_key)
    with transaction():
        audit.record(
            "attachment.downloaded",
            actor=actor,
            target=attachment,
            details={"case_id": attachment.case_id, "filename": attachment.filename},
        )
    return attachment, data
