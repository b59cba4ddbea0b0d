"""In-transaction domain hooks: a domain says what happened, the domains above it react.

Imports go one way (a domain imports only the domains below it), yet some effects must travel
upward: an applied payment recovers a written-off loan (``writeoffs``) and moves the honour roll
(``reports``); an approved repayment report becomes a repayment waiting for the owner's audit
(``payments``, above ``work``). The lower domain defines the event (a frozen dataclass, in its
``events`` module) and ``emit``\\s it where the thing happens; the handlers run at once, in the
caller's transaction, so their writes commit or roll back with the change that caused them (a
handler that must wait for the commit, such as dropping a cache, registers itself with
``kernel.transaction.on_commit``).

Who reacts to what is one explicit table, ``arrears.hooks.HOOKS`` (cosmicpython's
``EVENT_HANDLERS``): the application factory installs it, and reading it tells every effect that
crosses a domain upward. ``emit`` before ``install`` is an error, and so is an event marked
``required`` that nobody handles: an effect that moves money is never silently lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

Handler = Callable[[Any], None]


class Event:
    """The base of every hook event. Subclasses are frozen dataclasses of the emitting domain;
    ``required``: emitting it with no handler in the table is an error."""

    required: ClassVar[bool] = False


_table: dict[type[Event], tuple[Handler, ...]] | None = None


def install(table: Mapping[type[Event], Sequence[Handler]]) -> None:
    """Install the table (idempotent: the factory runs once per application, tests make many)."""
    global _table
    for event_type in table:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"not a hook event: {event_type!r}")
    _table = {event_type: tuple(handlers) for event_type, handlers in table.items()}


def handlers(event_type: type[Event]) -> tuple[Handler, ...]:
    if _table is None:
        raise RuntimeError("the hooks table is not installed (arrears.app.create_app installs it)")
    return _table.get(event_type, ())


def emit(event: Event) -> None:
    """Run the handlers of ``event``'s type, in the table's order, in the caller's transaction."""
    found = handlers(type(event))
    if not found and type(event).required:
        raise RuntimeError(f"no handler for {type(event).__name__} in arrears.hooks.HOOKS")
    for handler in found:
        handler(event)
