"""Call centres: click-to-call (点击外呼) behind one interface.

A collector never sees the number: the service hands it to the adapter, which asks the provider to
ring the collector's seat and then the debtor, and returns the provider's id of the call. What the
platform stores is the masked number and that id (``models.work.Call``).

``CALLCENTRE_PROVIDER`` picks the adapter (default ``sandbox``). ``PROVIDERS`` maps a name to a
factory taking the application's configuration, so an HTTP provider is one class and one
``register_provider("acme", AcmeCallCentre.from_config)`` away. ``get_callcentre()`` keeps one
instance per application in ``app.extensions["arrears.callcentre"]``.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from arrears.security import masking

EXTENSION_KEY = "arrears.callcentre"


class CallCentreError(RuntimeError):
    """The provider refused or could not place the call."""


@dataclass(frozen=True)
class CallOutcome:
    """What a provider reports after the call (its callback, or a fetch of the call's record)."""

    external_id: str
    duration_s: int
    result: str  # one of models.work.CallResult's values
    recording_ref: str = ""


class CallCentre(ABC):
    """The operations the platform needs from a call centre."""

    name: str = ""

    @abstractmethod
    def click_to_call(self, number: str, user: Any, case_ref: str) -> str:
        """Connect ``user`` (the collector's seat) with ``number``; returns the provider's call id.
        ``case_ref`` (the loan number) goes with the call so the provider's records can be matched."""

    def fetch_outcome(self, external_id: str) -> CallOutcome | None:
        """The outcome of a call the provider knows, or ``None`` while it is not over (providers that
        push callbacks instead need not implement this)."""
        return None


@dataclass(frozen=True)
class SandboxCall:
    external_id: str
    user_id: int | None
    case_ref: str
    number_masked: str
    at: dt.datetime


class SandboxCallCentre(CallCentre):
    """Records the request and dials nothing (no network): for the demo tenant, trials and tests.

    It keeps the last calls in memory with the number masked, so nothing in clear lingers here."""

    name = "sandbox"

    def __init__(self, keep: int = 1000) -> None:
        self.calls: deque[SandboxCall] = deque(maxlen=keep)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SandboxCallCentre:
        return cls()

    def click_to_call(self, number: str, user: Any, case_ref: str) -> str:
        if not number:
            raise CallCentreError("no number to dial")
        external_id = f"sandbox-{uuid.uuid4().hex}"
        with self._lock:
            self.calls.append(
                SandboxCall(
                    external_id=external_id,
                    user_id=getattr(user, "id", None),
                    case_ref=case_ref,
                    number_masked=masking.phone(number),
                    at=dt.datetime.now(dt.UTC),
                )
            )
        return external_id


PROVIDERS: dict[str, Callable[[Mapping[str, Any]], CallCentre]] = {
    "sandbox": SandboxCallCentre.from_config,
}


def register_provider(name: str, factory: Callable[[Mapping[str, Any]], CallCentre]) -> None:
    """Make a provider selectable by ``CALLCENTRE_PROVIDER=name``."""
    PROVIDERS[name] = factory


def get_callcentre() -> CallCentre:
    """The current application's call centre, as ``CALLCENTRE_PROVIDER`` names it."""
    app = current_app
    centre: CallCentre | None = app.extensions.get(EXTENSION_KEY)
    if centre is None:
        name = app.config.get("CALLCENTRE_PROVIDER") or "sandbox"
        factory = PROVIDERS.get(name)
        if factory is None:
            raise CallCentreError(
                f"unknown CALLCENTRE_PROVIDER {name!r}; known: {', '.join(sorted(PROVIDERS))}"
            )
        centre = app.extensions.setdefault(EXTENSION_KEY, factory(app.config))
    return centre
