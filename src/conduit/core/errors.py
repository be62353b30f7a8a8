"""One error hierarchy for every use case; each entry point maps it once.

Every error carries the field it is about and a message, so that REST can answer
``{"errors": {"<field>": ["<message>"]}}`` and GraphQL can put the same in extensions.
"""

from __future__ import annotations


class ConduitError(Exception):
    """Base of every error a use case raises on purpose."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.errors: dict[str, list[str]] = {field: [message]}

    @classmethod
    def many(cls, errors: dict[str, list[str]]) -> ConduitError:
        first_field, first_messages = next(iter(errors.items()))
        error = cls.__new__(cls)
        ConduitError.__init__(error, first_field, first_messages[0])
        error.errors = errors
        return error


class Invalid(ConduitError):
    status = 422
    code = "invalid"


class Unauthenticated(ConduitError):
    status = 401
    code = "unauthenticated"


class Forbidden(ConduitError):
    status = 403
    code = "forbidden"

    def __init__(self, resource: str) -> None:
        super().__init__(resource, "forbidden")


class NotFound(ConduitError):
    status = 404
    code = "not_found"

    def __init__(self, resource: str) -> None:
        super().__init__(resource, "not found")


class Conflict(ConduitError):
    status = 409
    code = "conflict"


class Unavailable(ConduitError):
    status = 503
    code = "unavailable"
