"""``HEAD`` is answered wherever ``GET`` is: the GET's status and headers, without the body.

FastAPI's ``@router.get`` routes answer ``HEAD`` with 405 (only Starlette's own routes
add it), and monitors, link checkers and mail scanners send ``HEAD`` (issue 11 item 10).
This pure ASGI middleware runs a ``HEAD`` request as ``GET`` — every GET handler is
free of side effects — and drops the body; ``Content-Length`` stays that of the GET,
as RFC 9110 §9.3.2 allows.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server's own scope keeps "HEAD" (its access log, its framing).
        await self.app({**scope, "method": "GET"}, receive, send_without_body)
