"""The request body cap, on the bytes read: ``Content-Length`` is checked before anything is read, and a body sent
without one (``Transfer-Encoding: chunked``) or longer than it said is stopped as soon as it passes the cap.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: that one buffers the body's stream in its own way): it wraps
``receive``, counts, and raises :class:`RequestTooLarge` from inside the route's read (``await request.form()``);
the app's exception handler turns that into a 413. When nothing upstream answered (a mounted app that turned it
into its own 500 first, say), this middleware answers the 413 itself, if no response has started.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mora_agents.errors import MoraError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RequestTooLarge(MoraError):
    """The request body passed the server's cap (HTTP 413)."""

    def __init__(self, limit: int, received: int | None = None) -> None:
        said = f"the request is {received} bytes" if received is not None else "the request body passed the limit"
        super().__init__(f"{said}; the limit is {limit} bytes (mora serve --max-request-mb)")
        self.limit = limit


class BodyLimit:
    """Refuse request bodies longer than ``limit`` bytes with 413, however they are sent.

    Args:
        app: the ASGI app behind it.
        limit: the most bytes one request body may have.
        answer: builds the 413 response (an ASGI app) from the error: the server's own error shape.
    """

    def __init__(self, app: Callable, limit: int, answer: Callable[[RequestTooLarge], Callable]) -> None:
        self.app = app
        self.limit = limit
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self.answer(RequestTooLarge(self.limit, declared))(scope, receive, send)
            return
        received = 0
        started = False
        too_large: RequestTooLarge | None = None

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = RequestTooLarge(self.limit)
                    raise too_large
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if too_large is not None and not started:
                # The route turned the stopped read into its own answer (FastAPI's form parser says "There was an
                # error parsing the body", a 400): the client is told the real reason instead.
                started = True
                await self.answer(too_large)(scope, receive, send)
                return
            if too_large is not None:
                return  # the rest of the route's answer, replaced above
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except RequestTooLarge as error:
            if started:
                raise
            await self.answer(error)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # A malformed length is the HTTP server's to refuse; a huge one is still a number to compare.
            return int(text) if text.isascii() and text.isdigit() else None
    return None
