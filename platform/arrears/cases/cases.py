"""Reading cases: filters, sorts, keyset pagination, masking rules.

Days past due is ``business date - due_date``; a filter on it is a range on ``due_date`` (indexed),
and sorting by it is sorting by ``due_date`` the other way round.

The workbench's sorts (priority, next action date, promise due date, last contact) read columns kept on
the case; three of them may be NULL (no follow-up set, no pending promise, never reached). Every sort is
``(column, id)`` in one direction, with the NULLs at a fixed end, so a page's cursor is the last row's
``[value, id]`` and the next page is "after it" in that order, NULLs included (``_after``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, Text, cast, or_, select, tuple_
from sqlalchemy.orm import joinedload

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.imports import normalize
from arrears.cases.models import Case, CaseEvent, CaseStatus, Debtor
from arrears.cases.scopes import assigned, assigned_to, in_teams, unassigned
from arrears.errors import NotFound, ValidationFailed
from arrears.extensions import db
from arrears.integrations.storage import StorageNotFound, get_storage, tenant_key
from arrears.kernel import audit
from arrears.kernel.clock import business_date
from arrears.kernel.db import literal_like
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Partnership, PartnershipStatus
from arrears.security import masking
from arrears.security.pii import keyring
from arrears.tenancy.models import Organisation, OrgKind


@dataclass(frozen=True)
class Sort:
    """An order of cases: ``column`` then ``id``, both ``direction``; ``nulls_first`` says where the
    cases without a value come (only for nullable columns)."""

    column: Any
    direction: str  # "asc" or "desc"
    nulls_first: bool = False


SORTS = {
    # "dpd" ascending means fewest days past due first: the latest due date first.
    "dpd": Sort(Case.due_date, "desc"),
    "-dpd": Sort(Case.due_date, "asc"),
    "amount": Sort(Case.outstanding, "asc"),
    "-amount": Sort(Case.outstanding, "desc"),
    "-priority": Sort(Case.priority, "desc"),  # highest first
    "priority": Sort(Case.priority, "asc"),
    # the soonest follow-up (or promise) first; cases without one last, either way
    "next_action": Sort(Case.next_action_on, "asc"),
    "-next_action": Sort(Case.next_action_on, "desc"),
    "promise_due": Sort(Case.promise_due_on, "asc"),
    "-promise_due": Sort(Case.promise_due_on, "desc"),
    # oldest contact first, the never contacted before them; newest first, the never contacted last
    "last_contact": Sort(Case.last_contact_at, "asc", nulls_first=True),
    "-last_contact": Sort(Case.last_contact_at, "desc"),
}
BUCKETS = ("M0", "M1", "M2", "M3", "M4+")
# days past due of each bucket, inclusive (None: open-ended); see ``bucket``
_BUCKET_DPD: dict[str, tuple[int | None, int | None]] = {
    "M0": (None, 0),
    "M1": (1, 30),
    "M2": (31, 60),
    "M3": (61, 90),
    "M4+": (91, None),
}


def bucket(dpd: int) -> str:
    """M0 current, M1 1-30, M2 31-60, M3 61-90, M4+ over 90 (seed 002's classification)."""
    if dpd <= 0:
        return "M0"
    if dpd <= 30:
        return "M1"
    if dpd <= 60:
        return "M2"
    if dpd <= 90:
        return "M3"
    return "M4+"


@dataclass
class CaseFilter:
    dpd_min: int | None = None
    dpd_max: int | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    product: str | None = None
    province: str | None = None
    city: str | None = None
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    q: str | None = None  # name, loan number, ID number or mobile
    sort: str = "-dpd"
    # who holds it: unplaced (the owner's, nobody works it), placed (with an agency), inhouse (the
    # owner's own collectors), unassigned (the holder's pool), assigned (a collector works it)
    holding: str | None = None
    agency_id: int | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    # the workbench's filters: a days-past-due bucket (M0 .. M4+), a pending promise, a follow-up due
    # by the business date (today or overdue); ``q`` also matches the start of a loan number
    bucket: str | None = None
    has_promise: bool = False
    follow_up_due: bool = False
    loan_prefix: bool = False


HOLDINGS = ("unplaced", "placed", "inhouse", "unassigned", "assigned")


def filtered(org: Organisation, f: CaseFilter) -> Select[Any]:  # noqa: C901
    today = business_date(org)
    stmt = select(Case)
    if f.q:  # only a search needs the debtor's columns in the WHERE clause
        stmt = stmt.join(Debtor, Debtor.id == Case.debtor_id)
    if f.dpd_min is not None:
        stmt = stmt.where(Case.due_date <= today - dt.timedelta(days=f.dpd_min))
    if f.dpd_max is not None:
        stmt = stmt.where(Case.due_date >= today - dt.timedelta(days=f.dpd_max))
    if f.amount_min is not None:
        stmt = stmt.where(Case.outstanding >= f.amount_min)
    if f.amount_max is not None:
        stmt = stmt.where(Case.outstanding <= f.amount_max)
    for column, value in ((Case.product, f.product), (Case.province, f.province), (Case.city, f.city)):
        if value:
            stmt = stmt.where(column == value)
    if f.status == "open":  # the cases still in collection (new or active)
        stmt = stmt.where(Case.status.in_((CaseStatus.NEW, CaseStatus.ACTIVE)))
    elif f.status:
        try:
            stmt = stmt.where(Case.status == CaseStatus(f.status))
        except ValueError:
            raise ValidationFailed(_("Unknown status: %(value)s", value=f.status), field="status")
    for tag in f.tags:  # tags are a JSON list of strings: match the quoted element
        stmt = stmt.where(cast(Case.tags, Text).like(f'%"{literal_like(tag)}"%', escape="\\"))
    if f.q:
        stmt = stmt.where(search_condition(f.q, loan_prefix=f.loan_prefix))
    if f.bucket:
        if f.bucket not in _BUCKET_DPD:
            raise ValidationFailed(_("Unknown bucket: %(value)s", value=f.bucket), field="bucket")
        low, high = _BUCKET_DPD[f.bucket]
        if low is not None:
            stmt = stmt.where(Case.due_date <= today - dt.timedelta(days=low))
        if high is not None:
            stmt = stmt.where(Case.due_date >= today - dt.timedelta(days=high))
    if f.has_promise:
        stmt = stmt.where(Case.promise_due_on.is_not(None))
    if f.follow_up_due:
        stmt = stmt.where(Case.next_action_on <= today)
    if f.holding:
        if f.holding not in HOLDINGS:
            raise ValidationFailed(_("Unknown holding: %(value)s", value=f.holding), field="holding")
        stmt = stmt.where(
            {
                "unplaced": Case.agency_org_id.is_(None) & unassigned(),
                "placed": Case.agency_org_id.is_not(None),
                "inhouse": Case.agency_org_id.is_(None) & assigned(),
                "unassigned": unassigned(),
                "assigned": assigned(),
            }[f.holding]
        )
    if f.agency_id is not None:
        stmt = stmt.where(Case.agency_org_id == f.agency_id)
    if f.assignee_id is not None:
        stmt = stmt.where(assigned_to(f.assignee_id))
    if f.team_id is not None:
        stmt = stmt.where(in_teams([f.team_id]))
    return stmt


def search_condition(q: str, *, loan_prefix: bool = False) -> Any:
    """Exact ID number or mobile (through the blind index), exact loan number (or, with
    ``loan_prefix``, its start), or part of the name."""

    text = normalize.text(q)
    literal = literal_like(text)  # taken literally: a search for "%" is not a scan of every row
    conditions = [Case.loan_no == text, Debtor.name.like(f"%{literal}%", escape="\\")]
    if loan_prefix:
        conditions.append(Case.loan_no.like(f"{literal}%", escape="\\"))
    with contextlib.suppress(normalize.CellError):
        conditions.append(Debtor.id_number_bidx == keyring().blind_index("id", normalize.id_number(text)))
    with contextlib.suppress(normalize.CellError):
        conditions.append(Debtor.mobile_bidx == keyring().blind_index("mobile", normalize.mobile(text)))
    return or_(*conditions)


def _encode(values: list[Any]) -> str:
    def plain(value: Any) -> str:
        return value.isoformat() if isinstance(value, dt.date) else str(value)

    return base64.urlsafe_b64encode(json.dumps(values, default=plain).encode()).decode().rstrip("=")


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(_("The cursor is not valid; start again without it."), field="cursor")


def _decode(cursor: str, sort: Sort) -> tuple[Any, int]:  # noqa: C901
    """The cursor's ``(value, id)``, the value parsed as the sort column's type."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError(cursor)
        raw, last_id = values
        if isinstance(last_id, bool) or not isinstance(last_id, int):
            raise ValueError(cursor)
        if raw is None:
            if not sort.column.nullable:
                raise ValueError(cursor)
            return None, last_id
        column_type = sort.column.type
        python_type = getattr(column_type, "impl", column_type).python_type  # through a TypeDecorator
        value: Any
        if python_type is dt.datetime:
            value = dt.datetime.fromisoformat(raw)
            if value.tzinfo is None:
                raise ValueError(cursor)
        elif python_type is dt.date:
            value = dt.date.fromisoformat(raw)
        elif python_type is Decimal:
            value = Decimal(raw)
            if not value.is_finite():
                raise ValueError(cursor)
        elif python_type is int and isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            raise ValueError(cursor)
        return value, last_id
    except Exception:
        raise _bad_cursor()


def _after(sort: Sort, value: Any, last_id: int) -> Any:
    """The rows after ``(value, last_id)`` in ``sort``'s order, with its NULLs at their end."""
    column = sort.column
    ascending = sort.direction == "asc"
    if value is None:  # inside the NULLs: the later ids among them, then (NULLs first) every value
        later = Case.id > last_id if ascending else Case.id < last_id
        rest = column.is_(None) & later
        return or_(rest, column.is_not(None)) if sort.nulls_first else rest
    # a row-value comparison: PostgreSQL walks an index on (column, id) from the cursor
    key = tuple_(column, Case.id)
    beyond = key > tuple_(value, last_id) if ascending else key < tuple_(value, last_id)
    if column.nullable and not sort.nulls_first:
        return or_(beyond, column.is_(None))  # the NULLs come after every value
    return beyond


def _order(sort: Sort) -> tuple[Any, ...]:
    column = sort.column.asc() if sort.direction == "asc" else sort.column.desc()
    if sort.column.nullable:
        column = column.nulls_first() if sort.nulls_first else column.nulls_last()
    return (column, Case.id.asc() if sort.direction == "asc" else Case.id.desc())


def page(
    org: Organisation,
    f: CaseFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    unmasked: bool = False,
    max_limit: int = 500,
    scope: Any = None,
) -> tuple[list[Case], str | None]:
    """One page of cases in the requested order, and the cursor of the next page (keyset).
    ``scope``: the reader's case scope (``cases.scopes.case_scope``)."""
    sort = _sort(f)
    limit = max(1, min(limit, max_limit))
    stmt = filtered(org, f)
    if unmasked:  # the encrypted columns are deferred: load them with the page, not one by one
        stmt = stmt.options(joinedload(Case.debtor).undefer_group("pii"))
    rows = list(db.session.scalars(_keyset(stmt, sort, cursor, scope, limit)))
    return _paged(rows, limit, sort)


# What a list of cases shows (the workbench's list): read as plain rows, without loading the cases
# and their debtors as objects.
LIST_COLUMNS = (
    Case.id,
    Case.loan_no,
    Case.product,
    Case.due_date,
    Case.outstanding,
    Case.priority,
    Case.status,
    Case.next_action_on,
    Case.promise_due_on,
    Case.last_contact_at,
    Debtor.name.label("debtor_name"),
)


def page_rows(
    org: Organisation, f: CaseFilter, *, limit: int = 50, cursor: str | None = None, scope: Any = None
) -> tuple[list[Any], str | None]:
    """``page`` as rows of ``LIST_COLUMNS`` (attribute access by column name, the debtor's name as
    ``debtor_name``, stored as it is: the caller masks it)."""
    sort = _sort(f)
    limit = max(1, min(limit, 500))
    base = filtered(org, f)
    if not f.q:  # a search joined the debtor already
        base = base.join(Debtor, Debtor.id == Case.debtor_id)
    stmt: Any = base.with_only_columns(*LIST_COLUMNS)
    rows = list(db.session.execute(_keyset(stmt, sort, cursor, scope, limit)))
    return _paged(rows, limit, sort)


def _keyset(stmt: Any, sort: Sort, cursor: str | None, scope: Any, limit: int) -> Any:
    """``stmt`` narrowed to the reader's scope and to the rows after ``cursor``, in ``sort``'s order,
    one row beyond ``limit`` (``_paged`` tells from it whether a next page exists)."""
    if scope is not None:
        stmt = stmt.where(scope)
    if cursor:
        stmt = stmt.where(_after(sort, *_decode(cursor, sort)))
    return stmt.order_by(*_order(sort)).limit(limit + 1)


def _sort(f: CaseFilter) -> Sort:
    sort = SORTS.get(f.sort)
    if sort is None:
        raise ValidationFailed(_("Sort by one of: %(sorts)s.", sorts=", ".join(SORTS)), field="sort")
    return sort


def _paged(rows: list[Any], limit: int, sort: Sort) -> tuple[list[Any], str | None]:
    """The page and the cursor after it: ``rows`` were read one beyond ``limit``."""
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([getattr(last, sort.column.key), last.id])
    return rows, next_cursor


def loan_numbers(case_ids: Any) -> dict[int, str]:
    """Loan numbers of the cases the reader sees, by case id (one query)."""
    wanted = {int(i) for i in case_ids if i}
    if not wanted:
        return {}
    return dict(db.session.execute(select(Case.id, Case.loan_no).where(Case.id.in_(wanted))).all())


def history(case: Case) -> list[CaseEvent]:
    return list(
        db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
        )
    )


