"""REST routes of login with OpenID Connect: /auth/{provider}/login and /auth/{provider}/callback.

The browser goes to ``login``, which sends it to the provider; the provider sends it back to
``callback``, which signs the user in and sends it on to the frontend with the access token
in the URL fragment (never in the query: a fragment is not sent to servers, nor in Referer)
and the refresh token in its HttpOnly cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from conduit.auth.cookies import set_refresh_cookie
from conduit.auth.oidc import service as identity
from conduit.http.kit import DB, AppSettings, ClientInfo, IdentityProviders, Tokens, error_responses
from conduit.settings import Settings

router = APIRouter(tags=["Authentication"])

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _redirect_response(description: str, *, cookie: bool = False) -> dict[int | str, Any]:
    headers: dict[str, Any] = {
        "Location": {"description": description, "schema": {"type": "string"}}
    }
    if cookie:
        headers["Set-Cookie"] = {
            "description": "conduit_refresh: the refresh token (HttpOnly, Secure, "
            "SameSite=Strict, Path=/api/users/refresh)",
            "schema": {"type": "string"},
        }
    return {302: {"description": description, "headers": headers}}


def _callback_url(request: Request, settings: Settings, provider: str) -> str:
    """The redirect URI: CONDUIT_PUBLIC_URL and the callback's path, never the request's
    Host header (which the client chooses)."""
    path = request.app.url_path_for("oidc_callback", provider=provider)
    return f"{settings.public_base_url}{path}"


@router.get(
    "/auth/{provider}/login",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        **_redirect_response("The provider's authorization URL (code flow with PKCE)"),
        **error_responses(404, 422, 503),
    },
    summary="Log in with an OpenID Connect provider",
    description="Sends the browser to the provider named in CONDUIT_OIDC_PROVIDERS. "
    "404 for a provider that is not configured, 503 when it does not answer.",
    operation_id="OidcLogin",
)
async def oidc_login(
    provider: str, request: Request, db: DB, settings: AppSettings, providers: IdentityProviders
) -> RedirectResponse:
    url = await identity.begin(
        db,
        providers=providers,
        provider=provider,
        redirect_uri=_callback_url(request, settings, provider),
    )
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


@router.get(
    "/auth/{provider}/callback",
    name="oidc_callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        **_redirect_response(
            "The frontend (CONDUIT_FRONTEND_URL) with #token=<access token>", cookie=True
        ),
        **error_responses(401, 403, 404, 422, 503),
    },
    summary="Where the provider sends the browser back",
    description="Signs the user in (creating the account at the first login, or linking an "
    "existing one whose email the provider verified) and redirects to the frontend with the "
    "access token in the URL fragment. 401 for an unknown, replayed or expired state, an "
    "iss that is not the provider's (RFC 9207; required when the provider advertises it), a "
    "refused code or an id_token that does not verify; 403 when the provider's email is not "
    "verified; 503 when the provider does not answer.",
    operation_id="OidcCallback",
)
async def oidc_callback(
    provider: str,
    request: Request,
    db: DB,
    tokens: Tokens,
    settings: AppSettings,
    providers: IdentityProviders,
    client: ClientInfo,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    iss: Annotated[str | None, Query(max_length=2048)] = None,
) -> RedirectResponse:
    signed_in = await identity.complete(
        db,
        providers=providers,
        provider=provider,
        state=state,
        code=code,
        error=error,
        iss=iss,
        redirect_uri=_callback_url(request, settings, provider),
        tokens=tokens,
        session_ttl_seconds=settings.refresh_token_ttl_seconds,
        client=client,
    )
    frontend = settings.frontend_url.split("#", 1)[0]
    token = signed_in.access_token
    response = RedirectResponse(f"{frontend}#token={token}", status_code=302, headers=_NO_STORE)
    set_refresh_cookie(response, signed_in)
    return response
