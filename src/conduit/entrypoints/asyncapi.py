"""The event catalogue: an AsyncAPI 3.0 document generated from ``core.events.CATALOGUE``.

One channel, one message and one ``send`` operation per event type, each named by the type
(``article.created``). The payload is the envelope (:class:`~conduit.core.events.Event`)
whose ``data`` is the event model's JSON schema, by alias (camelCase, as on the wire).
The channel says where the type travels on each broker: RabbitMQ's durable topic exchange
``conduit.events`` with routing key = the type, and NATS JetStream's stream ``CONDUIT``,
subject ``conduit.events.<type>``.

Framework-free: ``GET /asyncapi.json`` serves it and ``conduit events catalogue`` writes it
(``make asyncapi`` regenerates the committed ``asyncapi.json``; a test fails when they
differ).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from conduit.core.events import CATALOGUE, EventData

ASYNCAPI_VERSION = "3.0.0"
CATALOGUE_VERSION = "1.1.0"  # bump when an event type or field changes
AMQP_EXCHANGE = "conduit.events"
NATS_STREAM = "CONDUIT"
NATS_SUBJECT_PREFIX = "conduit.events"
AMQP_BINDING_VERSION = "0.3.0"

Document = dict[str, Any]

DESCRIPTION = """\
Every state change in Conduit writes one event to a transactional outbox, in the same \
transaction as the change; a relay publishes the outbox to the broker \
(`CONDUIT_BROKER_URL`: RabbitMQ `amqp://`, NATS JetStream `nats://`, or in-process when \
unset) and marks a row sent only once the broker confirmed it.

Delivery is at least once. Consumers de-duplicate by the \
envelope's `id` (a UUIDv7), retry failures with exponential backoff and keep what still \
fails after the last attempt as a dead letter (`conduit events dead-letters`, \
`conduit events replay ID`).

RabbitMQ: durable topic exchange `conduit.events`, routing key = event type, persistent \
messages, publisher confirms. NATS JetStream: stream `CONDUIT` on `conduit.events.>`, \
subject `conduit.events.<type>`, header `Nats-Msg-Id` = event id (the broker drops a copy \
published again within the stream's duplicate window).

An event type's `version` changes when its `data` changes in a way its consumers must \
know about.

Tracing: an event emitted while a trace is active (a request, or a consumer's delivery) \
carries that trace's W3C Trace Context in the optional envelope fields `traceparent` and \
`tracestate` (left out otherwise), also sent as message headers of the same names on \
RabbitMQ and NATS. A consumer's work continues the trace: with OpenTelemetry tracing on \
(`OTEL_EXPORTER_OTLP_ENDPOINT`), its span is a child of the span that emitted the event."""


def load_all_events() -> None:
    """Import every feature's events so that CATALOGUE knows every event type."""
    import conduit.articles.events
    import conduit.comments.events
    import conduit.profiles.events
    import conduit.tags.events
    import conduit.users.events  # noqa: F401


def nats_subject(event_type: str) -> str:
    return f"{NATS_SUBJECT_PREFIX}.{event_type}"


def _data_schema(model: type[EventData], schemas: dict[str, Any]) -> Document:
    """The model's JSON schema by alias; nested models go to components/schemas."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    for name, nested in schema.pop("$defs", {}).items():
        schemas[name] = _untitled(nested)
    schema = _untitled(schema)
    if model.summary:
        schema["description"] = model.summary
    return schema


def _untitled(schema: Document) -> Document:
    """Drop the titles pydantic derives from field names ("Articleid"); keep the model's."""
    schema = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["properties"] = {
            name: {key: value for key, value in prop.items() if key != "title"}
            for name, prop in properties.items()
        }
    return schema


def envelope_schema(model: type[EventData], data_ref: str) -> Document:
    """The envelope every broker carries, for one event type."""
    return {
        "type": "object",
        "required": ["id", "type", "version", "occurredAt", "actorId", "data"],
        "properties": {
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "UUIDv7 of the event; consumers de-duplicate by it.",
            },
            "type": {"type": "string", "const": model.type},
            "version": {"type": "integer", "const": model.version},
            "occurredAt": {
                "type": "string",
                "format": "date-time",
                "description": "When the change was committed (UTC, ISO 8601, milliseconds).",
            },
            "actorId": {
                "type": ["integer", "null"],
                "description": "The user who caused the event; null for the system.",
            },
            "data": {"$ref": data_ref},
            "traceparent": {
                "type": "string",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": (
                    "W3C Trace Context `traceparent` of the request (or delivery) that "
                    "emitted the event; absent when it was emitted outside a trace."
                ),
            },
            "tracestate": {
                "type": "string",
                "description": "W3C Trace Context `tracestate` that came with `traceparent`.",
            },
        },
    }


def _server(broker_url: str) -> tuple[str, Document]:
    parts = urlsplit(broker_url)
    protocol = {"amqp": "amqp", "amqps": "amqps", "nats": "nats", "tls": "nats"}.get(
        parts.scheme, parts.scheme
    )
    host = parts.hostname or "localhost"
    if parts.port:
        host = f"{host}:{parts.port}"
    server: Document = {"host": host, "protocol": protocol}
    path = parts.path.strip("/")
    if protocol.startswith("amqp") and path:
        server["pathname"] = f"/{path}"
    name = "rabbitmq" if protocol.startswith("amqp") else "nats"
    server["description"] = (
        f"Exchange `{AMQP_EXCHANGE}`."
        if name == "rabbitmq"
        else f"JetStream stream `{NATS_STREAM}`."
    )
    return name, server


def asyncapi_document(*, broker_url: str | None = None) -> Document:
    """The AsyncAPI 3.0 document of every event type; ``broker_url`` adds it as the server
    (without credentials)."""
    load_all_events()
    channels: Document = {}
    operations: Document = {}
    messages: Document = {}
    schemas: Document = {}
    for event_type in sorted(CATALOGUE):
        model = CATALOGUE[event_type]
        data_name = model.__name__
        schemas[data_name] = _data_schema(model, schemas)
        subject = nats_subject(event_type)
        messages[event_type] = {
            "name": event_type,
            "title": data_name,
            "summary": model.summary,
            "contentType": "application/json",
            "payload": envelope_schema(model, f"#/components/schemas/{data_name}"),
            "bindings": {
                "amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING_VERSION}
            },
        }
        channels[event_type] = {
            "address": event_type,
            "title": event_type,
            "summary": model.summary,
            "description": (
                f"RabbitMQ: exchange `{AMQP_EXCHANGE}` (topic, durable), routing key "
                f"`{event_type}`. NATS JetStream: stream `{NATS_STREAM}`, subject "
                f"`{subject}`, header `Nats-Msg-Id` = the event id. On both, the headers "
                "`traceparent` / `tracestate` repeat the envelope's, when it has them."
            ),
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": AMQP_EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
            "x-nats-subject": subject,
        }
        operations[f"publish.{event_type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "summary": f"Conduit publishes {event_type} from its outbox.",
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}"}],
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    document: Document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Conduit events",
            "version": CATALOGUE_VERSION,
            "description": DESCRIPTION,
        },
        "defaultContentType": "application/json",
    }
    if broker_url:
        name, server = _server(broker_url)
        document["servers"] = {name: server}
    document["channels"] = channels
    document["operations"] = operations
    document["components"] = {"messages": messages, "schemas": schemas}
    return document


def render(document: Document) -> str:
    """The document as written to ``asyncapi.json`` (stable: diffs show real changes)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
