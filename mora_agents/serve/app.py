"""The FastAPI application: the OpenAI Videos API at ``/v1/videos``, mora's job API and chat sessions at
``/mora/v1``, and the web studio at ``/``.

One process, one :class:`~mora_agents.services.queue.JobQueue` under the services every front end calls. Errors
always have OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``), their status chosen by the error's
type (:mod:`mora_agents.serve.errors`), a 4xx for bad input; with an API key every request needs
``Authorization: Bearer <key>`` (what the OpenAI SDK sends).
"""

from __future__ import annotations

import hmac
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mora_agents import __version__
from mora_agents.errors import MoraError
from mora_agents.serve.body_limit import BodyLimit
from mora_agents.serve.errors import error_body, error_response
from mora_agents.serve.jobs.api_router import router as jobs_router
from mora_agents.serve.jobs.serving import JobServing
from mora_agents.serve.protocol import validation_message
from mora_agents.serve.sessions.api_router import router as sessions_router
from mora_agents.serve.sessions.serving import SessionServing
from mora_agents.serve.videos.api_router import router as videos_router
from mora_agents.serve.videos.serving import VideoServing
from mora_agents.services.jobs import JobService
from mora_agents.services.queue import JobQueue
from mora_agents.services.sessions import SessionService

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest request body accepted (an upload included): larger ones get 413, announced or chunked."""

API_PATHS = ("/v1/", "/mora/")
"""What the API key guards as ``Authorization: Bearer``; the web studio's page asks for the same key itself."""


def create_app(
    queue: JobQueue, api_key: str | None = None, max_request_bytes: int = MAX_REQUEST_BYTES, web: bool = True
) -> FastAPI:
    """The server for ``queue``; ``api_key`` (if given) is required on every API request. ``web``: the studio page
    at ``/`` (:mod:`mora_agents.web`)."""
    jobs, sessions = JobService(queue), SessionService(queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await jobs.start()
        try:
            yield
        finally:
            await jobs.stop()

    app = FastAPI(
        title="mora",
        version=__version__,
        description="A multi-agent video studio: the OpenAI Videos API (/v1/videos) and mora's own job API with "
        "human review (/mora/v1).",
        lifespan=lifespan,
    )
    app.state.video_serving = VideoServing(jobs)
    app.state.job_serving = JobServing(jobs)
    app.state.session_serving = SessionServing(sessions, jobs)
    app.include_router(videos_router)
    app.include_router(jobs_router)
    app.include_router(sessions_router)
    _guard_with_key(app, api_key)
    _answer_errors(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok", "version": __version__}

    if web:
        from mora_agents.web import mount_studio

        app = mount_studio(app, jobs, sessions, api_key)
    # Outermost: the cap holds for every route, the web page's included, on the bytes actually read.
    app.add_middleware(BodyLimit, limit=max_request_bytes, answer=error_response)
    return app


def _guard_with_key(app: FastAPI, api_key: str | None) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        if api_key is not None and path.startswith(API_PATHS):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {api_key}".encode()):
                body = error_body("a valid API key is required: Authorization: Bearer <key>", "authentication_error",
                                  code="invalid_api_key")  # fmt: skip
                return JSONResponse(body, status_code=401)
        return await call_next(request)


def _answer_errors(app: FastAPI) -> None:
    """The one place an error becomes a response: a :class:`MoraError` by its type, a request that does not
    validate as 422, FastAPI's own HTTP errors in the same shape (the web page's as Gradio expects them)."""

    @app.exception_handler(MoraError)
    async def mora_error(request: Request, error: MoraError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        message, where = validation_message(error)
        return JSONResponse(error_body(message, param=where, code="invalid_value"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        if not request.url.path.startswith(API_PATHS):
            return await http_exception_handler(request, error)  # the web page's own errors, as Gradio expects
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(error.detail), kind), status_code=error.status_code)


__all__ = ["API_PATHS", "MAX_REQUEST_BYTES", "create_app"]
