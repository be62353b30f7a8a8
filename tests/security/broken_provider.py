"""An OpenID Connect provider that answers whatever the test says: a broken or hostile one.

A plain HTTP server (``http.server``, in a thread, on a free port of 127.0.0.1) serving the
discovery document, the keys (JWKS), the token endpoint and userinfo. By default it behaves
like a correct provider that signs id_tokens with its own RSA key, so that the control
test signs a user in; each test then breaks one answer (:meth:`BrokenProvider.answer`) or
hands out an id_token it built (:meth:`BrokenProvider.id_token`) -- for another audience,
from another issuer, signed with the wrong key, and so on.

The tests in tests/oidc use the real oidc-provider; this one exists for what a real
provider never sends.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.oidc.provider_process import CLIENT_ID

KEY_ID = "broken-key-1"
JSON = "application/json"


@functools.cache
def rsa_key(name: str) -> RSAKey:
    """An RSA signing key, made once per name for the whole run (key generation is slow)."""
    return RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})


class Answer:
    """What one endpoint sends back."""

    def __init__(self, body: bytes, status: int = 200, content_type: str = JSON) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type

    @classmethod
    def of(cls, document: Any, status: int = 200) -> Answer:
        return cls(json.dumps(document).encode(), status)


class BrokenProvider:
    def __init__(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                path = urlsplit(self.path).path
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                provider.requests.append(f"{self.command} {path}")
                answer = provider.answers.get(path) or Answer(b"not found", 404, "text/plain")
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = _reply
            do_POST = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.key = rsa_key("provider")
        self.requests: list[str] = []
        self.answers: dict[str, Answer] = {
            "/.well-known/openid-configuration": Answer.of(self.discovery()),
            "/jwks": Answer.of(KeySet([self.key]).as_dict(private=False)),
        }

    def discovery(self, **changes: Any) -> dict[str, Any]:
        """A correct discovery document, with ``changes``."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            **changes,
        }

    def claims(self, nonce: str, /, **changes: Any) -> dict[str, Any]:
        """The claims of a correct id_token for Conduit's client and ``nonce``, with ``changes``
        (a value of None removes the claim)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "zoe",
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "email": "zoe@example.test",
            "email_verified": True,
            "preferred_username": "zoe",
            **changes,
        }
        return {name: value for name, value in claims.items() if value is not None}

    def id_token(self, nonce: str, /, *, key: RSAKey | None = None, **changes: Any) -> str:
        """A correct id_token (signed with the provider's key, or ``key``), with ``changes``."""
        signer = key or self.key
        header = {"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}
        return jwt.encode(header, self.claims(nonce, **changes), signer)

    def token_answer(self, id_token: object, **extra: Any) -> Answer:
        """A token endpoint answer carrying ``id_token``."""
        return Answer.of(
            {"access_token": "at-123", "token_type": "Bearer", "expires_in": 300, **extra}
            | ({} if id_token is None else {"id_token": id_token})
        )

    def answer(self, path: str, answer: Answer) -> None:
        self.answers[path] = answer

    @contextmanager
    def running(self) -> Iterator[BrokenProvider]:
        # shutdown() waits for the serving loop to look at its flag, which it does once per
        # poll interval (0.5 s by default: half a second at the end of every test).
        thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)
