"""GET /docs: Swagger UI for /openapi.json, every file of it served from here (no CDN)."""

from __future__ import annotations

import base64
import functools
import hashlib
from importlib import metadata, util
from pathlib import Path

import falcon

from api.validation import operation

_PACKAGE = "swagger-ui-py"
# The package's files only: its Python code (framework adapters) is not imported.
_STATIC = Path(util.find_spec("swagger_ui").origin).parent / "static"
# The files' URLs name the package's version, so browsers may keep them for a year:
# an upgrade changes the URLs.
_VERSION = metadata.version(_PACKAGE)
_ASSET_CACHE = "public, max-age=31536000, immutable"
_TEXT = {"type": "string"}

_SCRIPT = """window.onload = () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
};"""
_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Zellyy and Money For Rabbit API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css?v={_VERSION}">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png?v={_VERSION}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js?v={_VERSION}"></script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
# The page runs its own files and its one inline script, and talks to this origin
# alone (the document, and "Try it out"); Swagger UI's CSS draws icons from data: URLs.
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
_PAGE_POLICY = (
    "default-src 'none'; "
    f"script-src 'self' 'sha256-{_SCRIPT_HASH}'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Page:
    uses_db = False

    @operation("This API's reference, for people (Swagger UI)", returns=_TEXT, media="text/html")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/html; charset=utf-8"
        resp.set_header("Content-Security-Policy", _PAGE_POLICY)
        resp.text = _PAGE


class _Asset:
    """One file of the package, named here: no path from the request reaches the disk."""

    uses_db = False
    content_type = ""

    def __init__(self, name: str):
        self.name = name

    @functools.cached_property
    def data(self) -> bytes:
        return (_STATIC / self.name).read_bytes()

    def _send(self, resp: falcon.Response) -> None:
        resp.content_type = self.content_type
        resp.cache_control = [_ASSET_CACHE]
        resp.data = self.data


class Script(_Asset):
    content_type = "text/javascript; charset=utf-8"

    @operation("Swagger UI's script", returns=_TEXT, media="text/javascript")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._send(resp)


class Stylesheet(_Asset):
    content_type = "text/css; charset=utf-8"

    @operation("Swagger UI's stylesheet", returns=_TEXT, media="text/css")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._send(resp)


class Icon(_Asset):
    content_type = "image/png"

    @operation("Swagger UI's icon", returns=_TEXT, media="image/png")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._send(resp)


def routes() -> dict:
    return {
        "/docs": Page(),
        "/docs/swagger-ui-bundle.js": Script("swagger-ui-bundle.js"),
        "/docs/swagger-ui.css": Stylesheet("swagger-ui.css"),
        "/docs/favicon-32x32.png": Icon("favicon-32x32.png"),
    }
