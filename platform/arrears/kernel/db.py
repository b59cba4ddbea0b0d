"""Bulk writes for the set-based services (imports, allocation): many rows in one statement.

PostgreSQL: COPY into a temporary staging table, then one ``INSERT ... SELECT`` (COPY cannot write into
a table under row-level security; the INSERT is checked by its policy like any other). Elsewhere
(SQLite, the embedded default): executemany through SQLAlchemy Core.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import current_app, has_request_context
from sqlalchemy import JSON, BigInteger, Connection, Enum, any_, bindparam, event, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from arrears.extensions import db
from arrears.security.pii import EncryptedText, keyring


def insert_pages(
    table: Any,
    rows: list[dict[str, Any]],
    returning: tuple[Any, ...] = (),
    *,
    conflict: str = "",
    sealed: bool = False,
    events: dict[str, Any] | None = None,
) -> list[Any]:
    """Insert many rows at once; returns the ``returning`` columns of the inserted rows.

    PostgreSQL: COPY into a temporary staging table, then one ``INSERT ... SELECT ... RETURNING``
    (COPY cannot write into a table under row-level security; the INSERT is checked by its policy).
    The values are converted as the column types would (JSON, enums; encryption unless ``sealed``:
    the values of encrypted columns are already tokens) before COPY. With ``events`` (cases only),
    the same statement writes one case event per inserted row from those values, and returns nothing.
    Elsewhere (SQLite): executemany through SQLAlchemy Core, whose column types encrypt: give clear
    values there (``sealed`` is for the COPY path only), and ``events`` are left to the caller (the
    returned ids).
    """
    if not rows:
        return []
    columns = list(rows[0])
    if db.session.get_bind().dialect.name != "postgresql":
        stmt = insert(table)
        if conflict:
            stmt = sqlite_insert(table).on_conflict_do_update(
                index_elements=_CONFLICTS[table.name][0],
                set_={c: getattr(sqlite_insert(table).excluded, c) for c in _CONFLICTS[table.name][1]},
            )
        if returning:
            return [
                r for row in rows for r in db.session.execute(stmt.values(row).returning(*returning)).all()
            ]
        db.session.execute(stmt, rows)
        return []
    converters = [converter(table.c[name].type, sealed) for name in columns]
    raw = db.session.connection().connection.dbapi_connection
    stage = f"stage_{table.name}"
    names = ", ".join(columns)
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "  # noqa: S608 (our own table names)
            f"SELECT {names} FROM {table.name} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [convert(row[name]) for convert, name in zip(converters, columns, strict=True)]
                )
        sql = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage}"  # noqa: S608
        if conflict:
            sql += " " + conflict
        params: tuple[Any, ...] = ()
        if events is not None:
            sql = (
                f"WITH inserted AS ({sql} RETURNING id) "  # noqa: S608
                "INSERT INTO case_events (org_id, case_id, kind, import_batch_id, actor_user_id, created_at, "
                "changes) SELECT %s, id, %s, %s, %s, %s, '{}' FROM inserted"
            )
            params = tuple(
                events[k] for k in ("org_id", "kind", "import_batch_id", "actor_user_id", "created_at")
            )
            returning = ()
        elif returning:
            sql += " RETURNING " + ", ".join(c.name for c in returning)
        cur.execute(sql, params or None)
        result = cur.fetchall() if returning else []
        cur.execute(f"DROP TABLE {stage}")
    return result


def insert_rows(
    table: Any,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert many rows given as tuples (values of ``columns``, in that order), plus ``constants``: the
    columns that have the same value in every row, sent once.

    The values are given as the database stores them (an enum's value, not the enum; a Decimal for
    money): nothing is converted row by row. PostgreSQL: COPY of the varying columns into a temporary
    staging table, then one ``INSERT ... SELECT`` that adds the constants (checked by the table's
    row-level security policy like any insert). Elsewhere: executemany through SQLAlchemy Core.
    """
    constants = dict(constants or {})
    dialect = db.session.get_bind().dialect
    if dialect.name != "postgresql":
        params = [{**constants, **dict(zip(columns, row, strict=True))} for row in rows]
        if params:
            db.session.execute(insert(table), params)
        return
    raw = db.session.connection().connection.dbapi_connection
    stage = f"stage_rows_{table.name}"
    names = ", ".join(columns)
    fixed = list(constants)
    casts = [f"CAST(%s AS {table.c[name].type.compile(dialect=dialect)})" for name in fixed]
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "  # noqa: S608 (our own table names)
            f"SELECT {names} FROM {table.name} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO {table.name} ({', '.join([*fixed, *columns])}) "  # noqa: S608
            f"SELECT {', '.join([*casts, *columns])} FROM {stage}",
            [constants[name] for name in fixed],
        )
        cur.execute(f"DROP TABLE {stage}")