def owners_granting(actor: User, right: str) -> set[int]:
    """The asset owners whose partnership with the actor's agency grants ``right`` (M-R1)."""
    return {
        p.org_id
        for p in db.session.scalars(
            select(Partnership).where(
                Partnership.agency_org_id == actor.org_id, Partnership.status == PartnershipStatus.ACTIVE
            )
        )
        if right in (p.grants or [])
    }


def unmask_filter(actor: User) -> Any:
    """Which cases the actor may see unmasked: a predicate on a case. An owner's people with
    ``pii.unmask`` see their own cases in clear; an agency's people also need the owner's grant of
    ``pii.unmask`` in the partnership."""
    if not actor.can("pii.unmask"):
        return lambda case: False
    if actor.org.kind == OrgKind.ASSET_OWNER:
        return lambda case: case.org_id == actor.org_id
    owners = owners_granting(actor, "pii.unmask")
    return lambda case: case.org_id in owners


def record_unmasking(actor: User, cases: list[Case], *, channel: str) -> None:
    """Showing personal data in clear is audited (who, which cases, where)."""
    if not cases:
        return
    audit.record(
        "pii.unmasked",
        actor=actor,
        target_type="case",
        target_id=cases[0].id if len(cases) == 1 else "",
        details={"channel": channel, "cases": [c.id for c in cases[:200]], "count": len(cases)},
    )


