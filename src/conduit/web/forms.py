"""Reading posted forms with the API's own request models, and the web's own refusals.

A form is checked by the same Pydantic model as the REST body it stands for (``NewUser``,
``NewArticle`` ...), so a field the API refuses is refused here with the same message.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from conduit.core.errors import ConduitError, Invalid
from conduit.core.validation import validation_errors

Model = TypeVar("Model", bound=BaseModel)


class TooMany(ConduitError):
    """A form refused by the rate limits (429): the API's rules, the same budgets."""

    status = 429
    code = "rate_limited"

    def __init__(self) -> None:
        super().__init__("request", "too many requests: wait a minute and try again")


def text(form: FormData, name: str) -> str:
    """A text field's value ('' when absent; a file where text belongs counts as absent)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def validated(model: type[Model], values: dict[str, object]) -> Model:
    """``values`` as ``model``; :class:`Invalid` with the API's field messages if not."""
    try:
        return model.model_validate(values)
    except ValidationError as refused:
        errors = validation_errors(list(refused.errors()))  # type: ignore[arg-type]
        raise Invalid.many(errors) from None


def back_to(form: FormData, default: str) -> str:
    """Where a form asks to come back to (its ``next`` field): a path on this site only."""
    target = text(form, "next")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
