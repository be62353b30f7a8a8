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
from dataclasses import dataclass

from starlette.types import Message

API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
HSTS = b"max-age=31536000; includeSubDomains"
_CSP = b"content-security-policy"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

COMMON_HEADERS = (
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


def is_html(message: Message) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/html")
        for name, value in message.get("headers", [])
    )


class Hardening:
    """The security-header step of :class:`conduit.http.pipeline.HttpPipeline` (the
    outermost: every answer has them, even a 413 or a 429)."""

    def __init__(self, *, https: bool, docs_path: str = "/docs", ide_path: str | None = None):
        self.docs_path = docs_path
        self.ide_path = ide_path
        self.headers = [*COMMON_HEADERS, *([(b"strict-transport-security", HSTS)] if https else [])]
        self.api_headers = [
            *self.headers,
            (_CSP, API_POLICY),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]
        self._api_names = frozenset(name for name, _ in self.api_headers)

    def page_of(self, path: str) -> Page | None:
        """How a page's answer is hardened (the documentation, GraphiQL); None for the API."""
        if path == self.docs_path or path.startswith(self.docs_path + "/"):
            return Page(docs_policy, only_html=False)
        if path == self.ide_path:
            return Page(ide_policy, only_html=True)
        return None

    def harden(self, message: Message) -> None:
        """The API headers onto an answer's start (those it set itself are kept)."""
        headers: list[tuple[bytes, bytes]] = message.get("headers", [])
        if any(name.lower() in self._api_names for name, _ in headers):
            _add(message, self.api_headers)
        else:
            message["headers"] = [*headers, *self.api_headers]

    def harden_page(self, start: Message, body: bytes, page: Page) -> None:
        """A page's start, once its whole body is known: its own policy."""
        _add(start, [*self.headers, (_CSP, page.policy(body))])


@dataclass(frozen=True, slots=True)
class Page:
    policy: Callable[[bytes], bytes]
    only_html: bool  # answers that are not HTML (GraphQL's JSON) get the API headers

    def held(self, start: Message) -> bool:
        """Whether the answer is held until complete (to hash its inline scripts)."""
        return not self.only_html or is_html(start)


def _add(message: Message, extra: list[tuple[bytes, bytes]]) -> None:
    headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    headers += [(name, value) for name, value in extra if name not in present]
    message["headers"] = headers
