"""Cheaper apps for the tests: what FastAPI derives from the code alone is derived once.

Almost every test builds its own app (``create_app`` with the test's own container: its
database, settings, tokens), and FastAPI builds each route of each app from scratch: it
reads every endpoint's and dependency's signature again (evaluating the string annotations
of modules with ``from __future__ import annotations``) and builds a pydantic ``TypeAdapter``
(a compiled validator and serializer) for every parameter and response field. That was more
than half of the CPU time of the API tests.

Both are pure functions of the code: a signature of a function object, an adapter of the
field's annotation, metadata, attributes and config. Here they are remembered for the test
process, so the next app gets the same (immutable) objects: its routes, dependencies,
validation and serialization are built by Conduit and FastAPI exactly as in production.

Nothing is installed when FastAPI's internals are not the ones this was written against (the
tests then run as before, only slower); ``CONDUIT_TEST_FRESH_ROUTES=1`` switches it off.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import weakref
from collections.abc import Callable
from typing import Any

import fastapi._compat.v2 as fastapi_v2
import fastapi.dependencies.utils as fastapi_dependencies
from fastapi.dependencies import models as fastapi_models

_ADAPTER_ATTRIBUTES = {"field_info", "name", "mode", "config", "_type_adapter"}
_adapters: dict[Any, Any] = {}
_signatures: weakref.WeakKeyDictionary[Any, inspect.Signature] = weakref.WeakKeyDictionary()
installed = False


def _adapter_key(field: Any) -> Any:
    """The inputs of the field's TypeAdapter, hashable, types kept (``1`` is not ``True``)."""
    described = fastapi_v2.asdict(field.field_info)
    attributes = tuple(
        (name, type(value), value) for name, value in sorted(described["attributes"].items())
    )
    config = None if field.config is None else tuple(sorted(field.config.items()))
    key = (described["annotation"], tuple(described["metadata"]), attributes, config)
    hash(key)  # TypeError: not shareable (a list or dict somewhere): built afresh
    return key


def _sharing_adapters(original: Callable[[Any], None]) -> Callable[[Any], None]:
    def post_init(field: Any) -> None:
        try:
            key = _adapter_key(field)
        except TypeError:
            original(field)
            return
        adapter = _adapters.get(key)
        if adapter is None:
            original(field)
            _adapters[key] = field._type_adapter
        else:
            field._type_adapter = adapter

    return post_init


def _sharing_signatures(
    original: Callable[[Callable[..., Any]], inspect.Signature],
) -> Callable[[Callable[..., Any]], inspect.Signature]:
    def get_typed_signature(call: Callable[..., Any]) -> inspect.Signature:
        try:
            return _signatures[call]
        except (KeyError, TypeError):  # not seen yet, or not weakly referable
            pass
        signature = original(call)
        with contextlib.suppress(TypeError):
            _signatures[call] = signature
        return signature

    return get_typed_signature


def _shaped_as_expected() -> bool:
    """The FastAPI internals this leans on are there and do what it assumes."""
    if not callable(getattr(fastapi_dependencies, "get_typed_signature", None)):
        return False
    if not callable(getattr(fastapi_v2, "asdict", None)):
        return False
    from fastapi.params import Query

    probe = fastapi_v2.ModelField(field_info=Query(default=None), name="probe")
    return set(vars(probe)) == _ADAPTER_ATTRIBUTES


def install() -> None:
    """Share signatures and adapters from now on in this process (once)."""
    global installed
    if installed or os.environ.get("CONDUIT_TEST_FRESH_ROUTES") == "1":
        return
    if not _shaped_as_expected():
        return
    fastapi_v2.ModelField.__post_init__ = _sharing_adapters(  # type: ignore[method-assign,assignment]
        fastapi_v2.ModelField.__post_init__
    )
    fastapi_dependencies.get_typed_signature = _sharing_signatures(  # type: ignore[assignment]
        fastapi_dependencies.get_typed_signature
    )
    installed = True


_CLASSIFICATION_CACHES = (
    "_is_gen_callable_cached",
    "_is_async_gen_callable_cached",
    "_is_coroutine_callable_cached",
)


def forget_endpoints() -> None:
    """Empty FastAPI's caches keyed by callables (``lru_cache`` of 4,096 entries each).

    They hold every endpoint and dependency of every app built so far: closures over the
    app's container, so each test's app (its engines, schemas, routes: thousands of objects)
    stayed alive until thousands of later entries pushed it out, and every full garbage
    collection walked all of them again.
    """
    for name in _CLASSIFICATION_CACHES:
        cache = getattr(fastapi_models, name, None)
        if cache is not None and hasattr(cache, "cache_clear"):
            cache.cache_clear()