# upserts: table -> (conflict columns, columns to update)
_CONFLICTS = {"debtor_contacts": (["debtor_id", "phone_bidx"], ["name", "relation"])}


def converter(column_type: Any, sealed: bool) -> Callable[[Any], Any]:
    """What the column type would bind, for COPY: encrypt, serialise JSON, enum values."""

    if isinstance(column_type, EncryptedText):
        if sealed:
            return lambda v: v
        ring = keyring()
        return lambda v: ring.encrypt(str(v)) if v not in (None, "") else v
    if isinstance(column_type, JSON):
        return lambda v: None if v is None else json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(column_type, Enum):
        return lambda v: v.value if hasattr(v, "value") else v
    return lambda v: v


def among(column: Any, ids: Sequence[Any], type_: Any = None) -> Any:
    """``column IN ids``: on PostgreSQL ``= ANY(array)``, one parameter however many values (a
    thousand placeholders cost more to send and parse than the look-ups). ``type_``: the element
    type (default BIGINT; ``String()`` for loan numbers and transaction ids)."""
    if db.session.get_bind().dialect.name == "postgresql":
        element = type_ if type_ is not None else BigInteger()
        return column == any_(bindparam(None, list(ids), type_=ARRAY(element)))
    return column.in_(list(ids))


def is_postgres() -> bool:
    """Whether the session's database is PostgreSQL (else the embedded SQLite)."""
    return db.session.get_bind().dialect.name == "postgresql"


def literal_like(term: str) -> str:
    """``term`` taken literally inside a LIKE pattern (use with ``escape="\\"``): ``%``, ``_`` and
    the backslash lose their meaning, so a search for ``%`` finds a percent sign instead of
    scanning every row."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- statement timeouts ----------------------------------------------------------------------------------

_TIMEOUT: ContextVar[int | None] = ContextVar("arrears_statement_timeout", default=None)


@contextmanager
def statement_timeout(seconds: int | None) -> Iterator[None]:
    """The transactions begun inside run their statements for at most ``seconds`` (0 or ``None``:
    no limit beyond the request's). The job runner wraps each job in the timeout of its kind."""
    token = _TIMEOUT.set(seconds or 0)
    try:
        yield
    finally:
        _TIMEOUT.reset(token)


def _set_timeout(session: Session, transaction: Any, connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    seconds = _TIMEOUT.get()
    if seconds is None and has_request_context():
        seconds = int(current_app.config.get("REQUEST_STATEMENT_TIMEOUT", 0))
    if seconds:
        connection.execute(_TIMEOUT_SQL, {"ms": str(int(seconds) * 1000)})


_TIMEOUT_SQL = text("SELECT set_config('statement_timeout', :ms, true)")
_timeouts_installed = False


def install_timeouts() -> None:
    """Every transaction of a web request, and of a job, gets its statement timeout (PostgreSQL
    stops a statement that runs longer, so one tenant's heavy search cannot hold a connection and
    a core for minutes while the others wait)."""
    global _timeouts_installed
    if not _timeouts_installed:
        event.listen(Session, "after_begin", _set_timeout)
        _timeouts_installed = True
