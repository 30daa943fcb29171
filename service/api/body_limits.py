"""An ASGI middleware that bounds every request body in time and in bytes, whatever route reads it.

Without it, a body trickled a byte at a time holds its connection (and what it sent so far) for ever, and a
chunked body (no Content-Length to refuse up front) is read whole into memory by the JSON routes. An answer sent
before the body is in (these refusals, a 401, a 413 from the Content-Length) closes the connection: the server
would otherwise go on reading the rest of the body, as slowly as the client sends it.
"""

from __future__ import annotations

import asyncio
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimits:
    """Refuse a body not complete `timeout_s` seconds after the request arrived (408 `body_timeout`) or longer
    than `max_bytes` (413 `image_too_large`), as soon as either is known, from the route's first body read."""

    def __init__(self, app: ASGIApp, timeout_s: float, max_bytes: int) -> None:
        self.app, self.timeout_s, self.max_bytes = app, timeout_s, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.timeout_s
        received, complete = 0, not _has_body(scope)

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: later reads wait for the disconnect, as long as it takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                raise HTTPException(
                    408, f"the request body was not complete within {self.timeout_s:g} s (FACEVER_BODY_TIMEOUT)"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise HTTPException(
                        413,
                        f"the request body is larger than the largest request this service "
                        f"takes, {self.max_bytes} bytes (FACEVER_MAX_IMAGE_BYTES)",
                    )
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, bounded_receive, closing_send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
