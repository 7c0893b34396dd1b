"""Security headers on every response: pages, 404s, 405s, JSON errors, files and the 500 of a crash.

Pure ASGI middleware (not ``BaseHTTPMiddleware``) wrapped around the whole app, outside
Starlette's ``ServerErrorMiddleware`` (see ``app.MailerApp``), so that no response can
leave without them (issue 11 item 10). A response that sets one of these headers itself
keeps its own value: the archive copy of an edition sends a CSP that allows remote
images and framing by our own pages.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Nothing from another origin runs or loads; forms post only to us; no page may be
#: framed by another site (clickjacking); ``base-uri`` cannot be redirected.
DEFAULT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

#: The staff admin runs our own bundled scripts (htmx, the CodeMirror editor, the
#: admin's own script from /static) and frames its own previews; still nothing from
#: another origin, no inline script, no eval.
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

#: Tokens travel in URLs, so no Referer may leak them; browsers may not guess a type.
SECURITY_HEADERS = {
    "Content-Security-Policy": DEFAULT_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
