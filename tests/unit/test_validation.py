"""The request field types: blank, whitespace, email, username, password, tags, null."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import ValidationError

from conduit.articles.schemas import NewArticleRequest, UpdateArticle
from conduit.comments.schemas import NewComment
from conduit.core.validation import (
    Bio,
    Body,
    Email,
    ImageUrl,
    LoginPassword,
    NotNull,
    Password,
    PatchModel,
    RequestModel,
    TagList,
    Title,
    Username,
)
from conduit.users.schemas import NewUser, UpdateUser


class Fields(RequestModel):
    title: Title = "t"
    body: Body = "b"
    email: Email = "e@x.io"
    username: Username = "u"
    password: Password = "password"
    login_password: LoginPassword = "p"
    bio: Bio = None
    image: ImageUrl = None
    tags: TagList = []


class Patch(PatchModel):
    title: Annotated[Title | None, NotNull] = None
    bio: Bio = None


def errors_of(**values: Any) -> list[tuple[str, str, str]]:
    """(field, type, message) of each error validating ``values``."""
    with pytest.raises(ValidationError) as caught:
        Fields(**values)
    return [(str(e["loc"][0]), e["type"], e["msg"]) for e in caught.value.errors()]


def one_error(**values: Any) -> tuple[str, str]:
    found = errors_of(**values)
    assert len(found) == 1, found
    return found[0][1], found[0][2]


@pytest.mark.parametrize("field", ["title", "body", "email", "username", "password"])
@pytest.mark.parametrize("value", ["", " ", "\t\n  ", "\u3000"])
def test_blank_and_whitespace_only_are_cant_be_blank(field: str, value: str) -> None:
    assert one_error(**{field: value}) == ("blank", "can't be blank")


def test_login_password_blank() -> None:
    assert one_error(login_password="") == ("blank", "can't be blank")
    assert Fields(login_password="x").login_password == "x"


def test_title_is_trimmed_body_is_kept_as_written() -> None:
    fields = Fields(title="  Hello  ", body="    indented code\n")
    assert fields.title == "Hello"
    assert fields.body == "    indented code\n"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("user@example.com", "user@example.com"),
        ("  User@Example.COM ", "user@example.com"),
        ("jürgen@exämple.de", "jürgen@exämple.de"),
        ("a+tag@sub.domain.org", "a+tag@sub.domain.org"),
    ],
)
def test_valid_emails_are_trimmed_and_lower_cased(raw: str, stored: str) -> None:
    assert Fields(email=raw).email == stored


@pytest.mark.parametrize(
    "raw", ["plain", "a@b", "@example.com", "a@.com", "a b@example.com", "a@@b.com", "a@b.c d"]
)
def test_invalid_emails(raw: str) -> None:
    assert one_error(email=raw) == ("invalid", "is invalid")


@pytest.mark.parametrize("raw", ["alice", "Alice_99", "jürgen", "日本", "🚀rocket", "a.b-c"])
def test_valid_usernames(raw: str) -> None:
    assert Fields(username=f" {raw} ").username == raw


@pytest.mark.parametrize("raw", ["two words", "a/b", "a\\b", "what?", "a#b", "100%", "tab\tx"])
def test_usernames_that_break_urls_are_invalid(raw: str) -> None:
    assert one_error(username=raw) == ("invalid", "is invalid")


def test_username_and_email_length_limits() -> None:
    assert Fields(username="u" * 64).username == "u" * 64
    assert one_error(username="u" * 65)[0] == "string_too_long"
    assert one_error(email="e" * 250 + "@x.io")[0] == "string_too_long"


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (64, True), (256, True)])
def test_password_length(length: int, ok: bool) -> None:
    if ok:
        assert Fields(password="p" * length).password == "p" * length
    else:
        assert one_error(password="p" * length) == (
            "too_short",
            "is too short (minimum is 8 characters)",
        )


def test_password_is_not_trimmed() -> None:
    assert Fields(password="  spaced  ").password == "  spaced  "


@pytest.mark.parametrize("field", ["bio", "image"])
def test_bio_and_image_empty_string_becomes_none(field: str) -> None:
    assert getattr(Fields(**{field: ""}), field) is None
    assert getattr(Fields(**{field: None}), field) is None
    assert getattr(Fields(**{field: "x"}), field) == "x"


def test_tags_are_trimmed_and_deduplicated_in_order() -> None:
    assert Fields(tags=[" b ", "a", "b", "a ", "c"]).tags == ["b", "a", "c"]
    assert Fields(tags=[]).tags == []


def test_tags_are_case_sensitive() -> None:
    assert Fields(tags=["Go", "go"]).tags == ["Go", "go"]


@pytest.mark.parametrize("tags", [[""], ["ok", "  "], ["\n"]])
def test_blank_tag_is_refused(tags: list[str]) -> None:
    assert one_error(tags=tags) == ("blank", "can't be blank")


def test_tag_limits() -> None:
    assert len(Fields(tags=[f"t{i}" for i in range(20)]).tags) == 20
    assert one_error(tags=[f"t{i}" for i in range(21)])[0] == "too_long"
    assert one_error(tags=["x" * 65])[0] == "string_too_long"


@pytest.mark.parametrize("field", ["title", "body", "email", "username", "bio", "image"])
def test_nul_characters_are_invalid(field: str) -> None:
    assert one_error(**{field: "a\x00b@c.de"}) == ("invalid", "is invalid")


def test_nul_in_a_tag_is_invalid() -> None:
    assert one_error(tags=["a\x00"]) == ("invalid", "is invalid")


@pytest.mark.parametrize("value", [1, 1.5, True, ["x"], {"x": 1}])
def test_strings_are_never_coerced(value: Any) -> None:
    assert one_error(title=value)[0] == "string_type"


def test_tag_list_must_be_a_list_of_strings() -> None:
    assert one_error(tags="a,b")[0] == "list_type"
    assert one_error(tags=[1])[0] == "string_type"


def test_unknown_keys_are_ignored() -> None:
    user = NewUser.model_validate(
        {"username": "u", "email": "u@x.io", "password": "password", "admin": True}
    )
    assert not hasattr(user, "admin")


def test_patch_changes_hold_only_the_keys_sent() -> None:
    assert Patch.model_validate({}).changes() == {}
    assert Patch.model_validate({"title": " New "}).changes() == {"title": "New"}
    assert Patch.model_validate({"bio": ""}).changes() == {"bio": None}
    assert Patch.model_validate({"bio": None}).changes() == {"bio": None}


def test_patch_refuses_null_for_a_field_that_cannot_be_erased() -> None:
    with pytest.raises(ValidationError) as caught:
        Patch.model_validate({"title": None})
    assert [(e["type"], e["msg"]) for e in caught.value.errors()] == [("blank", "can't be blank")]


def test_update_user_and_article_refuse_null_but_allow_omission() -> None:
    assert UpdateUser.model_validate({"bio": None}).changes() == {"bio": None}
    for field in ("email", "password", "username"):
        with pytest.raises(ValidationError):
            UpdateUser.model_validate({field: None})
    assert UpdateArticle.model_validate({"body": "b"}).changes() == {"body": "b"}
    assert UpdateArticle.model_validate({"tagList": []}).changes() == {"tag_list": []}
    with pytest.raises(ValidationError):
        UpdateArticle.model_validate({"tagList": None})


def test_new_article_tag_list_is_optional() -> None:
    request = NewArticleRequest.model_validate(
        {"article": {"title": "T", "description": "D", "body": "B"}}
    )
    assert request.article.tagList == []


def test_comment_body_limit() -> None:
    assert NewComment(body="x" * 20_000).body == "x" * 20_000
    with pytest.raises(ValidationError):
        NewComment(body="x" * 20_001)
