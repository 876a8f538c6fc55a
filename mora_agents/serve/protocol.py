"""What every resource of the server shares on the wire: text that can be stored, event ids, validation messages.
The error shape is in :mod:`mora_agents.serve.errors`.

- :data:`Text` is a string field that the store can keep (:func:`~mora_agents.services.records.storable_text`):
  valid Unicode (a lone surrogate such as ``"\\ud800"`` parses from JSON but cannot be written as UTF-8) and
  without NUL.
- :func:`last_event_id` reads the ``Last-Event-ID`` header that resumes a server-sent event stream.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, ValidationError
from starlette.requests import Request

from mora_agents.errors import MoraError
from mora_agents.services.records import storable_text

MAX_EVENT_ID = 2**63 - 1
"""The largest event sequence number (SQLite's integer)."""

_EVENT_ID = re.compile(r"[0-9]{1,19}")


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


__all__ = ["MAX_EVENT_ID", "Text", "last_event_id", "validation_message"]
