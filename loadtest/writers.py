"""The writer: signs up, then writes articles, comments on the busy ones, favorites and
unfavorites, follows and unfollows."""

from __future__ import annotations

import random
from typing import Any

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from loadtest.common import (
    DATASET,
    PASSWORD,
    TAGS,
    browser_headers,
    email_of,
    new_username,
    next_address,
)


def sign_up(user: FastHttpUser, address: str, kind: str) -> dict[str, Any] | None:
    """Register a fresh account (``POST /api/users``); its user object, None if refused."""
    username = new_username(kind)
    body = {"user": {"username": username, "email": email_of(username), "password": PASSWORD}}
    with user.client.post(
        "/api/users",
        json=body,
        headers=browser_headers(address),
        name="POST /api/users",
        catch_response=True,
    ) as answer:
        if answer.status_code != 201:
            answer.failure(f"registration answered {answer.status_code}")
            return None
        created: dict[str, Any] = answer.json()["user"]
        return created


class Writer(FastHttpUser):
    scenario = "writer"
    # Writing takes longer than reading; but under uvicorn's keep-alive timeout (5 s), or the
    # server may close the idle connection just as the next request goes out on it.
    wait_time = between(2, 4)

    def on_start(self) -> None:
        self.address = next_address()
        user = sign_up(self, self.address, "writer")
        self.token = user["token"] if user else None
        self.serial = 0

    def context(self) -> dict[str, Any]:
        return {"scenario": self.scenario}

    def send(self, method: str, path: str, name: str, body: Any = None) -> None:
        if self.token is None:  # registration was refused (reported): nothing to write as
            return
        headers = browser_headers(self.address, self.token)
        self.client.request(method, path, json=body, headers=headers, name=name)

    @task(1)
    def write_article(self) -> None:
        self.serial += 1
        article = {
            "title": f"Load notes {self.address} {self.serial} {random.randrange(10**9)}",
            "description": "Written under load",
            "body": "Some words about what happens under load. " * 10,
            "tagList": random.sample(TAGS, 2),
        }
        self.send("POST", "/api/articles", "POST /api/articles", {"article": article})

    @task(3)
    def comment(self) -> None:
        body = {"comment": {"body": f"A comment from {self.address} ({self.serial})."}}
        slug = DATASET.hot_slug()
        self.send(
            "POST", f"/api/articles/{slug}/comments", "POST /api/articles/:slug/comments", body
        )

    @task(2)
    def favorite_and_unfavorite(self) -> None:
        path = f"/api/articles/{DATASET.slug()}/favorite"
        self.send("POST", path, "POST /api/articles/:slug/favorite")
        self.send("DELETE", path, "DELETE /api/articles/:slug/favorite")

    @task(1)
    def follow_and_unfollow(self) -> None:
        path = f"/api/profiles/{DATASET.author()}/follow"
        self.send("POST", path, "POST /api/profiles/:username/follow")
        self.send("DELETE", path, "DELETE /api/profiles/:username/follow")
