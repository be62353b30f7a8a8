"""Properties over arbitrary input (hypothesis)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from conduit.articles.schemas import NewArticleRequest, UpdateArticleRequest
from conduit.articles.service import slug_for
from conduit.comments.schemas import NewCommentRequest
from conduit.http.errors import validation_errors
from conduit.users.schemas import LoginUserRequest, NewUserRequest, UpdateUserRequest

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
REQUEST_MODELS: list[type[BaseModel]] = [
    NewUserRequest,
    LoginUserRequest,
    UpdateUserRequest,
    NewArticleRequest,
    UpdateArticleRequest,
    NewCommentRequest,
]
ERROR_TYPES = [
    "missing", "blank", "invalid", "too_short", "string_type", "int_type", "int_parsing",
    "int_from_float", "bool_type", "list_type", "dict_type", "model_type",
    "model_attributes_type", "json_invalid", "json_type", "string_unicode", "string_too_short",
    "string_too_long", "too_long", "greater_than_equal", "less_than_equal", "value_error",
    "null", "none_required",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Bodies shaped like the real ones, so that validation gets past the wrapper key.
wrapped = st.builds(
    lambda key, fields: {key: fields},
    st.sampled_from(["user", "article", "comment"]),
    st.dictionaries(
        st.sampled_from(
            ["username", "email", "password", "bio", "image", "title", "description", "body",
             "tagList"]
        ),
        json_values,
    ),
)  # fmt: skip

synthetic_errors = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(ERROR_TYPES) | st.text(),
            "loc": st.tuples() | st.lists(st.text() | st.integers(), max_size=5).map(tuple),
            "msg": st.text(min_size=1),
            "input": json_values,
        },
        optional={
            "ctx": st.dictionaries(
                st.sampled_from(["min_length", "max_length", "ge", "le", "error"]),
                st.integers() | st.text(),
            ),
            "url": st.text(),
        },
    ),
    max_size=8,
)


def assert_error_format(errors: dict[str, list[str]]) -> None:
    assert isinstance(errors, dict)
    assert errors
    for field, messages in errors.items():
        assert isinstance(field, str)
        assert isinstance(messages, list)
        assert messages
        assert all(isinstance(message, str) and message for message in messages)
        assert len(set(messages)) == len(messages)


@settings(max_examples=300, deadline=None)
@given(raw=synthetic_errors)
def test_validation_errors_never_crash_on_error_lists(raw: list[dict[str, Any]]) -> None:
    assert_error_format(validation_errors(raw))


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(REQUEST_MODELS), body=json_values | wrapped)
def test_real_validation_errors_always_map_to_the_error_format(
    model: type[BaseModel], body: Any
) -> None:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        assert_error_format(validation_errors(list(exc.errors())))


@settings(max_examples=500, deadline=None)
@given(title=st.text())
def test_slug_is_never_empty_and_always_url_safe(title: str) -> None:
    slug = slug_for(title)
    assert SLUG.match(slug), slug
    assert 0 < len(slug) <= 200


@settings(max_examples=200, deadline=None)
@given(title=st.text(), suffix=st.text(alphabet="0123456789abcdef", min_size=8, max_size=8))
def test_suffixed_slug_is_url_safe_and_ends_with_the_suffix(title: str, suffix: str) -> None:
    slug = slug_for(title, suffix=suffix)
    assert SLUG.match(slug), slug
    assert slug.endswith(f"-{suffix}")
