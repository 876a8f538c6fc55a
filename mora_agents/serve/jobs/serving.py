"""The job API in the services' terms: each request becomes a :class:`~mora_agents.services.jobs.JobService`
call, each result a :class:`~mora_agents.serve.jobs.protocol.JobObject`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

from pydantic import ValidationError
from starlette.requests import Request

from mora_agents.errors import MoraError
from mora_agents.messages import ReviewDecision, ReviewRequest
from mora_agents.serve.jobs.protocol import Decision, JobCreate, JobDeleted, JobObject, Rerun, UploadObject
from mora_agents.serve.protocol import last_event_id, validation_message
from mora_agents.services.jobs import JobService, JobView


def job_object(view: JobView) -> JobObject:
    """A job as the API shows it."""
    job = view.record
    return JobObject(
        id=job.id, task=job.sop, status=job.status, progress=job.progress, review=job.review,
        created_at=job.created_at, completed_at=job.completed_at, error=job.error, request=job.request,
        waiting_for=view.waiting_for, files=[path.name for path in view.files],
    )  # fmt: skip


class JobServing:
    """``/mora/v1/jobs`` and ``/mora/v1/uploads`` over ``jobs``; only jobs of kind ``job`` are found here.

    Args:
        jobs: the server's job service.
    """

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    async def upload(self, data: bytes, kind: str, filename: str | None) -> UploadObject:
        """An image or a video for a job's input, checked by content; a refused one leaves nothing behind."""
        saved = await self.jobs.upload_input(data, kind, filename)
        return UploadObject(path=saved.path, kind=saved.kind, bytes=saved.bytes)

    def create(self, body: JobCreate) -> JobObject:
        """Queue the task; its media inputs name files of the server's workspace."""
        return job_object(self.jobs.submit_task(body.task, body.inputs, seed=body.seed, review=body.review))

    def page(self, after: str | None, limit: int, order: Literal["asc", "desc"]) -> list[JobObject]:
        """One page of jobs."""
        jobs, _ = self.jobs.page("job", after=after, limit=limit, order=order)
        return [job_object(self.jobs.view_of(job)) for job in jobs]

    def get(self, job_id: str) -> JobObject:
        """The job, with the review it waits for."""
        return job_object(self.jobs.view(job_id, "job"))

    def review(self, job_id: str) -> ReviewRequest | None:
        """The review waiting for a person, if any."""
        return self.jobs.view(job_id, "job").waiting_for

    def decide(self, job_id: str, body: Decision) -> JobObject:
        """The person's decision on the review waiting."""
        self.jobs.record(job_id, "job")
        try:
            decision = ReviewDecision(action=body.action, instruction=body.instruction, by="http")
        except ValidationError as error:
            raise MoraError(f"review: {validation_message(error)[0]}") from None
        return job_object(self.jobs.decide(job_id, decision))

    def rerun(self, job_id: str, body: Rerun) -> JobObject:
        """Make the stage and every stage after it again."""
        self.jobs.record(job_id, "job")
        return job_object(self.jobs.rerun(job_id, body.stage, body.review))

    def cancel(self, job_id: str) -> JobObject:
        """Cancel a queued, running or waiting job."""
        self.jobs.record(job_id, "job")
        return job_object(self.jobs.cancel(job_id))

    async def delete(self, job_id: str) -> JobDeleted:
        """Delete the job and its files."""
        self.jobs.record(job_id, "job")
        await self.jobs.delete(job_id)
        return JobDeleted(id=job_id)

    def events(self, job_id: str, request: Request) -> AsyncIterator[dict]:
        """The job's events as server-sent events (``id``: the sequence number), then ``end`` with its status;
        the request's ``Last-Event-ID`` resumes after that event.

        Raises:
            JobNotFound: no such job (before the stream starts).
            MoraError: ``Last-Event-ID`` is not an event's id.
        """
        self.jobs.record(job_id, "job")
        after = last_event_id(request)

        async def stream() -> AsyncIterator[dict]:
            async for seq, data in self.jobs.events(job_id, after):
                yield {"id": str(seq), "event": "studio", "data": data}
            job = self.jobs.find(job_id)
            yield {"event": "end", "data": job.status if job else "deleted"}

        return stream()

    def file(self, job_id: str, path: str) -> Path:
        """A file of the job's run folder, never one outside it."""
        job = self.jobs.record(job_id, "job")
        return self.jobs.run_file(job, path, what=f"job {job_id}")


__all__ = ["JobServing", "job_object"]
