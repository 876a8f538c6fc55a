"""``/mora/v1/sessions``: chat sessions (the same folders as ``mora chat``).

``POST /mora/v1/sessions``, ``GET /mora/v1/sessions[/{id}]``, ``POST .../turns`` ``{"text"}`` (the director asks,
or queues a job for what it understood), ``POST .../uploads`` (a file becomes the session's next artifact),
``GET .../events`` (server-sent events of every turn, upload and job event of the session).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from sse_starlette.sse import EventSourceResponse

from mora_agents.messages import SessionArtifact
from mora_agents.serve.sessions.protocol import SessionCreate, TurnCreate, TurnObject
from mora_agents.serve.sessions.serving import SessionServing

router = APIRouter(prefix="/mora/v1", tags=["mora sessions"])


def _serving(request: Request) -> SessionServing:
    return request.app.state.session_serving


@router.post("/sessions", summary="Start a chat session (the same session folder as mora chat)")
async def create_session(body: SessionCreate, request: Request) -> dict:
    return _serving(request).create(body)


@router.get("/sessions", summary="The server's chat sessions, newest first")
async def list_sessions(request: Request) -> list[dict]:
    return _serving(request).summaries()


@router.get("/sessions/{session_id}", summary="A session: its turns and artifacts")
async def get_session(session_id: str, request: Request) -> dict:
    return _serving(request).get(session_id)


@router.post("/sessions/{session_id}/turns", response_model=TurnObject, summary="Say something in a session")
async def take_turn(session_id: str, body: TurnCreate, request: Request) -> TurnObject:
    return await _serving(request).take_turn(session_id, body)


@router.post("/sessions/{session_id}/uploads", response_model=SessionArtifact, summary="Give a session a file")
async def session_upload(
    session_id: str,
    request: Request,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["image", "video"], Form()],
    description: Annotated[str, Form(max_length=300)] = "",
) -> SessionArtifact:
    """The file, checked by content and size, goes into the session's ``inputs/`` and becomes its next artifact:
    later turns point at it by number or by its ``description`` ("animate the photo of the harbour")."""
    data = await file.read()
    return await _serving(request).upload(session_id, data, kind, file.filename or "", description)


@router.get("/sessions/{session_id}/events", summary="The session's events as server-sent events")
async def session_events(session_id: str, request: Request) -> EventSourceResponse:
    """Each turn the director planned (``turn``), each file given (``input``), and every event of the jobs
    that run its turns (``studio``, wrapped with the job and turn), in one order; ``Last-Event-ID`` resumes. The
    stream stays open: a session goes on for as long as someone talks in it."""
    return EventSourceResponse(_serving(request).events(session_id, request))
