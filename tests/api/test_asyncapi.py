"""The event catalogue: generated from the code, committed as asyncapi.json, served and written.

The committed file must equal what the code generates (run ``make asyncapi`` after changing
an event); every event type in CATALOGUE appears with every data field, by alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from conduit.adapters.nats import subject_for
from conduit.core.events import CATALOGUE
from conduit.entrypoints.asyncapi import asyncapi_document, load_all_events, render
from conduit.entrypoints.cli.main import app

COMMITTED = Path(__file__).parents[2] / "asyncapi.json"
TYPES = {
    "user.registered",
    "user.updated",
    "user.followed",
    "user.unfollowed",
    "article.created",
    "article.updated",
    "article.deleted",
    "article.favorited",
    "article.unfavorited",
    "comment.created",
    "comment.deleted",
}


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_committed_asyncapi_json_is_what_the_code_generates() -> None:
    assert COMMITTED.is_file(), "asyncapi.json is missing: run `make asyncapi`"
    assert COMMITTED.read_text(encoding="utf-8") == render(asyncapi_document()), (
        "asyncapi.json differs from the events in the code: run `make asyncapi` and commit it"
    )


def test_every_event_type_appears_with_all_its_data_fields() -> None:
    load_all_events()
    assert set(CATALOGUE) >= TYPES
    document = asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == set(CATALOGUE)
    assert set(document["components"]["messages"]) == set(CATALOGUE)
    for event_type, model in CATALOGUE.items():
        channel = document["channels"][event_type]
        assert channel["address"] == event_type  # the RabbitMQ routing key
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "conduit.events"
        assert channel["x-nats-subject"] == subject_for(event_type)
        assert channel["summary"] == model.summary != ""
        operation = document["operations"][f"publish.{event_type}"]
        assert operation["action"] == "send"
        assert resolve(document, operation["channel"]) is channel

        message = resolve(document, channel["messages"][event_type])
        assert message["name"] == event_type
        envelope = message["payload"]
        assert set(envelope["required"]) == {
            "id",
            "type",
            "version",
            "occurredAt",
            "actorId",
            "data",
        }
        assert envelope["properties"]["type"]["const"] == event_type
        assert envelope["properties"]["version"]["const"] == model.version
        data = resolve(document, envelope["properties"]["data"])
        aliases = {field.alias or name for name, field in model.model_fields.items()}
        assert set(data["properties"]) == aliases, event_type
        # A field added to an event type later is optional: events written before lack it.
        required = {
            field.alias or name for name, field in model.model_fields.items() if field.is_required()
        }
        assert set(data["required"]) == required, event_type


def test_article_events_name_the_tags_they_changed_optional_for_older_events() -> None:
    """The tags consumer recounts the tags named here; an older event without them makes it
    recount every tag, so they are optional (and null or a list)."""
    document = asyncapi_document()
    for event_type, fields in [
        ("article.updated", {"tagList", "previousTagList"}),
        ("article.deleted", {"tagList"}),
    ]:
        message = document["components"]["messages"][event_type]
        data = resolve(document, message["payload"]["properties"]["data"])
        assert fields <= set(data["properties"])
        assert not fields & set(data["required"])


def test_data_fields_are_camel_case_as_on_the_wire() -> None:
    document = asyncapi_document()
    created = resolve(
        document,
        document["components"]["messages"]["article.created"]["payload"]["properties"]["data"],
    )
    assert set(created["properties"]) == {"articleId", "slug", "title", "authorId", "tagList"}
    assert created["properties"]["tagList"] == {"type": "array", "items": {"type": "string"}}


def test_broker_url_is_listed_as_server_without_credentials() -> None:
    servers = asyncapi_document(broker_url="amqp://user:secret@mq.example:5672/conduit")["servers"]
    assert servers == {
        "rabbitmq": {
            "host": "mq.example:5672",
            "protocol": "amqp",
            "pathname": "/conduit",
            "description": "Exchange `conduit.events`.",
        }
    }
    assert "secret" not in render({"servers": servers})
    nats_servers = asyncapi_document(broker_url="nats://nats.example:4222")["servers"]
    assert nats_servers["nats"]["protocol"] == "nats"
    assert "servers" not in asyncapi_document()


async def test_served_at_asyncapi_json(client: httpx.AsyncClient) -> None:
    response = await client.get("http://conduit.test/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == asyncapi_document()


def test_cli_writes_the_catalogue(tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"
    result = CliRunner().invoke(app, ["events", "catalogue", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == render(asyncapi_document())

    printed = CliRunner().invoke(app, ["events", "catalogue"])
    assert printed.exit_code == 0
    assert printed.stdout == render(asyncapi_document())
