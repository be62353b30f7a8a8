"""Who is calling: the principal every entry point (REST, WebSocket, GraphQL) builds once.

:func:`authenticate` turns a raw access token into a :class:`Principal` without touching
the network or a framework; use cases receive the principal's id (and, as they grow,
its roles and session) instead of a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conduit.core.security import TokenCodec


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user as far as a token tells: the id now, roles and session later."""

    id: int
    roles: frozenset[str] = field(default_factory=frozenset)


def authenticate(tokens: TokenCodec, token: str) -> Principal:
    """The principal a valid access token names; Unauthenticated for anything else."""
    return Principal(id=tokens.user_id(token))
