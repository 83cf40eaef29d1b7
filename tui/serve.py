"""The browser half of ``ramp serve`` (engine/reports/serve.py builds the command and the token):
textual-serve's server, with every route but the page's static files behind the token."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from textual_serve.server import Server

COOKIE = "ramp_serve_token"


def serve(command: str, *, host: str, port: int, token: str, title: str, public_url: str | None) -> str:
    """Start serving ``command`` (each browser session runs it); returns the URL, then blocks."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/static/"):
            return await handler(request)
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text="ramp serve: open the URL with ?token=... that `ramp serve` printed\n")
        response = await handler(request)
        if "token" in request.query and request.path == "/":
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    class TokenServer(Server):  # type: ignore[misc]
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

    server = TokenServer(command, host=host, port=port, title=title, public_url=public_url)
    print(f"ramp serve: {title} at {server.public_url}/?token={token}", flush=True)
    server.serve()
    return str(server.public_url)