def search_debtors(q: str, limit: int = 50) -> list[Debtor]:
    """Debtors by part of the name, or exactly by loan number, ID number or mobile."""
    if not q or not q.strip():
        return []
    stmt = (
        select(Debtor)
        .outerjoin(Case, Case.debtor_id == Debtor.id)
        .where(search_condition(q))
        .distinct()
        .order_by(Debtor.name, Debtor.id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def contacts_view(debtor: Debtor, *, unmasked: bool) -> list[dict[str, Any]]:

    return [
        {
            "id": c.id,
            "name": c.name if unmasked else masking.name(c.name),
            "relation": c.relation,
            # masked: the stored projection, nothing decrypted (older rows without one: masked here)
            "phone": c.phone if unmasked else (c.phone_masked or masking.phone(c.phone)),
        }
        for c in debtor.contacts
    ]


def edit_case(actor: User, case: Case, *, status: str, priority: int, tags: list[str]) -> Case:
    """A console edit: every change is recorded in the case's history and the operation log."""

    require(actor, "cases.import")
    try:
        new_status = CaseStatus(status)
    except ValueError:
        raise ValidationFailed(_("Unknown status: %(value)s", value=status), field="status")
    tags = sorted({t.strip() for t in tags if t.strip()})
    with transaction():
        changes: dict[str, Any] = {}
        for name, value in (("status", new_status), ("priority", priority), ("tags", tags)):
            old = getattr(case, name)
            if old != value:
                changes[name] = [
                    old.value if hasattr(old, "value") else old,
                    value.value if hasattr(value, "value") else value,
                ]
                setattr(case, name, value)
        if changes:
            db.session.add(
                CaseEvent(
                    org_id=case.org_id,
                    case_id=case.id,
                    kind="edited",
                    actor_user_id=actor.id,
                    changes=changes,
                )
            )
            audit.record("case.edited", actor=actor, target=case, details=changes)
    return case


FACE_MAX_BYTES = 5 * 1024 * 1024
_IMAGE_TYPES = {b"\xff\xd8\xff": ("jpg", "image/jpeg"), b"\x89PNG\r\n\x1a\n": ("png", "image/png")}


def set_face_image(actor: User, debtor: Debtor, data: bytes) -> Debtor:
    """Store the debtor's face image (JPEG or PNG) through the storage layer; the key is encrypted."""

    require(actor, "cases.import")
    if len(data) > FACE_MAX_BYTES:
        raise ValidationFailed(_("The image is larger than 5 MB."), field="face")
    kind = next((v for magic, v in _IMAGE_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise ValidationFailed(_("Upload a JPEG or PNG image."), field="face")
    key = tenant_key(debtor.org_id, "faces", f"{debtor.id}-{hashlib.sha256(data).hexdigest()[:16]}.{kind[0]}")
    get_storage().put(key, data, kind[1])
    with transaction():
        debtor.face_image_key = key
        audit.record("debtor.face_uploaded", actor=actor, target=debtor)
    return debtor


def face_image(actor: User, debtor: Debtor) -> tuple[bytes, str]:
    """The face image, for users who may see personal data in clear; every view is audited."""

    require(actor, "pii.unmask")
    if not debtor.face_image_key:
        raise NotFound(_("Not found."))
    try:
        data = get_storage().get(debtor.face_image_key)
    except StorageNotFound:
        raise NotFound(_("Not found."))
    with transaction():
        audit.record("pii.face_viewed", actor=actor, target=debtor)
    return data, "image/png" if debtor.face_image_key.endswith(".png") else "image/jpeg"
