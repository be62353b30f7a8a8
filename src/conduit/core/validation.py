"""Field types shared by request schemas, with the RealWorld error messages.

Errors raised here carry their final message ("can't be blank", "is invalid", ...); the
REST adapter turns them into ``{"errors": {"<field>": ["<message>"]}}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERNAME_PATTERN = re.compile(r"^[^\s/\\?#%]+$")


def blank_error() -> PydanticCustomError:
    return PydanticCustomError("blank", "can't be blank")


def _no_nul(value: str) -> str:
    """NUL characters are refused: PostgreSQL cannot store them, and no text needs one."""
    if "\x00" in value:
        raise PydanticCustomError("invalid", "is invalid")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise blank_error()
    return _no_nul(value)


def _stripped_not_blank(value: str) -> str:
    return _not_blank(value).strip()


def _email(value: str) -> str:
    value = _stripped_not_blank(value).lower()
    if not EMAIL_PATTERN.match(value):
        raise PydanticCustomError("invalid", "is invalid")
    return value


def _username(value: str) -> str:
    value = _stripped_not_blank(value)
    if not USERNAME_PATTERN.match(value):
        raise PydanticCustomError("invalid", "is invalid")
    return value


def _password(value: str) -> str:
    _not_blank(value)
    if len(value) < 8:
        raise PydanticCustomError("too_short", "is too short (minimum is 8 characters)")
    return value


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise blank_error()
    return value


# For partial updates: the key may be left out (None by default), but an explicit null is
# refused with "can't be blank" -- the value can change, not be erased.
NotNull = BeforeValidator(_refuse_null)


def _empty_to_none(value: str | None) -> str | None:
    return _no_nul(value) if value else None


def _tags(values: list[str]) -> list[str]:
    """Trimmed, non-blank, duplicates dropped; first occurrence keeps its place."""
    seen: dict[str, None] = {}
    for raw in values:
        tag = _no_nul(raw).strip()
        if not tag:
            raise blank_error()
        seen.setdefault(tag, None)
    return list(seen)


Title = Annotated[str, Field(max_length=255), AfterValidator(_stripped_not_blank)]
Description = Annotated[str, Field(max_length=1000), AfterValidator(_stripped_not_blank)]
Body = Annotated[str, Field(max_length=100_000), AfterValidator(_not_blank)]
CommentBody = Annotated[str, Field(max_length=20_000), AfterValidator(_not_blank)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Username = Annotated[str, Field(max_length=64), AfterValidator(_username)]
Password = Annotated[str, Field(max_length=256), AfterValidator(_password)]
LoginPassword = Annotated[str, Field(max_length=256), AfterValidator(_not_blank)]
Bio = Annotated[str | None, Field(max_length=2000), AfterValidator(_empty_to_none)]
ImageUrl = Annotated[str | None, Field(max_length=2048), AfterValidator(_empty_to_none)]
TagName = Annotated[str, Field(max_length=64)]
TagList = Annotated[list[TagName], Field(max_length=20), AfterValidator(_tags)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown keys are ignored, values are never coerced."""

    model_config = ConfigDict(extra="ignore", strict=True)


class PatchModel(RequestModel):
    """A partial update: a key left out keeps its value (see ``NotNull``)."""

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


# --- pydantic errors as RealWorld field messages (shared by REST and GraphQL) ----------

_TYPE_MESSAGES = {
    "missing": "can't be blank",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "json_invalid": "is not valid JSON",
    "json_type": "must be JSON",
    "string_unicode": "must be valid unicode",
}


def _field(loc: tuple[int | str, ...]) -> str:
    """The name a client knows: the innermost key ('user' if the wrapper is missing)."""
    names = [part for part in loc if isinstance(part, str)]
    if names and names[0] in ("body", "query", "path", "header", "cookie"):
        names = names[1:]
    return names[-1] if names else "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind in ("blank", "invalid", "too_short") or kind.startswith("null"):
        return str(error["msg"])
    if error.get("input", "") is None and kind.endswith("_type"):
        return "can't be blank"
    if kind == "string_too_short":
        if context.get("min_length") == 1:
            return "can't be blank"
        return f"is too short (minimum is {context.get('min_length')} characters)"
    if kind == "string_too_long":
        return f"is too long (maximum is {context.get('max_length')} characters)"
    if kind == "too_long":
        return f"has too many items (maximum is {context.get('max_length')})"
    if kind == "greater_than_equal":
        return f"must be greater than or equal to {context.get('ge')}"
    if kind == "less_than_equal":
        return f"must be less than or equal to {context.get('le')}"
    return _TYPE_MESSAGES.get(kind, "is invalid")


def validation_errors(raw: list[dict[str, Any]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in raw:
        messages = errors.setdefault(_field(tuple(error.get("loc", ()))), [])
        message = _message(error)
        if message not in messages:
            messages.append(message)
    return errors or {"body": ["is invalid"]}
