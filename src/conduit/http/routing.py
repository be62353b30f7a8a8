"""How the API's routes are found and run.

Two things FastAPI 0.165 does generically, done here for the shapes Conduit's routes have:

- **Finding the route.** ``app.include_router`` keeps each feature router by reference: a
  request walks every included router's routes in turn, with FastAPI's bookkeeping around
  each, and the matching one twice (0.1 ms of CPU on ``/health/live``, 0.23 ms in all).
  :func:`add_routes` puts the routes into the app's own list instead, and each
  :class:`AppRoute` rules itself out by the fixed start of its path before running its
  pattern. The OpenAPI document is the same either way.
- **Running it.** FastAPI's request handler solves a route's dependencies anew on every
  request: for each one it classifies the callable, builds a cache key, walks the
  parameters' aliases and wraps the call in telemetry, about 0.1 ms of CPU for the three
  dependencies of ``GET /api/profiles/{username}`` (a fifth of the request). An
  :class:`AppRoute` whose parameters are all simple (path and query values of a scalar
  type, ``async def`` dependencies without ``yield``, the request itself) works out once,
  when the app is built, what to call in which order (a :class:`Plan`), and runs that plan
  per request. It validates each value with the same field FastAPI would have used, in the
  same order, so answers and errors are the same; a test compares them route by route.
  Any other route (a body, headers, a sync dependency, a route that returns data for
  FastAPI to serialize) keeps FastAPI's handler, and so does every route while
  ``app.dependency_overrides`` is set, and every route when ``CONDUIT_ROUTE_PLANS=false``
  (:class:`HandlerRoute`).

The plans use FastAPI's internals (``Dependant``, ``ModelField.validate``, the
``strict_content_type`` / ``max_body_size`` / ``form_limits`` arguments of
``add_api_route``): ``pyproject.toml`` pins FastAPI to the minor version they were written
for, and tests/api/test_route_plans.py compares every planned route with FastAPI's handler.
"""

from __future__ import annotations

