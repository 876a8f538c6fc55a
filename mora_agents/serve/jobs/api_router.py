"""``/mora/v1``: jobs for any SOP (built-in or from ``--sop-dir``), reviewed by a person over HTTP.

- ``POST /mora/v1/uploads`` (multipart ``file``, ``kind`` image|video): checked by content and size, answers
  the ``path`` a job's image / video input names.
- ``POST /mora/v1/jobs`` ``{"task", "inputs", "seed", "review": "auto"|"human"|"judge"}``; with ``human``
  the job stops in ``awaiting_review`` at each reviewed stage until ``POST /mora/v1/jobs/{id}/review``
  ``{"action": "accept"|"regenerate"|"edit", "instruction"}``; ``GET .../review`` shows what waits.
- ``GET /mora/v1/jobs[/{id}]``, ``POST .../cancel``, ``DELETE``, ``GET .../events`` (server-sent events: every
  typed event of the run, ``id`` = its sequence number, so ``Last-Event-ID`` resumes), ``GET .../files/{path}``
  (files of the job's run folder only), ``POST .../rerun {"stage"}`` (make a finished job's stage and those after
  it again).
- Chat sessions (the same folders as ``mora chat``): ``POST /mora/v1/sessions``, ``GET /mora/v1/sessions[/{id}]``,
  ``POST .../turns`` ``{"text"}`` (the director asks, or queues a job for what it understood), ``POST .../uploads``
  (a file becomes the session's next artifact), ``GET .../events`` (server-sent events of every turn, upload and
  job event of the session).
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError, field_validator
from sse_starlette.sse import EventSourceResponse

from mora_agents.containment import resolve_inside, servable_file
from mora_agents.errors import MoraError, NotFoundError
from mora_agents.messages import MAX_SEED, ReviewDecision, ReviewRequest, SessionArtifact, VideoRequest
from mora_agents.serve import sessions
from mora_agents.serve.protocol import Text, last_event_id, storable_text, validation_message
from mora_agents.serve.queue import UPLOADS_DIR, JobQueue, save_upload
from mora_agents.serve.store import JobRecord

router = APIRouter(prefix="/mora/v1", tags=["mora jobs"])


def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


class JobCreate(BaseModel):
    task: Text = Field(max_length=200, description="The SOP's name, e.g. connect_videos, or a user SOP from --sop-dir.")
    inputs: dict[Text, Any] = Field(default_factory=dict)
    """The SOP's inputs by name: text (a prompt, an uploaded file's ``path``) or a number (``duration``)."""
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="The run's base seed, 0 to 2**63-1.")
    review: Literal["auto", "human", "judge"] = "auto"
    """``human``: the job waits at each reviewed stage for ``POST /mora/v1/jobs/{id}/review``."""

    @field_validator("inputs")
    @classmethod
    def _text_or_number(cls, inputs: dict[str, Any]) -> dict[str, str | float | int]:
        # Not `str | float | int`: pydantic would store `true` as 1.0 and `"\ud800"` would fail the store later.
        for name, value in inputs.items():
            if isinstance(value, str):
                try:
                    storable_text(value, f"input '{name}'")
                except MoraError as error:
                    raise ValueError(str(error)) from None
            elif isinstance(value, bool) or not isinstance(value, int | float):
                shown = json.dumps(value)[:40]
                raise ValueError(f"input '{name}' is {shown}: each input is text or a number")
            elif not math.isfinite(value) or abs(value) > MAX_SEED:
                raise ValueError(f"input '{name}' is {value}: a number input must be finite and at most {MAX_SEED}")
        return inputs


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str
    task: str
    status: str
    progress: int
    review: str
    created_at: int
    completed_at: int | None
    error: str | None
    request: VideoRequest
    waiting_for: ReviewRequest | None = None
    """The review a person must decide now (status ``awaiting_review``)."""
    files: list[str] = Field(default_factory=list)
    """The run folder's result files (``video.mp4``, each stage's), for ``GET .../files/{path}``."""


class Decision(BaseModel):
    action: Literal["accept", "regenerate", "edit"]
    instruction: Text | None = Field(default=None, max_length=2000)
    """What to change, for ``edit`` (required there, refused with the others)."""


def _view(queue: JobQueue, job: JobRecord) -> JobView:
    pending = queue.store.pending_review(job.id)
    folder = queue.workspace / job.run_dir if job.run_dir else None
    files = sorted(p.name for p in folder.glob("*.*")) if folder and folder.is_dir() else []
    return JobView(
        id=job.id, task=job.sop, status=job.status, progress=job.progress, review=job.review,
        created_at=job.created_at, completed_at=job.completed_at, error=job.error, request=job.request,
        waiting_for=pending.request if pending and job.status == "awaiting_review" else None, files=files,
    )  # fmt: skip


def _job(queue: JobQueue, job_id: str) -> JobRecord:
    job = queue.store.get(job_id)
    if job is None or job.kind != "job":
        raise NotFoundError(f"no job {job_id}")
    return job


@router.post("/uploads", summary="Upload an image or a video for a job's input")
async def upload(
    request: Request, file: Annotated[UploadFile, File()], kind: Annotated[Literal["image", "video"], Form()]
) -> dict:
    queue = _queue(request)
    suffix = sessions.upload_suffix(file.filename, kind)
    folder = queue.workspace / UPLOADS_DIR / ("upload_" + secrets.token_hex(8))
    data = await file.read()
    # By content, off the event loop: a PNG named .mp4 is refused here, before any pipeline sees it; a refused
    # upload leaves no file or folder behind.
    path = await asyncio.to_thread(save_upload, folder / f"{kind}{suffix}", data, kind, f"upload {file.filename}")
    return {"path": str(path.relative_to(queue.workspace)), "kind": kind, "bytes": path.stat().st_size}


@router.post("/jobs", response_model=JobView, summary="Run any task as a job")
async def create_job(body: JobCreate, request: Request) -> JobView:
    queue = _queue(request)
    spec = queue.spec(body.task)
    inputs = dict(body.inputs)
    for name, value in inputs.items():
        item = spec.inputs.get(name)
        if item is not None and item.type in ("image", "video"):
            # Only the server's own files: an upload or a finished job's result, never a path of the client's.
            where = resolve_inside(queue.workspace, str(value), what=f"input '{name}'", folder="the server's workspace")
            inputs[name] = str(where)
    return _view(queue, queue.submit_task(spec.name, inputs, seed=body.seed, review=body.review))


@router.get("/jobs", response_model=list[JobView], summary="List jobs")
async def list_jobs(
    request: Request,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
) -> list[JobView]:
    queue = _queue(request)
    jobs, _ = queue.store.list(kind="job", after=after, limit=limit, order=order)
    return [_view(queue, job) for job in jobs]


@router.get("/jobs/{job_id}", response_model=JobView, summary="A job, with the review it waits for")
async def get_job(job_id: str, request: Request) -> JobView:
    queue = _queue(request)
    return _view(queue, _job(queue, job_id))


@router.get("/jobs/{job_id}/review", response_model=ReviewRequest | None, summary="The review waiting, if any")
async def get_review(job_id: str, request: Request) -> ReviewRequest | None:
    queue = _queue(request)
    job = _job(queue, job_id)
    pending = queue.store.pending_review(job.id)
    return pending.request if pending and job.status == "awaiting_review" else None


@router.post("/jobs/{job_id}/review", response_model=JobView, summary="Decide the waiting review")
async def decide(job_id: str, body: Decision, request: Request) -> JobView:
    queue = _queue(request)
    _job(queue, job_id)
    try:
        decision = ReviewDecision(action=body.action, instruction=body.instruction, by="http")
    except ValidationError as error:
        raise MoraError(f"review: {validation_message(error)[0]}") from None
    return _view(queue, queue.decide(job_id, decision))


class Rerun(BaseModel):
    stage: Text | None = Field(
        default=None, max_length=200, description="The stage to make again, e.g. first_frame; none: all."
    )
    review: Literal["auto", "human", "judge"] | None = None


@router.post("/jobs/{job_id}/rerun", response_model=JobView, summary="Make a finished job's stage again")
async def rerun(job_id: str, body: Rerun, request: Request) -> JobView:
    """The stage and every stage after it are made again (new seeds; the earlier versions stay in the run folder
    and the manifest's ``superseded``). For a session's turn, later results made from it are marked stale."""
    queue = _queue(request)
    _job(queue, job_id)
    return _view(queue, queue.rerun(job_id, body.stage, body.review))


@router.post("/jobs/{job_id}/cancel", response_model=JobView, summary="Cancel a queued, running or waiting job")
async def cancel(job_id: str, request: Request) -> JobView:
    queue = _queue(request)
    _job(queue, job_id)
    return _view(queue, queue.cancel(job_id))


@router.delete("/jobs/{job_id}", summary="Delete a job and its files")
async def delete(job_id: str, request: Request) -> dict:
    queue = _queue(request)
    _job(queue, job_id)
    await queue.delete(job_id)
    return {"id": job_id, "deleted": True}


@router.get("/jobs/{job_id}/events", summary="The job's events as server-sent events")
async def events(job_id: str, request: Request) -> EventSourceResponse:
    queue = _queue(request)
    _job(queue, job_id)
    after = last_event_id(request)

    async def stream():
        async for seq, data in queue.events(job_id, after):
            yield {"id": str(seq), "event": "studio", "data": data}
        job = queue.store.get(job_id)
        yield {"event": "end", "data": job.status if job else "deleted"}

    return EventSourceResponse(stream())


@router.get("/jobs/{job_id}/files/{path:path}", summary="A file of the job's run folder")
async def job_file(job_id: str, path: str, request: Request) -> FileResponse:
    queue = _queue(request)
    job = _job(queue, job_id)
    if not job.run_dir:
        raise NotFoundError(f"no job {job_id} file {path[:80]}: the job has not started")
    # Outside the run folder, missing or a link out of it: all read as "not found" (404).
    return FileResponse(
        servable_file(queue.workspace / job.run_dir, path, what=f"job {job_id}", folder="its run folder")
    )


# -- chat sessions: turns through the director, each run a job ------------------------------------------------------


class SessionCreate(BaseModel):
    name: Text = Field(default="chat", min_length=1, max_length=80)


class TurnCreate(BaseModel):
    text: Text = Field(
        min_length=1, max_length=4000, description="What the person says, e.g. 'make the kite one snowy'."
    )
    review: Literal["auto", "human", "judge"] = "auto"


class TurnView(BaseModel):
    """A turn as the director took it: its question, or what it understood and the job that runs it."""

    session: str
    turn: int
    status: str
    question: str | None = None
    candidates: list[int] = Field(default_factory=list)
    explanation: str | None = None
    job: JobView | None = None


@router.post("/sessions", summary="Start a chat session (the same session folder as mora chat)")
async def create_session(body: SessionCreate, request: Request) -> dict:
    queue = _queue(request)
    session_id = sessions.create_session(queue, body.name)
    return {"id": session_id, **queue.conversation(session_id).session.record.model_dump(mode="json")}


@router.get("/sessions", summary="The server's chat sessions, newest first")
async def list_sessions(request: Request) -> list[dict]:
    return sessions.list_sessions(_queue(request))


@router.get("/sessions/{session_id}", summary="A session: its turns and artifacts")
async def get_session(session_id: str, request: Request) -> dict:
    conversation = _queue(request).conversation(session_id)
    return {"id": session_id, **conversation.session.record.model_dump(mode="json")}


@router.post("/sessions/{session_id}/turns", response_model=TurnView, summary="Say something in a session")
async def take_turn(session_id: str, body: TurnCreate, request: Request) -> TurnView:
    queue = _queue(request)
    taken = await sessions.take_turn(queue, session_id, body.text, body.review)
    turn = taken.turn
    if taken.job is None:
        return TurnView(session=session_id, turn=turn.index, status="asked", question=turn.question.question,
                        candidates=turn.question.candidates)  # fmt: skip
    return TurnView(session=session_id, turn=turn.index, status="queued", explanation=turn.request.explanation,
                    job=_view(queue, taken.job))  # fmt: skip


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
    return await sessions.add_upload(_queue(request), session_id, data, kind, file.filename or "", description)


@router.get("/sessions/{session_id}/events", summary="The session's events as server-sent events")
async def session_events(session_id: str, request: Request) -> EventSourceResponse:
    """Each turn the director planned (``turn``), each file given (``input``), and every event of the jobs
    that run its turns (``studio``, wrapped with the job and turn), in one order; ``Last-Event-ID`` resumes. The
    stream stays open: a session goes on for as long as someone talks in it."""
    queue = _queue(request)
    queue.conversation(session_id)
    after = last_event_id(request)
    names = {"turn_planned": "turn", "input_added": "input", "job_event": "studio"}

    async def stream():
        async for seq, data in queue.session_events(session_id, after):
            kind = json.loads(data).get("type", "")
            yield {"id": str(seq), "event": names.get(kind, kind), "data": data}

    return EventSourceResponse(stream())
