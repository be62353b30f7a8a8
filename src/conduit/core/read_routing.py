"""Who the current read is for, so the database can choose where to run it.

Entry points declare the caller once, where they resolve the principal (the HTTP layer,
the GraphQL context): :func:`read_as` with a user's id, or with None for an anonymous
caller. :class:`~conduit.core.db.Database` reads it with :func:`current` when a read-only
unit of work opens, and when a unit of work commits (whose write it was):

- nothing declared (a background task: the relay, the access rules, the live publisher, a
  CLI command, the worker): the primary, which has every committed write;
- an anonymous caller: a replica at once (no write of theirs to wait for);
- a signed-in user: a replica that has replayed that user's last write, else the primary.

A context variable rather than an argument, so that no use case and no repository needs to
know that replicas exist; each request (and each task it starts) has its own.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reader:
    """The caller a read is made for; ``user_id`` None is an anonymous caller."""

    user_id: int | None


ANONYMOUS = Reader(user_id=None)

_current: ContextVar[Reader | None] = ContextVar("conduit_reader", default=None)


def read_as(user_id: int | None) -> Token[Reader | None]:
    """Declare whom this request's reads (and writes) are for, until :func:`forget`."""
    return _current.set(ANONYMOUS if user_id is None else Reader(user_id=user_id))


def forget(token: Token[Reader | None]) -> None:
    """Undo the :func:`read_as` that returned ``token``."""
    _current.reset(token)


def current() -> Reader | None:
    """The declared caller, or None when nobody declared one (a background task)."""
    return _current.get()
