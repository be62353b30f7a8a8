"""Our generated OpenAPI document against the RealWorld reference (openapi.yml).

Every path and method of the reference (and, beyond it, only Conduit's own extensions,
each under a tag of its own); every status the reference lists is documented by ours (ours may
add some, e.g. 409 for PUT /user); the same parameters; request bodies with the same
required properties; response bodies with the same property names, types and required
lists, nested objects (the author profile) included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import API_PREFIX, create_app
from conduit.settings import Settings
from tests.conftest import IN_CI, TEST_SECRET

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
Spec = dict[str, Any]


def reference_path() -> Path:
    folder = os.environ.get("CONDUIT_REALWORLD_DIR")
    base = Path(folder) if folder else Path(__file__).parents[2] / ".." / "shared" / "realworld"
    return base / "openapi.yml"


@pytest.fixture(scope="module")
def reference() -> Spec:
    path = reference_path()
    if not path.is_file():
        message = f"RealWorld reference not found at {path} (set CONDUIT_REALWORLD_DIR)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    spec: Spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return spec


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    data_dir = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{(data_dir / 'openapi.db').as_posix()}",
        secret_key=TEST_SECRET,
        data_dir=data_dir,
    )
    container = Container(
        settings=settings,
        db=Database(create_engine(settings.effective_database_url)),
        tokens=TokenCodec(secret=TEST_SECRET, ttl_seconds=60),
    )
    spec: Spec = create_app(container=container).openapi()
    return spec


def operations(spec: Spec, prefix: str = "") -> dict[tuple[str, str], Spec]:
    """(path without prefix, method) -> operation."""
    found = {}
    for path, item in spec["paths"].items():
        assert path.startswith(prefix), path
        for method, operation in item.items():
            if method in METHODS:
                found[(path.removeprefix(prefix), method)] = operation
    return found


def resolve(spec: Spec, node: Any) -> Any:
    """Follow ``$ref`` (local, "#/...") until a node that is not a reference."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        assert ref not in seen, ref
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _types(schema: Spec) -> tuple[set[str], bool]:
    """The JSON types a schema allows, and whether null is one of them."""
    if "anyOf" in schema or "oneOf" in schema:
        kinds: set[str] = set()
        nullable = False
        for option in schema.get("anyOf", schema.get("oneOf")):
            option_kinds, option_null = _types(option)
            kinds |= option_kinds
            nullable = nullable or option_null
        return kinds, nullable
    declared = schema.get("type")
    if declared is None:
        kinds = {"object"} if "properties" in schema else set()
    elif isinstance(declared, list):
        kinds = set(declared)
    else:
        kinds = {declared}
    return kinds - {"null"}, "null" in kinds or schema.get("nullable") is True


def shape(spec: Spec, schema: Any, *, nullability: bool) -> Any:
    """A comparable summary: types, required, properties and items, refs resolved."""
    schema = resolve(spec, schema)
    assert isinstance(schema, dict), schema
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        concrete = [resolve(spec, o) for o in options if resolve(spec, o).get("type") != "null"]
        if len(concrete) == 1:
            summary = shape(spec, concrete[0], nullability=nullability)
            if nullability and isinstance(summary, dict):
                summary["nullable"] = _types(schema)[1]
            return summary
    kinds, nullable = _types(schema)
    summary: dict[str, Any] = {"types": sorted(kinds)}
    if nullability:
        summary["nullable"] = nullable
    if "object" in kinds:
        summary["required"] = sorted(schema.get("required", []))
        summary["properties"] = {
            name: shape(spec, value, nullability=nullability)
            for name, value in schema.get("properties", {}).items()
        }
    if "array" in kinds:
        summary["items"] = shape(spec, schema.get("items", {}), nullability=nullability)
    return summary


def json_schema(spec: Spec, holder: Any) -> Any:
    """The application/json schema of a response or request body (refs resolved)."""
    holder = resolve(spec, holder)
    content = holder.get("content") or {}
    return content.get("application/json", {}).get("schema")


