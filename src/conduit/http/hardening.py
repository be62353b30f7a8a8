"""Security headers on every answer (the outermost step, so even a 413 or a 429 has them).

API answers are JSON that no browser should render, frame, sniff or embed::

    X-Content-Type-Options: nosniff
    X-Frame-Options: DENY
    Referrer-Policy: no-referrer
    Content-Security-Policy: default-src 'none'; frame-ancestors 'none'
    Cross-Origin-Opener-Policy: same-origin
    Cross-Origin-Resource-Policy: same-origin   (CORS requests of frontends are unaffected)
    Strict-Transport-Security: max-age=31536000; includeSubDomains   (CONDUIT_HTTPS only)

The interactive documentation (/docs, FastAPI's Swagger UI) and GraphiQL (GET /graphql in
a browser) are pages: they load their scripts and style sheets from this server (under
/static, see ``static_assets.py``; no CDN) and start with an inline script. Their policy
allows exactly that: 'self', and the inline scripts of the page itself by their SHA-256
(computed from the page as it is sent, so an upgrade of FastAPI or Strawberry cannot
silently break it), never 'unsafe-inline' scripts, and no other host.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
HSTS = b"max-age=31536000; includeSubDomains"
_CSP = b"content-security-policy"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _script_hashes(html: bytes) -> str:
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )


def docs_policy(html: bytes) -> bytes:
    """The policy of a documentation page: its own inline scripts and this server's assets."""
    hashes = _script_hashes(html)
    return (
        f"default-src 'none'; script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ).encode()


def ide_policy(html: bytes) -> bytes:
    """The policy of GraphiQL: its own inline scripts, this server's assets and requests to
    itself (the WebSocket of subscriptions included)."""
    return (
        f"default-src 'none'; script-src 'self' {_script_hashes(html)}; "
        "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ).encode()


def _is_html(message: Message) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/html")
        for name, value in message.get("headers", [])
    )


class SecurityHeaders:
    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool,
        docs_path: str = "/docs",
        ide_path: str | None = None,
    ) -> None:
        self.app = app
        self.docs_path = docs_path
        self.ide_path = ide_path
        self.headers = [*_COMMON, *([(b"strict-transport-security", HSTS)] if https else [])]

    def _add(self, message: Message, extra: list[tuple[bytes, bytes]]) -> None:
        headers = list(message.get("headers", []))
        present = {name.lower() for name, _ in headers}
        headers += [(name, value) for name, value in extra if name not in present]
        message["headers"] = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.docs_path or scope["path"].startswith(self.docs_path + "/"):
            await self._page(scope, receive, send)
            return
        if scope["path"] == self.ide_path:
            await self._page(scope, receive, send, ide_policy, only_html=True)
            return
        api_headers = self._api_headers()

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(message, api_headers)
            await send(message)

        await self.app(scope, receive, send_hardened)

    def _api_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            *self.headers,
            (_CSP, API_POLICY),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]

    async def _page(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        policy: Callable[[bytes], bytes] = docs_policy,
        *,
        only_html: bool = False,
    ) -> None:
        """The documentation page is small: held until complete, then sent with its policy.

        ``only_html``: answers that are not HTML (GraphQL's JSON) get the API headers."""
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def send_page(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                if only_html and not _is_html(message):
                    passing = True
                    self._add(message, self._api_headers())
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            self._add(start, [*self.headers, (_CSP, policy(body))])
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_page)
