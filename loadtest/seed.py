"""The data set the scenarios read, made through the API (as users would make it).

Authors ``lt-author-N`` write articles with tags; readers ``lt-reader-N`` follow authors and
favorite articles; the "hot" articles get a few comments. Idempotent: a user that exists is
logged in instead of registered, an author who has written their articles writes no more,
and following or favoriting twice changes nothing, so every run against the same server
reuses the data set. Each seeded user comes from an address of its own (``X-Forwarded-For``),
as the virtual users do, so the per-address rate limits of production apply per user.
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from loadtest.common import (
    DATASET,
    PASSWORD,
    TAGS,
    Dataset,
    browser_headers,
    email_of,
    next_address,
)

AUTHORS = 10
ARTICLES_PER_AUTHOR = 8
READERS = 10
FOLLOWS_PER_READER = 5
FAVORITES_PER_READER = 5
HOT_ARTICLES = 5
COMMENTS_PER_HOT_ARTICLE = 3


class SeedError(RuntimeError):
    """The server refused a step of the seed: the message says which and why."""


class Session:
    """One seeded user, signed in, from an address of its own."""

    def __init__(self, http: httpx.Client, username: str) -> None:
        self.http = http
        self.username = username
        self.address = next_address()
        self.token: str | None = None
        self.token = self._sign_in()

    def _sign_in(self) -> str:
        email = email_of(self.username)
        user = {"username": self.username, "email": email, "password": PASSWORD}
        answer = self.http.post("/api/users", json={"user": user}, headers=self.headers())
        if answer.status_code == 409:  # seeded by an earlier run
            credentials = {"email": email, "password": PASSWORD}
            answer = self.http.post(
                "/api/users/login", json={"user": credentials}, headers=self.headers()
            )
        _expect(answer, 200, 201)
        token: str = answer.json()["user"]["token"]
        return token

    def headers(self) -> dict[str, str]:
        return browser_headers(self.address, self.token)

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params, headers=self.headers())
        _expect(answer, 200)
        return answer.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.http.post(path, json=body, headers=self.headers())
        _expect(answer, 200, 201)
        return answer.json()


def _expect(answer: httpx.Response, *statuses: int) -> None:
    if answer.status_code not in statuses:
        raise SeedError(
            f"{answer.request.method} {answer.request.url.path} answered "
            f"{answer.status_code}: {answer.text[:300]}"
        )


def _articles_of(author: Session) -> list[str]:
    listed = author.get("/api/articles", author=author.username, limit=100)
    return [article["slug"] for article in listed["articles"]]


def _write_articles(author: Session, index: int, draw: random.Random) -> list[str]:
    slugs = _articles_of(author)
    for n in range(len(slugs), ARTICLES_PER_AUTHOR):
        article = {
            "title": f"Notes on load, part {index}.{n}",
            "description": "What a busy week taught us",
            "body": "A paragraph about queues and latency. " * 20,
            "tagList": draw.sample(TAGS, 3),
        }
        slugs.append(author.post("/api/articles", {"article": article})["article"]["slug"])
    return slugs


def seed(host: str, *, timeout: float = 30.0) -> Dataset:
    """Make (or find) the data set on ``host`` and return it; fills ``DATASET`` too."""
    draw = random.Random(20)  # the same choices on every run: the same data set
    with httpx.Client(base_url=host.rstrip("/"), timeout=timeout) as http:
        authors = [Session(http, f"lt-author-{n}") for n in range(1, AUTHORS + 1)]
        slugs: list[str] = []
        for index, author in enumerate(authors, start=1):
            slugs += _write_articles(author, index, draw)
        slugs.sort()
        hot = slugs[:HOT_ARTICLES]
        readers = [Session(http, f"lt-reader-{n}") for n in range(1, READERS + 1)]
        for reader in readers:
            for followed in draw.sample(authors, FOLLOWS_PER_READER):
                reader.post(f"/api/profiles/{followed.username}/follow")
            for slug in draw.sample(slugs, FAVORITES_PER_READER):
                reader.post(f"/api/articles/{slug}/favorite")
        for slug in hot:
            have = len(readers[0].get(f"/api/articles/{slug}/comments")["comments"])
            for n in range(have, COMMENTS_PER_HOT_ARTICLE):
                comment = {"body": f"Seeded comment {n} on a hot article."}
                readers[n % READERS].post(f"/api/articles/{slug}/comments", {"comment": comment})
        tags = readers[0].get("/api/tags")["tags"]
    DATASET.authors = [author.username for author in authors]
    DATASET.slugs = slugs
    DATASET.hot_slugs = hot
    DATASET.tags = [tag for tag in tags if tag in TAGS] or list(TAGS)
    DATASET.readers = [email_of(reader.username) for reader in readers]
    return DATASET