import copy
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# Types a path or query value is validated into by a plain field (a pydantic scalar), with
# or without ``| None``. Anything else (lists, models, aliases) keeps FastAPI's handler.
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query value: where to find it and the FastAPI field that validates it."""

    name: str
    alias: str
    in_path: bool
    loc: tuple[str, str]
    field: Any  # fastapi's ModelField
    required: bool
    default: Any
    validate_default: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """What one callable (an endpoint or a dependency) needs, worked out once."""

    call: Callable[..., Awaitable[Any]]
    params: tuple[Param, ...]
    dependencies: tuple[tuple[str | None, Plan], ...]
    request_names: tuple[str, ...]
    uses_query: bool
    use_cache: bool


def _is_scalar(annotation: Any) -> bool:
    if annotation in _SCALARS:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return len(members) == 1 and members[0] in _SCALARS
    return False


def _is_async(call: Any) -> bool:
    if inspect.isfunction(call) or inspect.ismethod(call):
        return inspect.iscoroutinefunction(call)
    dunder_call = getattr(type(call), "__call__", None)  # noqa: B004 (an instance's method)
    return dunder_call is not None and inspect.iscoroutinefunction(dunder_call)


def _param(field: Any, *, in_path: bool) -> Param | None:
    info = field.field_info
    if info.validation_alias is not None or not _is_scalar(info.annotation):
        return None
    required = info.is_required()
    return Param(
        name=field.name,
        alias=field.alias,
        in_path=in_path,
        loc=("path" if in_path else "query", field.alias),
        field=field,
        required=required,
        default=None if required else field.default,
        validate_default=bool(info.validate_default),
    )


def plan_of(dependant: Dependant) -> Plan | None:
    """The plan for ``dependant`` and its dependencies, or None if one is not simple."""
    if (
        dependant.call is None
        or not _is_async(dependant.call)
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
    ):
        return None
    params: list[Param] = []
    for fields, in_path in ((dependant.path_params, True), (dependant.query_params, False)):
        for field in fields:
            param = _param(field, in_path=in_path)
            if param is None:
                return None
            params.append(param)
    dependencies: list[tuple[str | None, Plan]] = []
    for sub in dependant.dependencies:
        sub_plan = plan_of(sub)
        if sub_plan is None:
            return None
        dependencies.append((sub.name, sub_plan))
    request_names = tuple(
        name
        for name in (dependant.request_param_name, dependant.http_connection_param_name)
        if name is not None
    )
    return Plan(
        call=dependant.call,
        params=tuple(params),
        dependencies=tuple(dependencies),
        request_names=request_names,
        uses_query=not all(param.in_path for param in params),
        use_cache=dependant.use_cache,
    )


def _missing(loc: tuple[str, str]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


async def solve(
    plan: Plan, request: Request, cache: dict[Any, Any], errors: list[Any]
) -> dict[str, Any]:
    """The keyword arguments of ``plan.call``; problems with the request go to ``errors``.

    As FastAPI does it: dependencies first, in the order declared, each called once per
    request (unless it opts out of the cache) and not at all when its own values are
    invalid; then the path and query values; every invalid value is reported, not only the
    first.
    """
    values: dict[str, Any] = {}
    for name, sub in plan.dependencies:
        if sub.use_cache and sub.call in cache:
            value = cache[sub.call]
        else:
            sub_errors: list[Any] = []
            arguments = await solve(sub, request, cache, sub_errors)
            if sub_errors:
                errors.extend(sub_errors)
                continue
            value = await sub.call(**arguments)
            if sub.use_cache:
                cache[sub.call] = value
        if name is not None:
            values[name] = value
    path: Mapping[str, Any] = request.path_params
    query: Mapping[str, Any] = request.query_params if plan.uses_query else {}
    for param in plan.params:
        raw = (path if param.in_path else query).get(param.alias)
        if raw is None:
            if param.required:
                errors.append(_missing(param.loc))
                continue
            raw = copy.deepcopy(param.default)
            if not param.validate_default:
                values[param.name] = raw
                continue
        value, problems = param.field.validate(raw, values, loc=param.loc)
        if problems:
            errors.extend(problems)
        else:
            values[param.name] = value
    for name in plan.request_names:
        values[name] = request
    return values


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except (NameError, TypeError):
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


class AppRoute(APIRoute):
    """An API route that rules itself out by its path's fixed start and, where its
    parameters allow, runs from a plan made once (module docstring)."""

    plans: typing.ClassVar[bool] = True
    plan: Plan | None

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.fixed_start = path.split("{", 1)[0]
        self.plan = None
        super().__init__(path, endpoint, **kwargs)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] == "http"
            and not scope.get("root_path")  # behind a path prefix: the pattern decides
            and not scope["path"].startswith(self.fixed_start)
        ):
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Handler:
        generic = super().get_route_handler()
        if not self.plans:
            return generic
        plan = plan_of(self.dependant) if _returns_response(self.endpoint) else None
        self.plan = plan
        if plan is None:
            return generic
        overrides = self.dependency_overrides_provider

        async def planned(request: Request) -> Response:
            if overrides is not None and getattr(overrides, "dependency_overrides", None):
                return await generic(request)
            errors: list[Any] = []
            values = await solve(plan, request, {}, errors)
            if errors:
                raise RequestValidationError(errors)
            response: Response = await plan.call(**values)
            return response

        return planned


class HandlerRoute(AppRoute):
    """An :class:`AppRoute` that runs every request through FastAPI's own handler
    (``CONDUIT_ROUTE_PLANS=false``): the reference the plans are checked against."""

    plans = False


def add_routes(
    app: FastAPI,
    router: APIRouter,
    *,
    prefix: str = "",
    plans: bool = True,
    responses: Mapping[int | str, dict[str, Any]] | None = None,
) -> None:
    """Put ``router``'s routes into ``app``'s own list, under ``prefix``, as they are; with
    ``plans`` off, every one of them runs through FastAPI's own handler. ``responses`` are
    documented on every route that does not document the same status itself.

    Refuses what would not survive the copy (websockets, mounts, custom route classes,
    start-up handlers): those need ``include_router``.
    """
    if router.on_startup or router.on_shutdown:
        raise TypeError("a router with start-up or shutdown handlers needs include_router")
    common = dict(responses or {})
    for route in router.routes:
        if type(route) is not APIRoute:  # websockets, mounts, custom route classes
            raise TypeError(f"{route!r}: only plain API routes can be added this way")
        own = dict(route.responses)
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses={**own, **{k: v for k, v in common.items() if k not in own}},
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
            form_limits=route.form_limits or None,
            route_class_override=AppRoute if plans else HandlerRoute,
        )
