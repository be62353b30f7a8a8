"""The worker's list of consumers: every one named once, notifications among them."""

from __future__ import annotations

from conduit.bootstrap import CONSUMERS
from conduit.core.events import CATALOGUE
from conduit.notifications.handlers import consumer as notifications_consumer


def test_consumers_are_listed_once_by_name() -> None:
    names = [consumer.name for consumer in CONSUMERS]
    assert len(names) == len(set(names))
    assert notifications_consumer in CONSUMERS


def test_the_notifications_consumer_subscribes_to_catalogued_events() -> None:
    assert notifications_consumer.types == {
        "user.followed",
        "article.favorited",
        "comment.created",
        "article.created",
    }
    assert notifications_consumer.types <= set(CATALOGUE)
