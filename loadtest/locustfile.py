"""Conduit under a realistic mix of users (docs/operating/load-tests.md).

Run from the repository's root (``make loadtest``, ``make soak``, or by hand):

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 --headless -u 40 -r 10 -t 60s

The mix, by weight (the share of virtual users of each kind):

=============== ====== ===========================================================
scenario        weight what it does
=============== ====== ===========================================================
anonymous        60    home page (articles + tags), a tag, an article and its
                       comments, a profile and its articles (loadtest/readers.py)
signed-in        25    logs in as a seeded reader: feed, home page, articles,
                       favorites, followed profiles, the current user
writer           10    signs up: articles, comments on the hot articles, favorite
                       and unfavorite, follow and unfollow (loadtest/writers.py)
live              5    signs up, holds a WebSocket on /api/ws subscribed to the hot
                       articles: ping/pong and the comments pushed (loadtest/live.py)
=============== ====== ===========================================================

Before the first user starts, the data set is made (or found) through the API
(loadtest/seed.py). Every virtual user sends its own ``X-Forwarded-For``: give the server
``CONDUIT_TRUSTED_PROXIES=["127.0.0.1"]`` (the load generator's address) so that the
per-address rate limits of production apply per virtual user, as they do per browser.
"""

from __future__ import annotations

from typing import Any

import gevent
import httpx
from locust import events

from loadtest import seed, stats
from loadtest.live import LiveListener
from loadtest.readers import AnonymousReader, SignedInReader
from loadtest.writers import Writer

AnonymousReader.weight = 60
SignedInReader.weight = 25
Writer.weight = 10
LiveListener.weight = 5

__all__ = ["AnonymousReader", "LiveListener", "SignedInReader", "Writer"]

stats.install(events)


@events.test_start.add_listener
def make_the_data_set(environment: Any, **_: Any) -> None:
    try:
        data = seed.seed(environment.host)
    except (seed.SeedError, httpx.HTTPError) as exc:
        print(f"loadtest: the data set could not be made: {exc}", flush=True)
        environment.process_exit_code = 2
        gevent.spawn_later(0, environment.runner.quit)  # once this listener has returned
        return
    print(
        f"loadtest: data set of {len(data.slugs)} articles by {len(data.authors)} authors, "
        f"{len(data.readers)} readers, {len(data.hot_slugs)} hot articles",
        flush=True,
    )
