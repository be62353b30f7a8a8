"""searchArticles: the REST search's use case, ranking, flags and errors over GraphQL."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from tests.graphql_api.conftest import Gql, error_of
from tests.helpers import auth, create_article, register

SEARCH = """
query Search($q: String!, $limit: Int! = 20, $offset: Int! = 0) {
  searchArticles(q: $q, limit: $limit, offset: $offset) {
    articlesCount
    articles { slug title favorited favoritesCount tagList author { username following } }
  }
}
"""


async def test_search_articles_mirrors_rest(client: httpx.AsyncClient, gql: Gql) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    in_title = await create_article(
        client, author, "Postgres tuning", body="indexes", tagList=["db"]
    )
    await create_article(client, author, "Other", body="a word about postgres here")
    await create_article(client, author, "Postgres and docker", body="containers")
    await create_article(client, author, "Unrelated", body="nothing to see")
    await client.post(f"/articles/{in_title['slug']}/favorite", headers=auth(reader))
    await client.post("/profiles/author/follow", headers=auth(reader))

    for q, page in [("postgres -docker", {}), ("postgres", {"limit": 1, "offset": 1})]:
        body = await gql(SEARCH, {"q": q, **page}, token=reader)
        assert "errors" not in body, body
        found = body["data"]["searchArticles"]
        rest = (
            await client.get(
                f"/articles/search?{urlencode({'q': q, **page})}", headers=auth(reader)
            )
        ).json()
        assert found["articlesCount"] == rest["articlesCount"]
        assert [a["slug"] for a in found["articles"]] == [a["slug"] for a in rest["articles"]]
        for mine, theirs in zip(found["articles"], rest["articles"], strict=True):
            assert mine["favorited"] == theirs["favorited"]
            assert mine["author"]["following"] == theirs["author"]["following"] is True

    first = (await gql(SEARCH, {"q": "postgres -docker"}, token=reader))["data"]["searchArticles"]
    assert [a["title"] for a in first["articles"]] == ["Postgres tuning", "Other"]
    assert first["articles"][0]["favorited"] is True
    assert first["articles"][0]["tagList"] == ["db"]


async def test_blank_text_and_bad_pages_are_bad_user_input(gql: Gql) -> None:
    error = error_of(await gql(SEARCH, {"q": "   "}))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "errors": {"q": ["can't be blank"]}}
    error = error_of(await gql(SEARCH, {"q": "x", "limit": 0}))
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "errors": {"limit": ["must be greater than or equal to 1"]},
    }


async def test_query_syntax_of_any_database_is_just_text(gql: Gql) -> None:
    for q in ['"unclosed', "a AND (b OR", "NEAR(x y)", "title:*", "-", "\\'; DROP TABLE x; --"]:
        body = await gql(SEARCH, {"q": q})
        assert "errors" not in body, (q, body)
        assert body["data"]["searchArticles"]["articlesCount"] == 0
