"""Errors on the wire, app-wide: every error of ``/v1`` and ``/mora/v1`` has OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``), and its HTTP status comes from the error's type
(:data:`HTTP_STATUS`), never from its message.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mora_agents.errors import MoraError, NotFoundError
from mora_agents.serve.body_limit import RequestTooLarge
from mora_agents.services.errors import Conflict, VideoNotReady


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


HTTP_STATUS: dict[type[MoraError], tuple[int, str | None]] = {
    NotFoundError: (404, "not_found"),
    VideoNotReady: (409, "video_not_ready"),
    Conflict: (409, "conflict"),
    RequestTooLarge: (413, "request_too_large"),
}
"""The HTTP status and error code of each :class:`MoraError` type a request can meet (the nearest in its class
hierarchy); any other is 400."""


def error_response(error: MoraError) -> JSONResponse:
    """The response to ``error``: its status and code by type (:data:`HTTP_STATUS`, else 400), in OpenAI's shape."""
    status, code = next((HTTP_STATUS[kind] for kind in type(error).__mro__ if kind in HTTP_STATUS), (400, None))
    return JSONResponse(error_body(str(error), code=code), status_code=status)


__all__ = ["HTTP_STATUS", "ErrorDetail", "ErrorResponse", "error_body", "error_response"]
