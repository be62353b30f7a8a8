"""bootstrap picks the event bus from CONDUIT_BROKER_URL; the message id of a replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from conduit.adapters.memory_bus import MemoryBus
from conduit.adapters.rabbitmq import RabbitMqBus, queue_name
from conduit.bootstrap import ConfigurationError, build_bus
from conduit.core.bus import Replayed, message_id
from conduit.core.consumers import Consumer
from conduit.core.events import Event
from conduit.core.relay import event_of_row
from conduit.settings import Settings


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


async def _noop(*_args: object) -> None:
    return None


MAILER = Consumer(name="mailer", types=frozenset({"user.followed"}), handle=_noop)


@pytest.mark.parametrize("url", [None, "memory://"])
def test_no_broker_url_means_the_embedded_bus(tmp_path: Path, url: str | None) -> None:
    assert isinstance(build_bus(settings(tmp_path, broker_url=url), [MAILER]), MemoryBus)


def test_an_amqp_url_means_rabbitmq_with_a_queue_per_consumer(tmp_path: Path) -> None:
    bus = build_bus(
        settings(tmp_path, broker_url="amqp://guest:guest@mq/", consumer_max_attempts=3),
        [MAILER],
    )
    assert isinstance(bus, RabbitMqBus)
    assert bus.consumers == (MAILER,)
    assert queue_name(MAILER) == "conduit.mailer"
    assert bus.delivery_limit > 3  # the broker's limit is only a safety net above Conduit's


def test_an_unknown_scheme_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="amqp://"):
        build_bus(settings(tmp_path, broker_url="kafka://k:9092"), [])


def test_a_replayed_row_keeps_the_envelope_and_gets_its_own_message_id() -> None:
    event = Event(type="user.followed", data={"followerId": 1}, actor_id=1)
    assert message_id(event) == event.id
    assert event_of_row(event.id, event.to_json().decode()).envelope() == event.envelope()
    assert not isinstance(event_of_row(event.id, event.to_json().decode()), Replayed)
    replayed = event_of_row("another-id", event.to_json().decode())
    assert isinstance(replayed, Replayed)
    assert message_id(replayed) == "another-id"
    assert replayed.envelope() == event.envelope()
