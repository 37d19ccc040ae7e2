"""The dashboard at GET /: one hand-written page (HTML, CSS and JS in server/assets),
served by the server itself; nothing is fetched from the network at run time.

The page and its assets are public: they carry no data. Every call the page makes goes
to the API with the same bearer token as any client's, which the page asks for once and
keeps in the tab's sessionStorage (never in a URL). A strict Content-Security-Policy
allows only this server's own scripts, styles and API.
"""

from __future__ import annotations

from importlib import resources

from fastapi import HTTPException
from fastapi.responses import Response

ASSETS = {"index.html": "text/html; charset=utf-8",
          "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("assets", name).read_bytes()


def add_dashboard(app) -> None:
    loaded = {name: _asset(name) for name in ASSETS}
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    def page():
        return Response(loaded["index.html"], media_type=ASSETS["index.html"],
                        headers=headers)

    @app.get("/dashboard/{name}", include_in_schema=False)
    def asset(name: str):
        if name not in ASSETS:
            raise HTTPException(404, f"no dashboard asset {name!r}")
        return Response(loaded[name], media_type=ASSETS[name], headers=headers)
