"""A job's JSON arguments and status: filters through the record, and the progress a page polls."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, TypeVar

from arrears.kernel.jobs.models import JobRecord

T = TypeVar("T")


def status(record: JobRecord) -> dict[str, Any]:
    """What a page's progress bar polls."""
    return {
        "id": record.id,
        "name": record.name,
        "status": record.status.value,
        "progress": record.progress,
        "message": record.message,
        "done": record.status.done,
    }


def filter_args(f: Any) -> dict[str, Any]:
    """A filter dataclass as a job's JSON arguments (dates as ISO strings)."""
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in vars(f).items()}


def filter_of(cls: type[T], values: dict[str, Any], dates: tuple[str, ...]) -> T:
    """The filter dataclass ``cls`` back from a job's JSON arguments (``dates``: its date fields);
    keys it does not know are ignored."""
    out = dict(values)
    for key in dates:
        if out.get(key):
            out[key] = dt.date.fromisoformat(str(out[key]))
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in out.items() if k in known})
