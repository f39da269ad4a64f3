"""The page's guards: security headers on every answer, the token login, and CSRF tokens on forms.

This page can approve actions, so: every answer carries a Content-Security-Policy that allows
scripts and styles from the page's own files only (no inline script, no other origin); with a
token, nothing but the login page and its assets is served before a login; and every POST must
carry the session's CSRF token. GETs change nothing, so they need none.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
OPEN_PATHS = ("/login", "/static/")  # what a visitor may see before logging in


class SecurityHeaders:
    """Adds the CSP (unless a route set its own, stricter one) and the other headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = CSP
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TokenGate:
    """With a token set, a visitor without a logged-in session sees only the login page."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "/")
        if path.startswith(OPEN_PATHS) or scope.get("session", {}).get("user"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response
        if request.method in ("GET", "HEAD") and path != "/favicon.ico":
            wanted = path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"/login?next={_quote(wanted)}", status_code=303)
        else:
            response = Response("log in first: this page needs its token", status_code=401)
        await response(scope, receive, send)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use; every form carries it back."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: dict[str, Any], given: Any) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only (never `//other.example` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
