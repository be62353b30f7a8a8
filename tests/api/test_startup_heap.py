"""What start-up built is kept out of the garbage collector's walks while the app runs."""

from __future__ import annotations

import gc

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings


def _collector_walks(thing: object) -> bool:
    """Whether a collection of the oldest generation visits ``thing`` (frozen: it does not)."""
    return any(candidate is thing for candidate in gc.get_objects(generation=2))


async def test_the_start_up_heap_is_frozen_while_serving_and_released_after(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    gc.unfreeze()
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    routes = app.router.routes  # built at start-up, alive as long as the app
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert not _collector_walks(routes)
    assert gc.get_freeze_count() == 0  # at shutdown everything is collectable again
    gc.collect()
    assert _collector_walks(routes)
