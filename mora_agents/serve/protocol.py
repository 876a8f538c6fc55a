"""What every resource of the server shares on the wire: the error shape, text that can be stored, event ids.

- :class:`ErrorResponse` (``{"error": {"message", "type", "param", "code"}}``) is OpenAI's error shape, the body of
  every error of ``/v1`` and ``/mora/v1``.
- :data:`Text` is a string field that the store can keep: valid Unicode (a lone surrogate such as ``"\\ud800"``
  parses from JSON but cannot be written as UTF-8) and without NUL.
- :func:`last_event_id` reads the ``Last-Event-ID`` header that resumes a server-sent event stream.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ValidationError
from starlette.requests import Request

from mora_agents.errors import MoraError

MAX_EVENT_ID = 2**63 - 1
"""The largest event sequence number (SQLite's integer)."""

_EVENT_ID = re.compile(r"[0-9]{1,19}")


class ErrorDetail(BaseModel):
    """OpenAI's error object: what the SDK raises as ``openai.APIStatusError`` (``.message``, ``.type``,
    ``.param``, ``.code``); the HTTP status picks the subclass (400 BadRequestError, 404 NotFoundError ...)."""

    message: str
    """One sentence: a :class:`~mora_agents.errors.MoraError`'s message, or what was wrong with the request."""
    type: str
    """``invalid_request_error``, ``authentication_error``, ``server_error`` ..."""
    param: str | None = None
    """The request field at fault, e.g. ``"seconds"``; ``None`` when no one field is."""
    code: str | None = None
    """Machine-readable, e.g. ``"video_not_ready"``, ``"not_found"``; ``None`` when there is none."""


class ErrorResponse(BaseModel):
    """The body of every error response: ``{"error": {...}}``."""

    error: ErrorDetail


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    """An error response's JSON body, ``{"error": {"message", "type", "param", "code"}}`` (``None`` kept as
    ``null``, as OpenAI sends it). A message that quotes the request is made safe to send: a lone surrogate becomes
    its ``\\ud800`` escape (JSON is UTF-8), and anything past 1,000 characters is cut."""
    message = message if len(message) <= 1000 else message[:997] + "..."
    safe = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if param is not None:
        param = param[:200].encode("utf-8", "backslashreplace").decode("utf-8")
    return ErrorResponse(error=ErrorDetail(message=safe, type=type, param=param, code=code)).model_dump()


def storable_text(value: str, what: str = "text") -> str:
    """``value`` if it can be stored and shown: valid Unicode (encodes as UTF-8) with no NUL character.

    Raises:
        MoraError: a lone surrogate (``"\\ud800"``, which JSON's ``\\u`` escapes allow) or a NUL, by position.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MoraError(f"{what} is not valid Unicode: a lone surrogate at character {error.start}") from None
    if "\x00" in value:
        raise MoraError(f"{what} holds a NUL character at character {value.index(chr(0))}")
    return value


def _storable(value: str) -> str:
    try:
        return storable_text(value)
    except MoraError as error:
        raise ValueError(str(error)) from None


Text = Annotated[str, AfterValidator(_storable)]
"""A request's text field: a ``str`` that :func:`storable_text` accepts (else 422 naming the field)."""


def last_event_id(request: Request) -> int:
    """The sequence number after which a server-sent event stream resumes: ``Last-Event-ID``, 0 when absent.

    Raises:
        MoraError: not a whole number of ASCII digits within :data:`MAX_EVENT_ID` (400).
    """
    text = request.headers.get("last-event-id")
    if text is None or not text.strip():
        return 0
    text = text.strip()
    if not _EVENT_ID.fullmatch(text) or int(text) > MAX_EVENT_ID:
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise MoraError(f"Last-Event-ID must be an event's id, a whole number up to {MAX_EVENT_ID}, not '{shown}'")
    return int(text)


def validation_message(error: ValidationError | RequestValidationError) -> tuple[str, str | None]:
    """The first problem of a validation error as one sentence (the field, then what is wrong, no docs link), and
    the field's dotted name (``None`` when no one field is at fault)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "form"))
    cause = first.get("ctx", {}).get("error")
    text = str(cause) if isinstance(cause, Exception) else str(first.get("msg", "invalid value"))
    return (f"{where}: {text}" if where else text), where or None


__all__ = [
    "MAX_EVENT_ID",
    "ErrorDetail",
    "ErrorResponse",
    "Text",
    "error_body",
    "last_event_id",
    "storable_text",
    "validation_message",
]
