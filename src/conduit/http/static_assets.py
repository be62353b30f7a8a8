"""The scripts and style sheets of /docs (Swagger UI) and GraphiQL, served by Conduit itself.

No page of Conduit loads anything from a CDN: the pages work offline and behind a strict
egress policy, and their Content-Security-Policy names no host but the API's own
(``http/hardening.py``). The assets come from installed packages, never from copies in the
repository:

- Swagger UI from the PyPI package ``fastapi-offline`` (its static folder), a dependency
  of Conduit, at ``/static/swagger-ui/<version>/``;
- GraphiQL (React, GraphiQL, its explorer plugin, js-cookie) from npm, installed by
  ``make install`` into ``web/graphiql/node_modules`` (git-ignored; ``npm ci`` against the
  lock file, skipped with a message where npm is missing), at
  ``/static/graphiql/<package>@<version>/<file>``. The versions are exactly those of
  Strawberry's GraphiQL page, whose unpkg URLs are rewritten to these (its integrity
  hashes stay, and match). Without them GET /graphql in a browser answers a page that
  says how to install them; the GraphQL API itself does not need them.

Every asset URL names its version, so its answer is cached for a year (``immutable``).
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import os
import re
from importlib.resources import files
from pathlib import Path

import structlog
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

SWAGGER_UI_PREFIX = "/static/swagger-ui"
GRAPHIQL_PREFIX = "/static/graphiql"
IMMUTABLE = "public, max-age=31536000, immutable"
# The repository's web/graphiql (src/conduit/http/static_assets.py is three levels down).
DEFAULT_GRAPHIQL_DIR = Path(__file__).resolve().parents[3] / "web" / "graphiql"
_UNPKG = re.compile(r"https://unpkg\.com/((?:@[a-z0-9._-]+/)?[a-z0-9._-]+)@([0-9A-Za-z.+-]+)/")
_ASSET = re.compile(r"^((?:@[a-z0-9._-]+/)?[a-z0-9._-]+)@([0-9A-Za-z.+-]+)/(.+)$")

log = structlog.get_logger("conduit")


class ImmutableFiles(StaticFiles):
    """Static files whose URLs change with their content: cached for a year."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = IMMUTABLE
        return response


# --- Swagger UI --------------------------------------------------------------------------


def swagger_ui_files() -> tuple[str, ImmutableFiles]:
    """Where Swagger UI's assets are served (a path naming the package's version) and the app
    that serves them."""
    folder = Path(str(files("fastapi_offline") / "static"))
    version = importlib.metadata.version("fastapi-offline")
    return f"{SWAGGER_UI_PREFIX}/{version}", ImmutableFiles(directory=folder)


def swagger_ui_page(*, openapi_url: str, title: str, assets: str) -> HTMLResponse:
    """FastAPI's Swagger UI page, its script, style sheet and icon served from ``assets``."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
    )


# --- GraphiQL ----------------------------------------------------------------------------


class GraphiqlAssets:
    """GraphiQL's npm packages in ``folder/node_modules``, as ``folder/package.json`` lists
    them (only those are served)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or DEFAULT_GRAPHIQL_DIR
        self.modules = self.folder / "node_modules"
        self.files = _PackageFiles(self)

    def wanted(self) -> dict[str, str]:
        """The packages package.json pins: {name: version}."""
        try:
            manifest = json.loads((self.folder / "package.json").read_text())
        except (OSError, ValueError):
            return {}
        dependencies = manifest.get("dependencies", {})
        return {str(name): str(version) for name, version in dependencies.items()}

    def installed(self, name: str) -> str | None:
        """The version of ``name`` in node_modules, if it is there."""
        try:
            manifest = json.loads((self.modules / name / "package.json").read_text())
        except (OSError, ValueError):
            return None
        version = manifest.get("version")
        return version if isinstance(version, str) else None

    def missing(self, page: str) -> list[str]:
        """The ``package@version`` the page needs that are not installed (nor listed)."""
        wanted = self.wanted()
        return [
            f"{name}@{version}"
            for name, version in dict.fromkeys(_UNPKG.findall(page))
            if wanted.get(name) != version or self.installed(name) != version
        ]

    def page(self, page: str) -> tuple[str, int]:
        """Strawberry's GraphiQL page with its unpkg URLs made this server's, or (with the
        packages missing) a page that says how to install them; and the status."""
        missing = self.missing(page)
        if missing:
            log.warning("graphiql_assets_missing", missing=missing, folder=str(self.modules))
            return _missing_page(missing, self.folder), 503
        return _UNPKG.sub(lambda m: f"{GRAPHIQL_PREFIX}/{m[1]}@{m[2]}/", page), 200


class _PackageFiles(ImmutableFiles):
    """``<package>@<version>/<file>`` from node_modules, for the listed packages at exactly
    their installed version (404 otherwise)."""

    def __init__(self, assets: GraphiqlAssets) -> None:
        super().__init__(directory=assets.modules, check_dir=False)
        self.assets = assets

    async def check_config(self) -> None:
        if not self.assets.modules.is_dir():  # not installed (yet): nothing to serve
            raise HTTPException(status_code=404)
        await super().check_config()

    def get_path(self, scope: Scope) -> str:
        match = _ASSET.match(super().get_path(scope).replace("\\", "/"))
        if match is None:
            raise HTTPException(status_code=404)
        name, version, rest = match.groups()
        if self.assets.wanted().get(name) != version or self.assets.installed(name) != version:
            raise HTTPException(status_code=404)
        return f"{name}/{rest}"


def _missing_page(missing: list[str], folder: Path) -> str:
    packages = html.escape(", ".join(missing))
    where = html.escape(str(folder))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>GraphiQL is not "
        "installed</title></head><body><h1>GraphiQL is not installed</h1>"
        f"<p>Its scripts ({packages}) come from npm and are not in {where}/node_modules. "
        "Install them with <code>make install</code> (which runs <code>npm ci</code> in "
        "<code>web/graphiql</code> when Node.js's npm is on the PATH), or set "
        "<code>CONDUIT_GRAPHIQL_ASSETS_DIR</code> to a folder where they are installed.</p>"
        "<p>The GraphQL API itself works without them: POST /graphql.</p></body></html>"
    )
