"""The job service: what the Videos API, the job API and the web page do with jobs, over the job queue and store.

A job is shown through one :class:`JobView` (its record, the review it waits for, its run folder's files), whoever
shows it. Uploads go through :class:`~mora_agents.services.uploads.Uploads`, the one place they are named and saved.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mora_agents.containment import resolve_inside, servable_file
from mora_agents.messages import ReviewDecision, ReviewRequest, VideoRequest
from mora_agents.services.errors import JobNotFound, VideoNotFound
from mora_agents.services.queue import JobQueue
from mora_agents.services.records import FINISHED, JobRecord
from mora_agents.sop import SopSpec

JobKind = Literal["job", "video"]
"""``job``: made through mora's job API (or the web page, or a session's turn); ``video``: through the Videos API."""


@dataclass(frozen=True)
class JobView:
    """A job as the job API and the web page show it."""

    record: JobRecord
    waiting_for: ReviewRequest | None
    """The review a person must decide now (status ``awaiting_review``), else ``None``."""
    folder: Path | None
    """The job's run folder; ``None`` before it started."""
    files: list[Path]
    """What its run folder holds with a suffix (``video.mp4``, each stage's file, ``manifest.json``), by name."""

    @property
    def finished(self) -> bool:
        """Whether the job has reached a status it never leaves."""
        return self.record.status in FINISHED


@dataclass(frozen=True)
class SavedUpload:
    """An uploaded file, saved and checked: what a job's input names it by."""

    path: str
    """Relative to the server's workspace: the value of a job's image or video input."""
    kind: str
    bytes: int


