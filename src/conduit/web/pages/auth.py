"""Sign in (``/login``), sign up (``/register``) and sign out (``POST /logout``).

Each starts or ends the same server-side session as the API; signing out with
``everywhere=1`` ends every session of the reader, as ``POST /api/users/logout`` does.
Signing in is throttled by the API's login limits (per address and per account); signing up
by its registration limit.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.auth import service as auth
from conduit.core.errors import ConduitError
from conduit.core.rate_limits import REGISTER_PER_IP
from conduit.http.kit import client_of
from conduit.users.schemas import LoginUser, NewUser
from conduit.web import session
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors, messages_of
from conduit.web.forms import TooMany, back_to, text, validated
from conduit.web.templating import page, redirect


def _next_of(request: Request, form: FormData | None = None) -> str:
    """Where to go once signed in: the form's or the link's ``next`` (a local path), else /."""
    if form is not None:
        return back_to(form, "/")
    return back_to(FormData({"next": request.query_params.get("next", "")}), "/")


async def _form_page(
    request: Request,
    template: str,
    *,
    errors: list[str] | None = None,
    form: FormData | None = None,
    **values: str,
) -> Response:
    target = _next_of(request, form)
    if await session.visitor(request) is not None and not errors:
        return redirect(request, target)
    status = 422 if errors else 200
    return await page(
        request, template, status, errors=errors or [], values=values, next_page=target
    )


@answers_errors
async def login_page(request: Request) -> Response:
    return await _form_page(request, "pages/login.html")


@answers_errors
async def login(request: Request) -> Response:
    form = await checked_form(request, counted=False)
    email, password = text(form, "email"), text(form, "password")
    web = web_of(request)
    client = client_of(request)
    logins = web.logins
    if logins is not None:
        quotas = await logins.admit(client.ip or "unknown", email or None)
        if any(quota is not None and not quota.allowed for quota in quotas):
            raise TooMany()
    try:
        credentials = validated(LoginUser, {"email": email, "password": password})
        signed_in = await auth.login(
            web.db,
            email=credentials.email,
            password=credentials.password,
            client=client,
            tokens=web.tokens,
            refresh_ttl_seconds=web.refresh_ttl_seconds,
        )
    except ConduitError as refused:
        if logins is not None and email and refused.status == 401:
            await logins.failed(client.ip or "unknown", email)
        if refused.status not in (401, 403, 422):
            raise
        return await _form_page(
            request, "pages/login.html", errors=messages_of(refused), form=form, email=email
        )
    session.start(request, signed_in)
    return redirect(request, _next_of(request, form))


@answers_errors
async def register_page(request: Request) -> Response:
    return await _form_page(request, "pages/register.html")


@answers_errors
async def register(request: Request) -> Response:
    form = await checked_form(request, counted=False)
    username, email, password = text(form, "username"), text(form, "email"), text(form, "password")
    web = web_of(request)
    client = client_of(request)
    if web.rate_limiter is not None:
        quota = await web.rate_limiter.hit(REGISTER_PER_IP, client.ip or "unknown")
        if quota is not None and not quota.allowed:
            raise TooMany()
    try:
        new = validated(NewUser, {"username": username, "email": email, "password": password})
        signed_in = await auth.register(
            web.db,
            username=new.username,
            email=new.email,
            password=new.password,
            client=client,
            tokens=web.tokens,
            refresh_ttl_seconds=web.refresh_ttl_seconds,
        )
    except ConduitError as refused:
        if refused.status not in (409, 422):
            raise
        return await _form_page(
            request,
            "pages/register.html",
            errors=messages_of(refused),
            form=form,
            username=username,
            email=email,
        )
    session.start(request, signed_in)
    return redirect(request, _next_of(request, form))


@answers_errors
async def logout(request: Request) -> Response:
    form = await checked_form(request)
    reader = await session.visitor(request)
    if reader is not None:
        web = web_of(request)
        await auth.logout(
            web.db,
            actor=reader.principal,
            everywhere=text(form, "everywhere") == "1",
            client=client_of(request),
        )
    session.end(request)
    return redirect(request, "/")


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/register", register_page, methods=["GET"]),
    Route("/register", register, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
