"""Transaction boundaries for use cases (cosmicpython's unit of work, without the ceremony).

A service function wraps its work in ``with transaction():``; the outermost block commits, and
rolls back on any exception. Nested blocks (a service calling another) join the outer one, so a use
case is one transaction however it is composed. Jobs queued in the block are sent only after the
commit (``tasks.queue.enqueue_after_commit``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from arrears.extensions import db


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
        from arrears.kernel.jobs.queue import run_eager_jobs

        run_eager_jobs()