class JobService:
    """Jobs of one server, for every front end.

    Args:
        queue: the server's job queue (with its store and workspace).
    """

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    # -- the server ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take up the jobs the last server left (:meth:`JobQueue.start`)."""
        await self.queue.start()

    async def stop(self) -> None:
        """Stop every job; the next start resumes them."""
        await self.queue.stop()

    @property
    def default_profile(self) -> str:
        """The profile a job gets when it names none."""
        return self.queue.config.profile

    @property
    def default_review(self) -> str:
        """The review mode of the jobs nobody reviews by hand (the Videos API's)."""
        return self.queue.config.review

    @property
    def has_judges(self) -> bool:
        """Whether the server was started with a judge panel (``review: judge`` is possible)."""
        return bool(self.queue.config.judges)

    def task_names(self) -> list[str]:
        """Every task this server runs: the built-in SOPs and those of its ``--sop-dir`` folders."""
        return self.queue.sop_names()

    def task(self, name: str) -> SopSpec:
        """The SOP of task ``name``; an unknown one is a :class:`~mora_agents.errors.MoraError`."""
        return self.queue.spec(name)

    # -- reading -----------------------------------------------------------------------------------------------------

    def find(self, job_id: str) -> JobRecord | None:
        """The job ``job_id``, of any kind, or ``None``."""
        return self.queue.store.get(job_id)

    def record(self, job_id: str, kind: JobKind | None = None) -> JobRecord:
        """The job ``job_id`` (of ``kind``, when given).

        Raises:
            JobNotFound: no such job (``kind`` ``job``, or none).
            VideoNotFound: no such video (``kind`` ``video``).
        """
        job = self.queue.store.get(job_id)
        if job is None or (kind is not None and job.kind != kind):
            raise VideoNotFound(f"no video {job_id}") if kind == "video" else JobNotFound(f"no job {job_id}")
        return job

    def view(self, job_id: str, kind: JobKind | None = None) -> JobView:
        """The job ``job_id`` (of ``kind``, when given) as it is shown.

        Raises:
            JobNotFound: no such job.
        """
        return self.view_of(self.record(job_id, kind))

    def view_of(self, job: JobRecord) -> JobView:
        """``job`` as it is shown: with the review it waits for and its run folder's files."""
        pending = self.queue.store.pending_review(job.id) if job.status == "awaiting_review" else None
        folder = self.run_folder(job)
        files = sorted(folder.glob("*.*")) if folder and folder.is_dir() else []
        return JobView(job, pending.request if pending else None, folder, files)

    def page(
        self, kind: JobKind, after: str | None = None, limit: int = 20, order: Literal["asc", "desc"] = "desc"
    ) -> tuple[list[JobRecord], bool]:
        """One page of jobs of ``kind`` and whether more follow (:meth:`JobStore.list`)."""
        return self.queue.store.list(kind=kind, after=after, limit=limit, order=order)

    def run_folder(self, job: JobRecord) -> Path | None:
        """``job``'s run folder; ``None`` before it started."""
        return self.queue.workspace / job.run_dir if job.run_dir else None

    def run_file(self, job: JobRecord, name: str, what: str) -> Path:
        """The file ``name`` of ``job``'s run folder that may be sent (never one outside it).

        Raises:
            NotFoundError: the job has not started, or no such file in its run folder.
        """
        folder = self.run_folder(job)
        if folder is None:
            raise JobNotFound(f"no job {job.id} file {name[:80]}: the job has not started")
        # Outside the run folder, missing or a link out of it: all read as "not found".
        return servable_file(folder, name, what=what, folder="its run folder")

    def stored_events(self, job_id: str) -> list[tuple[int, str]]:
        """The job's events so far, as ``(seq, event_json)``."""
        return self.queue.store.events(job_id)

    async def events(self, job_id: str, after: int = 0) -> AsyncIterator[tuple[int, str]]:
        """The job's events from sequence number ``after`` on, then live ones, until the job finishes."""
        async for item in self.queue.events(job_id, after):
            yield item

    # -- changing ----------------------------------------------------------------------------------------------------

    def submit_task(self, task: str, inputs: dict, *, seed: int = 0, review: str = "auto") -> JobView:
        """Queue a job for any SOP. Its image and video inputs name the server's own files (an upload, a finished
        job's result), relative to the workspace, never a path of the client's.

        Raises:
            MoraError: an unknown task, a path outside the workspace, a missing or wrong input, or a judge review
                without judges.
        """
        spec = self.queue.spec(task)
        inputs = dict(inputs)
        for name, value in inputs.items():
            item = spec.inputs.get(name)
            if item is not None and item.type in ("image", "video"):
                where = resolve_inside(self.queue.workspace, str(value), what=f"input '{name}'",
                                       folder="the server's workspace")  # fmt: skip
                inputs[name] = str(where)
        return self.view_of(self.queue.submit_task(spec.name, inputs, seed=seed, review=review))

    async def submit_form(self, task: str, values: dict[str, object], review: str = "auto") -> JobRecord:
        """Queue a job from a form's ``values``: an image or video input names a file of the form's (a local copy),
        which is copied into the workspace and checked by content (off the event loop) first.

        Raises:
            MoraError: an unknown task, a file refused, a missing or wrong input, or a judge review without judges.
        """
        spec = self.queue.spec(task)
        inputs = {}
        for name, value in values.items():
            item = spec.inputs.get(name)
            if item is not None and item.type in ("image", "video"):
                value = str(await asyncio.to_thread(self.queue.uploads.form_input, Path(str(value)), item.type, name))
            inputs[name] = value
        return self.queue.submit_task(spec.name, inputs, review=review)

    def submit_video(self, job_id: str, sop: str, inputs: dict, *, profile: str, model: str, prompt: str,
                     seconds: str, size: str, remixed_from: str | None = None) -> JobRecord:  # fmt: skip
        """Queue a video job (the Videos API's) with a random seed, reviewed by the server's default mode."""
        request = VideoRequest(task=sop, inputs=inputs, seed=secrets.randbelow(2**31))
        job = JobRecord(
            id=job_id, kind="video", sop=sop, request=request, created_at=int(time.time()), review=self.default_review,
            profile=profile, model=model, prompt=prompt, seconds=seconds, size=size, remixed_from=remixed_from,
        )  # fmt: skip
        return self.queue.submit(job)

    def decide(self, job_id: str, decision: ReviewDecision) -> JobView:
        """A decision on the job's waiting review: the run goes on with it.

        Raises:
            MoraError: no review waits, or the stage does not take this action.
        """
        return self.view_of(self.queue.decide(job_id, decision))

    def rerun(self, job_id: str, stage: str | None = None, review: str | None = None) -> JobView:
        """Make a finished job's ``stage`` (``None``: all) and every stage after it again (:meth:`JobQueue.rerun`)."""
        return self.view_of(self.queue.rerun(job_id, stage, review))

    def cancel(self, job_id: str) -> JobView:
        """Cancel a queued, running or waiting job.

        Raises:
            MoraError: the job is finished already.
        """
        return self.view_of(self.queue.cancel(job_id))

    async def delete(self, job_id: str) -> None:
        """Cancel the job if it is not finished, then remove its files (its uploads too) and its rows."""
        await self.queue.delete(job_id)

    # -- uploads -----------------------------------------------------------------------------------------------------

    async def upload_input(self, data: bytes, kind: str, filename: str | None) -> SavedUpload:
        """A file for a job's image or video input, checked by content (off the event loop: a PNG named .mp4 is
        refused here, before any pipeline sees it)."""
        path = await asyncio.to_thread(self.queue.uploads.job_input, data, kind, filename)
        return SavedUpload(str(path.relative_to(self.queue.workspace)), kind, path.stat().st_size)

    async def upload_reference(self, owner: str, filename: str, data: bytes) -> str:
        """A video's reference image (job ``owner``'s), checked by content; its path."""
        return str(await asyncio.to_thread(self.queue.uploads.reference_image, owner, filename, data))

    async def upload_source_video(self, owner: str, data: bytes) -> str:
        """A video to extend or edit (job ``owner``'s), checked by its header and frames; its path."""
        # Off the event loop: reading a long video's header and counting its frames takes seconds.
        return str(await asyncio.to_thread(self.queue.uploads.source_video, owner, data))

    @contextmanager
    def uploads_discarded_on_error(self, owner: str) -> Iterator[None]:
        """A request refused after job ``owner``'s files were saved leaves none of them behind."""
        with self.queue.uploads.discarded_on_error(owner):
            yield


__all__ = ["JobKind", "JobService", "JobView", "SavedUpload"]
