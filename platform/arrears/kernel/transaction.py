"""Transaction boundaries for use cases (cosmicpython's unit of work, without the ceremony).

A service function wraps its work in ``with transaction():``; the outermost block commits, and
rolls back on any exception. Nested blocks (a service calling another) join the outer one, so a use
case is one transaction however it is composed. Jobs queued in the block are sent only after the
commit (``kernel.jobs.queue.enqueue_after_commit``), and so are the callbacks given to ``on_commit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session

from arrears.extensions import db
from arrears.kernel.jobs.queue import run_eager_jobs

_ON_COMMIT = "arrears_on_commit"  # session.info key: callbacks waiting for the commit


@contextmanager
def transaction() -> Iterator[Session]:
    session: Session = db.session()
    depth = session.info.get("uow_depth", 0)
    session.info["uow_depth"] = depth + 1
    try:
        yield session
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info["uow_depth"] = depth
    if depth == 0:
        run_eager_jobs()


def on_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the open transaction commits (at once when none is open); a rollback
    drops it. For effects outside the database that must not happen for a change that is rolled
    back, or be seen before it commits (dropping a cache). The callback must not use the session."""
    session: Session = db.session()
    if not session.in_transaction():
        callback()
        return
    session.info.setdefault(_ON_COMMIT, []).append(callback)


def _run_on_commit(session: Session) -> None:
    for callback in session.info.pop(_ON_COMMIT, []):
        callback()


def _drop_on_commit(session: Session, *args: object) -> None:
    session.info.pop(_ON_COMMIT, None)


_installed = False


def install() -> None:
    """Listen to every session's commits and rollbacks (the application factory calls it)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_commit", _run_on_commit)
    event.listen(Session, "after_rollback", _drop_on_commit)
    _installed = True
