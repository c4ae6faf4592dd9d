"""Request body size limit for the HTTP API: a pure ASGI middleware (no buffering of its own).

A body over `MAX_BODY_BYTES` is refused with 413 before the GraphQL view parses it: by its declared
Content-Length at once, or, for a chunked body, as soon as the bytes read pass the limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The largest request body accepted (1 MiB): far above any real GraphQL operation of this API.
MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE_MESSAGE = f"Request body too large: at most {MAX_BODY_BYTES} bytes."


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                declared = value.decode("latin-1").strip()
                if not declared.isdigit() or int(declared) > self.max_bytes:
                    response = PlainTextResponse(TOO_LARGE_MESSAGE, status_code=413)
                    await response(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route: Starlette's exception middleware answers 413.
                    raise HTTPException(413, TOO_LARGE_MESSAGE)
            return message

        await self.app(scope, limited_receive, send)
