"""GET /docs: Swagger UI of both surfaces, served whole by the app (it works offline)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fixtures.servers import API_URL

ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


def test_the_page_names_only_files_the_app_serves(client):
    page = client.simulate_get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {urlsplit(url).path for url in urls} == {
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/favicon-32x32.png",
    }
    for url in urls:
        path, _, query = url.partition("?")
        asset = client.simulate_get(path, query_string=query)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"] == ASSET_TYPES[path[path.rindex(".") :]]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 500


@pytest.mark.parametrize(
    "path",
    [
        "/docs/swagger-ui.js",  # in the package, but not a file the page uses
        "/docs/swagger-initializer.js",
        "/docs/LICENSE",
        "/docs/static/swagger-ui.css",
        "/docs/..%2F..%2Fsettings.py",
        "/docs/%2e%2e/%2e%2e/settings.py",
    ],
)
def test_no_other_file_is_served(client, path):
    assert client.simulate_get(path).status_code == 404


def test_the_page_shows_both_surfaces_without_leaving_the_origin(page, gunicorn_app):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(API_URL + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    shown = set(
        page.locator(".opblock-summary-path").evaluate_all("els => els.map(e => e.dataset.path)")
    )
    assert {"/api/v1/cards", "/api/v1/auth/login", "/api/user/login", "/healthz"} <= shown

    # "Try it out" calls the API from the page, under the page's Content-Security-Policy.
    health = page.locator("#operations-service-get_healthz")
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    status = health.locator(".live-responses-table .response .response-col_status")
    assert status.first.inner_text(timeout=10_000).strip() == "200"

    assert problems == []
    assert requested and all(url.startswith(API_URL + "/") for url in requested), requested
