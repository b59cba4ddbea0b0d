"""Every background job by name, and the periodic entries declared beside them.

A job is a function decorated with ``@job("domain.verb")``. Code that starts it passes the function
itself to ``enqueue``; the job record keeps only the name, and the runner finds the function again
by that name (a rename of the module moves nothing in the database). A periodic entry is declared
on the job it runs::

    @job("payments.ledger-check", periodic="ledger-check", cron="40 2 * * *", per_tenant=True)
    def ledger_check_job(job: JobContext) -> dict[str, Any]: ...

``per_tenant=True``: the periodic run records one job per active tenant, called as
``fn(job, **kwargs)`` inside that tenant. Otherwise the periodic run calls ``fn(**kwargs)`` once,
and the function enters the tenants it needs itself.

The registry is filled when the modules that declare jobs are imported: ``arrears.jobs`` imports
every one of them, and the application imports ``arrears.jobs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_JOBS: dict[str, Callable[..., Any]] = {}
_TIMEOUTS: dict[str, int] = {}  # seconds a statement of the job may take (JOB_STATEMENT_TIMEOUT else)
_NAME_ATTR = "__job_name__"


@dataclass(frozen=True)
class Periodic:
    """One entry of the schedule: ``job`` is the registered name of the function it runs."""

    name: str
    job: str
    cron: str | None = None  # crontab in the scheduler's local time
    interval: int | None = None  # seconds
    kwargs: dict[str, Any] = field(default_factory=dict)
    per_tenant: bool = False
    queue: str | None = None  # None: the first of RQ_QUEUES

    @property
    def func(self) -> Callable[..., Any]:
        return resolve(self.job)


SCHEDULE: list[Periodic] = []


def job(
    name: str,
    *,
    periodic: str | None = None,
    cron: str | None = None,
    every: int | None = None,
    per_tenant: bool = False,
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    statement_timeout: int | None = None,
) -> Callable[[F], F]:
    """Register ``fn`` as the job ``name``; with ``periodic``, also as that schedule entry (exactly
    one of ``cron`` and ``every`` seconds). ``statement_timeout``: the seconds one SQL statement of
    this job may run (``JOB_STATEMENT_TIMEOUT`` when not given)."""
    if periodic is not None and (cron is None) == (every is None):
        raise ValueError(f"periodic entry {periodic!r}: give exactly one of cron and every")

    def register(fn: F) -> F:
        known = _JOBS.get(name)
        if known is not None and known.__qualname__ != fn.__qualname__:
            raise ValueError(f"two jobs are named {name!r}: {known.__module__} and {fn.__module__}")
        _JOBS[name] = fn
        if statement_timeout is not None:
            _TIMEOUTS[name] = statement_timeout
        setattr(fn, _NAME_ATTR, name)
        if periodic is not None:
            SCHEDULE[:] = [entry for entry in SCHEDULE if entry.name != periodic]
            SCHEDULE.append(
                Periodic(
                    periodic,
                    name,
                    cron=cron,
                    interval=every,
                    kwargs=dict(kwargs or {}),
                    per_tenant=per_tenant,
                    queue=queue,
                )
            )
        return fn

    return register


def name_of(fn: Callable[..., Any]) -> str:
    """The registered name of a job function (refuses a function that is not a job)."""
    name = getattr(fn, _NAME_ATTR, None)
    if name is None:
        raise ValueError(f"{fn!r} is not a job: decorate it with @job(name)")
    return str(name)


def statement_timeout_of(name: str) -> int | None:
    """The statement timeout the job ``name`` declared, if it did."""
    return _TIMEOUTS.get(name)


def resolve(name: str) -> Callable[..., Any]:
    """The function of the job ``name``; ``LookupError`` when no module declared it."""
    try:
        return _JOBS[name]
    except KeyError:
        raise LookupError(f"no job is named {name!r}") from None


def by_name(periodic: str) -> Periodic:
    """The schedule entry ``periodic``."""
    for entry in SCHEDULE:
        if entry.name == periodic:
            return entry
    raise KeyError(periodic)


def names() -> list[str]:
    return sorted(_JOBS)
