"""What the tags feature does on the articles' events: keeps ``tags.articles``.

``consumer`` recounts, from ``article_tags``, the tags an article event names: those of a
published or deleted article, and on a retag those added or dropped (the events carry the
tag lists, before and after). Counted from the truth rather than incremented, it is
idempotent beyond the per-event de-duplication: a redelivery, two events applied out of
order or a replay leave the right count. An event written before the tag lists were added
recounts every tag.

Never in the writing transaction: a count kept there queued every writer of a popular tag
behind that tag's row. Here each event is one short transaction of its own (the tags' rows
locked, counted and updated in two statements, whatever the number of tags), after the
write committed:

- embedded bus (no broker): applied at commit (``at_commit``, see
  :mod:`conduit.core.consumers`), before the write's response is sent, so a client that
  reads ``GET /api/tags`` after publishing sees its tag; the relay's delivery then skips it;
- with a broker: in ``conduit worker``, as soon as the relay has published the event (at
  once from the ``conduit serve`` that committed it; at worst the relay's poll interval,
  0.5 s by default): within a second.

Batching: the consumer machinery applies and de-duplicates one event per transaction
(``processed_events`` is written with the handler's change, which is what makes a
redelivery a no-op), and the RabbitMQ and NATS adapters hand over one message at a time;
a batch across events would need its own de-duplication. So a burst of writes is recounted
event by event, all of an event's tags at once (one locking read, one ``UPDATE``), and a
tag's row is locked only for the milliseconds of one recount, never for a writer's
transaction.

When a count changed the handler emits :class:`~conduit.tags.events.TagsCounted` in its
transaction: its cache rule bumps the tags' response-cache generation once the new counts
are committed, so no reader caches the list as it was before the recount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conduit.core.consumers import Consumer
from conduit.core.db import UnitOfWork
from conduit.core.events import Event
from conduit.tags import repository
from conduit.tags.events import TagsCounted

# The articles' events, read by their published form (asyncapi.json), not their classes:
# the tags feature sits below the articles one and does not import it.
ARTICLE_CREATED = "article.created"
ARTICLE_UPDATED = "article.updated"
ARTICLE_DELETED = "article.deleted"
EVERY_TAG = None


def _names(data: Mapping[str, Any], key: str) -> set[str] | None:
    """The tag names ``data[key]`` lists; None when the event has no such list (older)."""
    value = data.get(key)
    if not isinstance(value, list):
        return None
    return {name for name in value if isinstance(name, str)}


def affected(event: Event) -> set[str] | None:
    """The tags whose counts ``event`` may have changed; None: any tag (an older event)."""
    data = event.data
    if event.type in (ARTICLE_CREATED, ARTICLE_DELETED):
        return _names(data, "tagList")
    if "tagList" not in data.get("changed", ["tagList"]):
        return set()
    after, before = _names(data, "tagList"), _names(data, "previousTagList")
    if after is None or before is None:
        return EVERY_TAG
    return after ^ before


async def on_event(uow: UnitOfWork, event: Event) -> None:
    names = affected(event)
    if names is not None and not names:
        return
    changed = await repository.recount(uow.conn, names)
    if changed:
        uow.emit(TagsCounted(names=changed), actor_id=None)


consumer = Consumer(
    name="tags",
    types=frozenset({ARTICLE_CREATED, ARTICLE_UPDATED, ARTICLE_DELETED}),
    handle=on_event,
    at_commit=True,
)
