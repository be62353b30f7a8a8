"""Readers: the anonymous visitor and the signed-in reader, as a RealWorld frontend calls
the API for them (each task is one page of the frontend: the requests it sends together).
"""

from __future__ import annotations

import random
from typing import Any

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from loadtest.common import DATASET, PASSWORD, browser_headers, next_address

PAGE_SIZE = 10


class Reader(FastHttpUser):
    """What both readers share: an address of their own, a token or none."""

    abstract = True
    scenario = "reader"
    wait_time = between(1, 3)  # reading a page before clicking on

    def on_start(self) -> None:
        self.address = next_address()
        self.token: str | None = None

    def context(self) -> dict[str, Any]:
        return {"scenario": self.scenario}

    def get(self, path: str, name: str) -> Any:
        headers = browser_headers(self.address, self.token)
        return self.client.get(path, headers=headers, name=name)

    def home_page(self) -> None:
        offset = PAGE_SIZE * random.randrange(5)
        self.get(f"/api/articles?limit={PAGE_SIZE}&offset={offset}", "GET /api/articles")
        self.get("/api/tags", "GET /api/tags")

    def article_page(self) -> None:
        slug = DATASET.slug()
        self.get(f"/api/articles/{slug}", "GET /api/articles/:slug")
        self.get(f"/api/articles/{slug}/comments", "GET /api/articles/:slug/comments")

    def profile_page(self) -> None:
        author = DATASET.author()
        self.get(f"/api/profiles/{author}", "GET /api/profiles/:username")
        self.get(f"/api/articles?author={author}&limit={PAGE_SIZE}", "GET /api/articles?author=")


class AnonymousReader(Reader):
    """Someone browsing without an account: the home page, a tag, articles, profiles."""

    scenario = "anonymous"

    @task(4)
    def home(self) -> None:
        self.home_page()

    @task(2)
    def tag(self) -> None:
        self.get(f"/api/articles?tag={DATASET.tag()}&limit={PAGE_SIZE}", "GET /api/articles?tag=")

    @task(4)
    def article(self) -> None:
        self.article_page()

    @task(1)
    def profile(self) -> None:
        self.profile_page()


class SignedInReader(Reader):
    """A seeded reader who signs in, then reads their feed, their favorites and the
    profiles of those they follow."""

    scenario = "signed-in"

    def on_start(self) -> None:
        super().on_start()
        self.username = ""
        credentials = {"email": random.choice(DATASET.readers), "password": PASSWORD}
        with self.client.post(
            "/api/users/login",
            json={"user": credentials},
            headers=browser_headers(self.address),
            name="POST /api/users/login",
            catch_response=True,
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"login answered {answer.status_code}")
                return  # reads on as an anonymous reader would (the failure is reported)
            user = answer.json()["user"]
        self.token, self.username = user["token"], user["username"]

    @task(4)
    def feed(self) -> None:
        self.get(f"/api/articles/feed?limit={PAGE_SIZE}", "GET /api/articles/feed")

    @task(2)
    def home(self) -> None:
        self.home_page()

    @task(3)
    def article(self) -> None:
        self.article_page()

    @task(1)
    def favorites(self) -> None:
        self.get(
            f"/api/articles?favorited={self.username}&limit={PAGE_SIZE}",
            "GET /api/articles?favorited=",
        )

    @task(1)
    def followed_profile(self) -> None:
        self.profile_page()

    @task(1)
    def current_user(self) -> None:
        self.get("/api/user", "GET /api/user")