def parameters(spec: Spec, operation: Spec) -> dict[tuple[str, str], bool]:
    found = {}
    for parameter in operation.get("parameters", []):
        parameter = resolve(spec, parameter)
        found[(parameter["in"], parameter["name"])] = bool(parameter.get("required", False))
    return found


# Routes Conduit adds to the RealWorld API, by OpenAPI tag.
EXTENSION_TAGS = {"Notifications", "Sessions", "Admin", "Authentication", "Search", "Uploads"}
# Properties Conduit adds to RealWorld objects (the user's roles), left out of comparisons.
EXTENSION_PROPERTIES = {"roles"}
# Optional query parameters Conduit adds to RealWorld operations (a cap on the tags sent).
EXTENSION_PARAMETERS = {("/tags", "get"): {"limit"}}


def without_extra_parameters(key: tuple[str, str], found: dict[Any, Any]) -> dict[Any, Any]:
    """``found`` minus the operation's extension parameters, which must be optional."""
    extra = EXTENSION_PARAMETERS.get(key, set())
    kept = {}
    for name, value in found.items():
        if (name[1] if isinstance(name, tuple) else name) in extra:
            assert value is False or isinstance(value, list), (key, name)
            continue
        kept[name] = value
    return kept


def test_same_paths_and_methods(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    assert set(operations(reference)) <= set(ours_ops)
    extensions = {
        key: operation["tags"]
        for key, operation in ours_ops.items()
        if key not in operations(reference)
    }
    assert {key: tags for key, tags in extensions.items() if set(tags) - EXTENSION_TAGS} == {}


def test_extensions_are_documented(ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    notifications = ours_ops[("/notifications", "get")]
    assert notifications["operationId"] == "GetNotifications"
    assert {"limit", "offset", "unread"} <= {p["name"] for p in notifications["parameters"]}
    listed = shape(ours, json_schema(ours, notifications["responses"]["200"]), nullability=True)
    assert listed["required"] == ["notifications", "notificationsCount", "unreadCount"]
    item = listed["properties"]["notifications"]["items"]
    assert set(item["properties"]) == {
        "id",
        "type",
        "createdAt",
        "read",
        "actor",
        "article",
        "comment",
    }
    assert item["properties"]["article"]["nullable"] is True
    assert item["properties"]["comment"]["nullable"] is True
    assert set(item["properties"]["actor"]["properties"]) == {
        "username",
        "bio",
        "image",
        "following",
    }
    mark = ours_ops[("/notifications/read", "post")]
    assert mark["security"] == [{"Token": []}]
    assert notifications["security"] == [{"Token": []}]
    marked = shape(ours, json_schema(ours, mark["responses"]["200"]), nullability=False)
    assert marked["properties"] == {"unreadCount": {"types": ["integer"]}}


def test_openid_connect_login_is_documented(ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    login = ours_ops[("/auth/{provider}/login", "get")]
    callback = ours_ops[("/auth/{provider}/callback", "get")]
    assert login["tags"] == callback["tags"] == ["Authentication"]
    assert set(login["responses"]) == {"302", "404", "422", "429", "503"}
    assert set(callback["responses"]) == {"302", "401", "403", "404", "422", "429", "503"}
    assert "Location" in login["responses"]["302"]["headers"]
    assert {"Location", "Set-Cookie"} <= set(callback["responses"]["302"]["headers"])
    assert {p["name"] for p in callback["parameters"]} == {
        "provider",
        "code",
        "state",
        "error",
        "iss",
    }


def test_operation_ids_match(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    for key, operation in operations(reference).items():
        assert ours_ops[key].get("operationId") == operation["operationId"], key


def test_every_reference_status_is_documented(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    for key, operation in operations(reference).items():
        expected = set(operation["responses"])
        documented = set(ours_ops[key]["responses"])
        assert expected <= documented, (key, sorted(expected - documented))
        success = {code for code in documented if code.startswith("2")}
        assert success == {code for code in expected if code.startswith("2")}, key


def test_same_parameters(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    for key, operation in operations(reference).items():
        mine = without_extra_parameters(key, parameters(ours, ours_ops[key]))
        assert mine == parameters(reference, operation), key


def parameter_types(spec: Spec, operation: Spec) -> dict[str, list[str]]:
    resolved = [resolve(spec, p) for p in operation.get("parameters", [])]
    return {p["name"]: shape(spec, p["schema"], nullability=False)["types"] for p in resolved}


def test_parameter_types(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    for key, operation in operations(reference).items():
        mine = without_extra_parameters(key, parameter_types(ours, ours_ops[key]))
        assert mine == parameter_types(reference, operation), key


def test_request_bodies_require_the_same_properties(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    compared = 0
    for key, operation in operations(reference).items():
        if "requestBody" not in operation:
            assert "requestBody" not in ours_ops[key], key
            continue
        assert "requestBody" in ours_ops[key], key
        assert resolve(ours, ours_ops[key]["requestBody"]).get("required") is True, key
        theirs = shape(
            reference, json_schema(reference, operation["requestBody"]), nullability=False
        )
        mine = shape(ours, json_schema(ours, ours_ops[key]["requestBody"]), nullability=False)
        assert mine == theirs, key
        compared += 1
    assert compared == 6


def test_response_bodies_have_the_same_shape(reference: Spec, ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    compared = 0
    for key, operation in operations(reference).items():
        for status, response in operation["responses"].items():
            theirs_schema = json_schema(reference, response)
            mine_schema = json_schema(ours, ours_ops[key]["responses"][status])
            if theirs_schema is None:
                assert mine_schema is None, (key, status)
                continue
            assert mine_schema is not None, (key, status)
            theirs = shape(reference, theirs_schema, nullability=True)
            mine = without_extensions(shape(ours, mine_schema, nullability=True))
            assert mine == theirs, (key, status)
            compared += 1
    assert compared > 60


def without_extensions(summary: Any) -> Any:
    """A shape summary without Conduit's extension properties (at any depth)."""
    if not isinstance(summary, dict):
        return summary
    trimmed = dict(summary)
    if "properties" in trimmed:
        trimmed["properties"] = {
            name: without_extensions(value)
            for name, value in trimmed["properties"].items()
            if name not in EXTENSION_PROPERTIES
        }
        trimmed["required"] = [n for n in trimmed["required"] if n not in EXTENSION_PROPERTIES]
    if "items" in trimmed:
        trimmed["items"] = without_extensions(trimmed["items"])
    return trimmed


def test_the_user_carries_its_roles(ours: Spec) -> None:
    for key in (("/user", "get"), ("/user", "put"), ("/users", "post"), ("/users/login", "post")):
        response = operations(ours, API_PREFIX)[key]["responses"]
        status = "201" if key == ("/users", "post") else "200"
        user = shape(ours, json_schema(ours, response[status]), nullability=False)
        roles = user["properties"]["user"]["properties"]["roles"]
        assert roles == {"types": ["array"], "items": {"types": ["string"]}}, key
        assert "roles" in user["properties"]["user"]["required"], key


def test_admin_operations_are_documented(ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    update = ours_ops[("/admin/users/{username}", "put")]
    assert update["tags"] == ["Admin"]
    assert {"200", "401", "403", "404", "422"} <= set(update["responses"])
    status = shape(ours, json_schema(ours, update["responses"]["200"]), nullability=False)
    assert set(status["properties"]["user"]["properties"]) == {
        "username",
        "email",
        "roles",
        "banned",
    }
    records = ours_ops[("/admin/audit", "get")]
    assert {"200", "401", "403", "422"} <= set(records["responses"])
    listed = shape(ours, json_schema(ours, records["responses"]["200"]), nullability=False)
    assert set(listed["properties"]) == {"auditRecords", "auditRecordsCount"}
    item = listed["properties"]["auditRecords"]["items"]["properties"]
    assert set(item) == {
        "id",
        "type",
        "occurredAt",
        "actorId",
        "subjectId",
        "ip",
        "userAgent",
        "details",
    }
    for operation in (update, records):
        assert operation.get("security") == [{"Token": []}]


def test_added_error_statuses_use_the_error_model(reference: Spec, ours: Spec) -> None:
    error = shape(reference, {"$ref": "#/components/schemas/GenericErrorModel"}, nullability=True)
    for key, operation in operations(ours, API_PREFIX).items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = json_schema(ours, response)
                assert schema is not None, (key, status)
                assert shape(ours, schema, nullability=True) == error, (key, status)


def test_every_operation_documents_the_rate_limit_and_unavailability(ours: Spec) -> None:
    """Any operation can be refused by a rate limit (429) or find a service it needs down
    (503); both say when to retry."""
    found = operations(ours)
    assert len(found) > 25
    for key, operation in found.items():
        for status in ("429", "503"):
            response = operation["responses"].get(status)
            assert response is not None, (key, status)
            assert response["description"], (key, status)
            assert "Retry-After" in response.get("headers", {}), (key, status)
            schema = json_schema(ours, response)
            assert schema == {"$ref": "#/components/schemas/GenericErrorModel"}, (key, status)


def test_article_list_items_have_no_body(ours: Spec) -> None:
    listed = json_schema(
        ours, operations(ours, API_PREFIX)[("/articles", "get")]["responses"]["200"]
    )
    item = shape(ours, listed, nullability=False)["properties"]["articles"]["items"]
    assert "body" not in item["properties"]
    single = json_schema(
        ours, operations(ours, API_PREFIX)[("/articles/{slug}", "get")]["responses"]["200"]
    )
    assert "body" in shape(ours, single, nullability=False)["properties"]["article"]["required"]


def test_protected_operations_declare_the_token(reference: Spec, ours: Spec) -> None:
    schemes = ours.get("components", {}).get("securitySchemes", {})
    assert schemes.get("Token", {}).get("type") == "apiKey"
    assert schemes["Token"].get("in") == "header"
    assert schemes["Token"].get("name") == "Authorization"
    ours_ops = operations(ours, API_PREFIX)
    for key, operation in operations(reference).items():
        assert ours_ops[key].get("security") == operation.get("security"), key


def test_served_at_api_openapi_json(ours: Spec) -> None:
    assert ours["openapi"].startswith("3.")
    assert ours["info"]["title"] == "RealWorld Conduit API"


def test_session_routes_are_documented(ours: Spec) -> None:
    ours_ops = operations(ours, API_PREFIX)
    refresh = ours_ops[("/users/refresh", "post")]
    assert refresh["operationId"] == "RefreshSession"
    assert refresh["tags"] == ["Sessions"]
    assert {(p["in"], p["name"]) for p in refresh["parameters"]} == {("cookie", "conduit_refresh")}
    assert "requestBody" not in refresh
    assert {"200", "401", "403"} <= set(refresh["responses"])
    answered = shape(ours, json_schema(ours, refresh["responses"]["200"]), nullability=False)
    assert answered["required"] == ["user"]
    assert set(answered["properties"]["user"]["properties"]) >= {
        "email",
        "token",
        "username",
        "bio",
        "image",
    }

    logout = ours_ops[("/users/logout", "post")]
    assert logout["operationId"] == "Logout"
    assert logout["tags"] == ["Sessions"]
    assert logout["security"] == [{"Token": []}]
    assert {"204", "401"} <= set(logout["responses"])
    assert json_schema(ours, logout["responses"]["204"]) is None
    body = resolve(ours, logout["requestBody"])
    assert body.get("required", False) is False
    requested = shape(ours, json_schema(ours, body), nullability=False)
    assert requested["properties"] == {"everywhere": {"types": ["boolean"]}}
