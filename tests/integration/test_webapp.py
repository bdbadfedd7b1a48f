"""The web app's page and assets as the API serves them (design §15): public, typed,
ETag-revalidated, behind a Content-Security-Policy that names only this service and the
upload bucket, and built without HTML strings (every name is text)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.gateway import webapp

STATIC = Path(webapp.__file__).resolve().parent / "static"


def csp_of(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in (p.strip() for p in policy.split(";"))}


def test_page_is_public_html_with_a_strict_policy(client: Any) -> None:
    response = client.http.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.body.decode()
    assert '<base href="/">' in page and "{{BASE}}" not in page
    assert '<script type="module" src="assets/app.js">' in page
    csp = csp_of(response)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"  # no inline code, no CDN
    assert csp["connect-src"].split()[0] == "'self'"
    assert re.fullmatch(r"'self' https?://[^ ;/]+", csp["connect-src"]), csp["connect-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_connect_src_is_the_origin_of_the_presigned_posts(client: Any) -> None:
    from chalicelib.jobs import s3layout

    webapp.upload_origin.cache_clear()
    url = s3layout.presigned_upload("uploads/u/j/a.fa", 10)["url"]
    origin = "/".join(url.split("/")[:3])
    assert csp_of(client.http.get("/"))["connect-src"] == f"'self' {origin}"


@pytest.mark.parametrize(
    "name, content_type",
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"), ("icon.svg", "image/svg+xml")],
)
def test_assets_are_typed_and_revalidated_by_etag(client: Any, name: str, content_type: str) -> None:
    first = client.http.get(f"/assets/{name}")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == content_type
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.body.decode() == (STATIC / name).read_text()
    again = client.http.get(f"/assets/{name}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.body in (b"", "")
    stale = client.http.get(f"/assets/{name}", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("name", ["nope.js", "index.html", "..%2Fwebapp.py", "webapp.py", "__init__.py"])
def test_anything_else_is_a_json_404(client: Any, name: str) -> None:
    response = client.http.get(f"/assets/{name}")
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "not_found"


def test_every_module_the_page_imports_is_served(client: Any) -> None:
    """A module named in an import but not shipped would break the page at load."""
    for path in STATIC.glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', path.read_text()):
            assert client.http.get(f"/assets/{imported}").status_code == 200, (path.name, imported)


def test_no_script_writes_html_strings() -> None:
    """Escaping by construction: text goes in as text nodes, never through innerHTML."""
    for path in STATIC.glob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source.replace('name === "innerHTML"', ""), (path.name, sink)


def test_base_follows_the_stage_prefix() -> None:
    class Req:
        headers: dict[str, str] = {}

        def __init__(self, path: str) -> None:
            self.context = {"path": path, "resourcePath": "/"}

    for path, base in (("/api/", "/api/"), ("/api", "/api/"), ("/", "/")):
        assert f'<base href="{base}">' in webapp.index(Req(path)).body  # type: ignore[arg-type]
