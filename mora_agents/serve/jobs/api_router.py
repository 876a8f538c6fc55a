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

Chat sessions are :mod:`mora_agents.serve.sessions`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sse_starlette.sse import EventSourceResponse

from mora_agents.messages import ReviewRequest
from mora_agents.serve.jobs.protocol import Decision, JobCreate, JobDeleted, JobObject, Rerun, UploadObject
from mora_agents.serve.jobs.serving import JobServing

router = APIRouter(prefix="/mora/v1", tags=["mora jobs"])


def _serving(request: Request) -> JobServing:
    return request.app.state.job_serving


@router.post("/uploads", response_model=UploadObject, summary="Upload an image or a video for a job's input")
async def upload(
    request: Request, file: Annotated[UploadFile, File()], kind: Annotated[Literal["image", "video"], Form()]
) -> UploadObject:
    return await _serving(request).upload(await file.read(), kind, file.filename)


@router.post("/jobs", response_model=JobObject, summary="Run any task as a job")
async def create_job(body: JobCreate, request: Request) -> JobObject:
    return _serving(request).create(body)


@router.get("/jobs", response_model=list[JobObject], summary="List jobs")
async def list_jobs(
    request: Request,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
) -> list[JobObject]:
    return _serving(request).page(after, limit, order)


@router.get("/jobs/{job_id}", response_model=JobObject, summary="A job, with the review it waits for")
async def get_job(job_id: str, request: Request) -> JobObject:
    return _serving(request).get(job_id)


@router.get("/jobs/{job_id}/review", response_model=ReviewRequest | None, summary="The review waiting, if any")
async def get_review(job_id: str, request: Request) -> ReviewRequest | None:
    return _serving(request).review(job_id)


@router.post("/jobs/{job_id}/review", response_model=JobObject, summary="Decide the waiting review")
async def decide(job_id: str, body: Decision, request: Request) -> JobObject:
    return _serving(request).decide(job_id, body)


@router.post("/jobs/{job_id}/rerun", response_model=JobObject, summary="Make a finished job's stage again")
async def rerun(job_id: str, body: Rerun, request: Request) -> JobObject:
    """The stage and every stage after it are made again (new seeds; the earlier versions stay in the run folder
    and the manifest's ``superseded``). For a session's turn, later results made from it are marked stale."""
    return _serving(request).rerun(job_id, body)


@router.post("/jobs/{job_id}/cancel", response_model=JobObject, summary="Cancel a queued, running or waiting job")
async def cancel(job_id: str, request: Request) -> JobObject:
    return _serving(request).cancel(job_id)


@router.delete("/jobs/{job_id}", response_model=JobDeleted, summary="Delete a job and its files")
async def delete(job_id: str, request: Request) -> JobDeleted:
    return await _serving(request).delete(job_id)


@router.get("/jobs/{job_id}/events", summary="The job's events as server-sent events")
async def events(job_id: str, request: Request) -> EventSourceResponse:
    return EventSourceResponse(_serving(request).events(job_id, request))


@router.get("/jobs/{job_id}/files/{path:path}", summary="A file of the job's run folder")
async def job_file(job_id: str, path: str, request: Request) -> FileResponse:
    return FileResponse(_serving(request).file(job_id, path))
