"""validation_errors: pydantic's error list -> {"<field>": ["<message>"]}."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from conduit.articles.schemas import NewArticleRequest
from conduit.http.errors import errors_body, validation_errors
from conduit.users.schemas import NewUserRequest


def error(kind: str, loc: tuple[Any, ...], msg: str = "msg", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": extra.pop("input", "x"), **extra}


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "user", "email"), "email"),
        (("body", "article", "tagList", 3), "tagList"),
        (("body", "user"), "user"),
        (("body",), "body"),
        (("body", 12), "body"),
        (("query", "limit"), "limit"),
        (("path", "id"), "id"),
        (("header", "authorization"), "authorization"),
        ((), "body"),
    ],
)
def test_the_field_is_the_innermost_name(loc: tuple[Any, ...], field: str) -> None:
    assert validation_errors([error("missing", loc)]) == {field: ["can't be blank"]}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (error("missing", ("body", "f")), "can't be blank"),
        (error("blank", ("body", "f"), "can't be blank"), "can't be blank"),
        (error("invalid", ("body", "f"), "is invalid"), "is invalid"),
        (error("too_short", ("body", "f"), "is too short (minimum is 8 characters)"),
         "is too short (minimum is 8 characters)"),
        (error("string_type", ("body", "f"), input=None), "can't be blank"),
        (error("list_type", ("body", "f"), input=None), "can't be blank"),
        (error("string_type", ("body", "f"), input=5), "must be a string"),
        (error("int_parsing", ("query", "limit")), "must be an integer"),
        (error("list_type", ("body", "f")), "must be an array"),
        (error("model_attributes_type", ("body",)), "must be an object"),
        (error("dict_type", ("body",)), "must be an object"),
        (error("json_invalid", ("body", 3)), "is not valid JSON"),
        (error("string_unicode", ("body", "f")), "must be valid unicode"),
        (error("string_too_short", ("body", "f"), ctx={"min_length": 1}), "can't be blank"),
        (error("string_too_short", ("body", "f"), ctx={"min_length": 3}),
         "is too short (minimum is 3 characters)"),
        (error("string_too_long", ("body", "f"), ctx={"max_length": 255}),
         "is too long (maximum is 255 characters)"),
        (error("too_long", ("body", "f"), ctx={"max_length": 20}),
         "has too many items (maximum is 20)"),
        (error("greater_than_equal", ("query", "f"), ctx={"ge": 1}),
         "must be greater than or equal to 1"),
        (error("less_than_equal", ("query", "f"), ctx={"le": 100}),
         "must be less than or equal to 100"),
        (error("something_new", ("body", "f")), "is invalid"),
    ],
)  # fmt: skip
def test_messages(raw: dict[str, Any], message: str) -> None:
    assert list(validation_errors([raw]).values()) == [[message]]


def test_several_fields_and_messages_keep_their_order_without_duplicates() -> None:
    raw = [
        error("missing", ("body", "user", "email")),
        error("string_too_long", ("body", "user", "username"), ctx={"max_length": 64}),
        error("blank", ("body", "article", "tagList", 0), "can't be blank"),
        error("blank", ("body", "article", "tagList", 2), "can't be blank"),
        error("invalid", ("body", "user", "username"), "is invalid"),
    ]
    assert validation_errors(raw) == {
        "email": ["can't be blank"],
        "username": ["is too long (maximum is 64 characters)", "is invalid"],
        "tagList": ["can't be blank"],
    }


def test_no_errors_still_says_something() -> None:
    assert validation_errors([]) == {"body": ["is invalid"]}


def test_errors_body_wraps() -> None:
    assert errors_body({"title": ["can't be blank"]}) == {"errors": {"title": ["can't be blank"]}}


def _errors(model: Any, value: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(value)
    return validation_errors(list(caught.value.errors()))


def test_real_errors_of_a_registration() -> None:
    assert _errors(NewUserRequest, {"user": {"username": "", "email": None}}) == {
        "username": ["can't be blank"],
        "email": ["can't be blank"],
        "password": ["can't be blank"],
    }
    assert _errors(NewUserRequest, {"email": "x@y.z"}) == {"user": ["can't be blank"]}
    assert _errors(NewUserRequest, []) == {"body": ["must be an object"]}
    assert _errors(
        NewUserRequest, {"user": {"username": "a b", "email": "nope", "password": "short"}}
    ) == {
        "username": ["is invalid"],
        "email": ["is invalid"],
        "password": ["is too short (minimum is 8 characters)"],
    }


def test_real_errors_of_an_article() -> None:
    article = {"title": 5, "description": "d" * 1001, "body": "b", "tagList": ["ok", " "]}
    assert _errors(NewArticleRequest, {"article": article}) == {
        "title": ["must be a string"],
        "description": ["is too long (maximum is 1000 characters)"],
        "tagList": ["can't be blank"],
    }
    bad_tags = {"title": "t", "description": "d", "body": "b", "tagList": {"a": 1}}
    assert _errors(NewArticleRequest, {"article": bad_tags}) == {"tagList": ["must be an array"]}
