"""The job queue: jobs from the SQLite store run one at a time on the device, human reviews wait without it.

Each job is an asyncio task that holds the device lock (FIFO, so jobs run in the order they came) while its
stages run, and lets go of it while a human review waits: a job in ``awaiting_review`` holds no model work,
and the next job runs meanwhile. Models stay loaded across jobs in one
:class:`~mora_tools.loading.memory.ModelMemory`. The store is the source of truth: on start every job the last
process left queued, running or awaiting review runs again, from its run folder's last finished stage (the studio's
resume), so ``kill -9`` loses nothing that was accepted.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from autogen_core import CancellationToken
from pydantic import BaseModel

from mora_agents.errors import CancelledError, DiskFullError, MoraError
from mora_agents.messages import (
    ReviewDecision,
    ReviewRequest,
    SessionJobEvent,
    StudioEvent,
)
from mora_agents.services.conversations import Conversations
from mora_agents.services.errors import JobNotFound
from mora_agents.services.event_streams import EventStreams
from mora_agents.services.progress import JobProgress
from mora_agents.services.records import FINISHED, JobRecord
from mora_agents.services.store import JobStore
from mora_agents.services.uploads import Uploads
from mora_agents.sop import SopSpec, find_sop
from mora_agents.studio import Studio, StudioConfig
from mora_tools.loading.memory import ModelMemory
from mora_tools.loading.profiles import parse_frame_size

logger = logging.getLogger(__name__)

RUNS_DIR = "runs"
STORE_FILE = "jobs.sqlite"
RAY_JOBS_IN_FLIGHT = 4
"""Engine ``ray``: jobs running at once (one per role of a text-to-video run: A1, A2, A4, and one queued)."""


class JobQueue:
    """Runs the store's jobs through one :class:`~mora_agents.studio.Studio`.

    Args:
        workspace: the server's folder: ``jobs.sqlite``, ``runs/<job id>/``, ``uploads/``.
        config: profile, LLM, device; ``review`` is the mode of jobs that do not ask for a human.
        sop_dirs: extra SOP folders (user tasks).
        crashed: why the last server died, when native code killed it (:func:`~mora_agents.supervisor.
            supervise_server` restarted this one): the job it was running then fails with this reason instead of
            running again, so a crash does not repeat forever.
    """

    def __init__(
        self, workspace: Path, config: StudioConfig, sop_dirs: list[Path] | None = None, crashed: str | None = None
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.sop_dirs = list(sop_dirs or [])
        self.crashed = crashed
        self.store = JobStore(self.workspace / STORE_FILE)
        self.memory = ModelMemory("keep", compile=config.compile)
        # Local: one job at a time on the device. Ray: several, so they pipeline through the roles' actors.
        self._device = asyncio.Semaphore(RAY_JOBS_IN_FLIGHT if config.engine == "ray" else 1)
        self._session_turns: dict[str, asyncio.Lock] = {}
        """One lock per chat session: its turns run in order, each on what the one before made."""
        self._tasks: dict[str, asyncio.Task] = {}
        self._tokens: dict[str, CancellationToken] = {}
        self._decisions: dict[str, asyncio.Future] = {}
        self._streams = EventStreams()
        self.uploads = Uploads(self.workspace)
        self.conversations = Conversations(self.workspace, config, self.sop_dirs, self.memory)

    @property
    def runs_dir(self) -> Path:
        """Where the jobs of the APIs run: ``runs/<job id>/`` (a session's turns run in the session's folder)."""
        return self.workspace / RUNS_DIR

    # -- life cycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take up what the last process left: unfinished jobs first (resumed), then the queued ones."""
        for job in self.store.unfinished():
            if self.crashed and job.status == "running":
                self._fail_crashed(job)  # the one on the device when the server died
            else:
                self.store.update(job.id, status="queued")
        after, more = None, True
        while more:  # every queued job, page by page, oldest first
            page, more = self.store.list(order="asc", limit=100, after=after)
            for job in page:
                if job.status == "failed" and DiskFullError.is_reason(job.error):
                    # The disk was full: this start goes on from the run folder's last finished stage.
                    job = self.store.update(job.id, status="queued", completed_at=None, error=None)
                if job.status == "queued":
                    self._launch(job.id)
            after = page[-1].id if page else None

    def _fail_crashed(self, job: JobRecord) -> None:
        from mora_agents.supervisor import mark_run_failed

        reason = f"{self.crashed} (the server restarted; this job was running then and was not resumed)"
        logger.error("job %s failed: %s", job.id, reason)
        self.store.update(job.id, status="failed", completed_at=_now(), error=reason)
        if job.run_dir:
            mark_run_failed(self.workspace / job.run_dir, reason)
        if job.session:
            session_id, _, number = job.session.partition("#")
            session = self.conversations.get(session_id).session
            turn = session.record.turns[int(number) - 1]
            turn.status, turn.error = "failed", reason
            session.save()
            session.log("failed", turn=turn.index, error=reason)

    async def stop(self) -> None:
        """Stop every job task; their store rows stay as they are, so the next start resumes them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.memory.release_all()
        self.store.close()

    # -- what clients do ---------------------------------------------------------------------------------------

    def submit(self, job: JobRecord) -> JobRecord:
        """Store ``job`` as queued and start it when the device is free."""
        job = self.store.add(job.model_copy(update={"status": "queued", "created_at": job.created_at or _now()}))
        self._launch(job.id)
        return job

    def submit_task(self, task: str, inputs: dict, *, seed: int = 0, review: str = "auto") -> JobRecord:
        """Queue a job for any SOP; its image and video inputs must already be files of the workspace.

        Raises:
            MoraError: an unknown task, a missing or wrong input, or a judge review without judges.
        """
        import secrets

        from mora_agents.messages import VideoRequest

        self.check_review(review)
        spec = self.spec(task)
        spec.bind_inputs(dict(inputs))  # a missing or wrong input is named now, not when the job runs
        request = VideoRequest(task=spec.name, inputs=dict(inputs), seed=seed)
        job = JobRecord(id="job_" + secrets.token_hex(12), kind="job", sop=spec.name, request=request,
                        created_at=_now(), review=review, profile=self.config.profile,
                        prompt=str(inputs.get("prompt", "")))  # fmt: skip
        return self.submit(job)

    def rerun(self, job_id: str, stage: str | None = None, review: str | None = None) -> JobRecord:
        """Make a finished job's ``stage`` again (``None``: the whole job, its inputs read again), and every stage
        after it: the job is queued once more and its result replaced. For a session's turn, every later result
        made from this one is marked stale in the session, to be made again on request.

        Raises:
            MoraError: no such job, a job not finished yet, or no such stage.
        """
        from mora_agents.sop import reopen_stage
        from mora_agents.workspace import Workspace

        job = self._job(job_id)
        if review:
            self.check_review(review)
        if job.status not in FINISHED:
            raise MoraError(f"job {job_id} is {job.status}: only a finished job's stages can be made again")
        if not job.run_dir or not (self.workspace / job.run_dir / "manifest.json").is_file():
            raise MoraError(f"job {job_id} never started: there is no stage to make again")
        workspace = Workspace(self.workspace / job.run_dir)
        workspace.save_manifest(reopen_stage(workspace.load_manifest(), stage))
        if job.session:
            session_id, _, number = job.session.partition("#")
            session = self.conversations.get(session_id).session
            session.mark_stale(int(number))
        update = {"status": "queued", "progress": 0, "completed_at": None, "error": None}
        job = self.store.update(job_id, **update, **({"review": review} if review else {}))
        self._launch(job_id)
        return job

    def check_review(self, review: str) -> None:
        """Refuse a ``judge`` review on a server started without judges, in one sentence."""
        if review == "judge" and not self.config.judges:
            raise MoraError("review judge needs a judge panel: start the server with --judge metric (or openai:MODEL)")

    def sop_names(self) -> list[str]:
        """Every task this server runs: the built-in SOPs and those of its ``--sop-dir`` folders."""
        from mora_agents.sop import list_sops

        return list(list_sops(self.sop_dirs))

    def spec(self, task: str) -> SopSpec:
        """The SOP of ``task`` (built-in or from ``--sop-dir``); an unknown one is a :class:`MoraError`."""
        return find_sop(task, self.sop_dirs)

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued, running or reviewing job (a finished one is left as it is)."""
        job = self._job(job_id)
        if job.status in FINISHED:
            raise MoraError(f"job {job_id} is already {job.status}: there is nothing to cancel")
        token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()  # running or reviewing: the run stops at its next step and records why
        task = self._tasks.get(job_id)
        if task is not None and token is None:
            task.cancel()  # still waiting for the device
        return self.store.update(job_id, status="cancelled", completed_at=_now(), error="cancelled by a client")

    async def delete(self, job_id: str) -> None:
        """Cancel the job if it is not finished, then remove its files and its rows."""
        job = self._job(job_id)
        task = self._tasks.get(job_id)
        if job.status not in FINISHED:
            self.cancel(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        if job.run_dir:
            shutil.rmtree(self.workspace / job.run_dir, ignore_errors=True)
        self.uploads.discard(job_id)
        self.store.delete(job_id)

    def decide(self, job_id: str, decision: ReviewDecision) -> JobRecord:
        """A client's decision on the job's pending review: the run goes on with it."""
        job = self._job(job_id)
        pending = self.store.pending_review(job_id)
        waiting = self._decisions.get(job_id)
        if pending is None or waiting is None or waiting.done():
            raise MoraError(f"job {job_id} has no review waiting (it is {job.status})")
        if decision.action not in pending.request.allowed:
            allowed = ", ".join(pending.request.allowed)
            raise MoraError(f"stage '{pending.request.stage}' takes {allowed}, not {decision.action}")
        self.store.decide(job_id, decision)
        waiting.set_result(decision)
        return self._job(job_id)

    async def events(self, job_id: str, after: int = 0) -> AsyncIterator[tuple[int, str]]:
        """The job's events from sequence number ``after`` on, then live ones, until the job finishes."""
        self._job(job_id)

        def finished() -> bool:
            job = self.store.get(job_id)
            return job is None or job.status in FINISHED

        async for item in self._streams.follow(job_id, self.store.events, after, finished):
            yield item

    async def session_events(self, session_id: str, after: int = 0) -> AsyncIterator[tuple[int, str]]:
        """A chat session's events (:data:`~mora_agents.messages.SessionEvent`) from ``after`` on, then live ones,
        for as long as the caller listens: a session has no end."""
        self.conversations.get(session_id)  # a session of this server, or SessionNotFound
        async for item in self._streams.follow(session_id, self.store.session_events, after, lambda: False):
            yield item

    def note_session(self, session_id: str, event: BaseModel) -> int:
        """Append ``event`` (a turn planned, an input added) to the session's stream."""
        data = event.model_dump_json()
        seq = self.store.add_session_event(session_id, data)
        self._streams.publish(session_id, (seq, data))
        return seq

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}")
        return job

    # -- running -----------------------------------------------------------------------------------------------

    def _launch(self, job_id: str) -> None:
        if job_id not in self._tasks or self._tasks[job_id].done():
            self._tasks[job_id] = asyncio.get_running_loop().create_task(self._run(job_id), name=job_id)

    async def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is not None and job.session:
            session_id = job.session.partition("#")[0]
            async with self._session_turns.setdefault(session_id, asyncio.Lock()):
                await self._run_on_device(job_id)
        else:
            await self._run_on_device(job_id)

    async def _run_on_device(self, job_id: str) -> None:
        await self._device.acquire()
        holding = True
        try:
            job = self.store.get(job_id)
            if job is None or job.status != "queued":
                return
            token = CancellationToken()
            self._tokens[job_id] = token
            run_dir = self.workspace / (job.run_dir or f"{RUNS_DIR}/{job.id}")
            self.store.update(job_id, status="running", run_dir=str(run_dir.relative_to(self.workspace)), error=None)
            review = job.review if job.review != "human" else "auto"  # human: the reviewer below decides
            size = parse_frame_size(job.size) if job.size else None  # a Videos API job's (fitted) size
            studio = Studio(replace(self.config, profile=job.profile, review=review, size=size), self.memory)

            async def human(request: ReviewRequest, cancellation_token: CancellationToken) -> ReviewDecision:
                # The device is free while a person decides: the next job runs meanwhile.
                nonlocal holding
                self.store.open_review(job_id, request)
                self.store.update(job_id, status="awaiting_review")
                decision: asyncio.Future = asyncio.get_running_loop().create_future()
                self._decisions[job_id] = decision
                cancellation_token.link_future(decision)
                self._device.release()
                holding = False
                try:
                    return await decision
                finally:
                    await self._device.acquire()
                    holding = True
                    if self.store.get(job_id).status == "awaiting_review":
                        self.store.update(job_id, status="running")

            reviewer = self._reviewer(job, human)
            progress = JobProgress(self.spec(job.sop))

            def on_event(event: StudioEvent) -> None:
                self._record(job, event, progress)

            if job.session:
                await self._run_turn(job, reviewer, on_event, token)
            elif (run_dir / "manifest.json").is_file():
                _, manifest = await studio.resume(
                    run_dir, reviewer=reviewer, on_event=on_event, cancellation_token=token
                )
            else:
                spec = self.spec(job.sop)
                _, manifest = await studio.run(
                    spec, job.request, self.runs_dir, reviewer=reviewer, on_event=on_event,
                    cancellation_token=token, run_id=job.id,
                )  # fmt: skip
            self.store.update(job_id, status="completed", progress=100, completed_at=_now(), error=None)
        except (CancelledError, asyncio.CancelledError) as error:
            job = self.store.get(job_id)
            if job is not None and job.status not in FINISHED and isinstance(error, CancelledError):
                self.store.update(job_id, status="cancelled", completed_at=_now(), error=str(error))
            if isinstance(error, asyncio.CancelledError) and (job is None or job.status != "cancelled"):
                raise  # the server is stopping: the row stays, the next start resumes it
        except DiskFullError as error:
            reason = error.then("restart the server: it goes on with this job from its last finished stage")
            self.store.update(job_id, status="failed", completed_at=_now(), error=str(reason))
        except MoraError as error:
            self.store.update(job_id, status="failed", completed_at=_now(), error=str(error))
        except Exception as error:  # a bug must fail the job with its reason, not kill the queue
            logger.exception("job %s failed", job_id)
            self.store.update(job_id, status="failed", completed_at=_now(), error=f"internal error: {error}")
        finally:
            self._tokens.pop(job_id, None)
            self._decisions.pop(job_id, None)
            if holding:
                self._device.release()
            self._streams.publish(job_id, None)

    @staticmethod
    def _reviewer(job: JobRecord, human):
        """Who decides a job's reviews: a person over HTTP (``human``); with ``judge`` the panel, its ties going to
        a person over HTTP, or accepted for a Videos API job, which nobody reviews; else the studio's ``auto``."""
        if job.review == "human" or (job.review == "judge" and job.kind == "job"):
            return human
        if job.review == "judge":
            from mora_agents.agents import TextReviewer, auto_accept

            return TextReviewer(auto_accept, mode="auto")
        return None

    # -- chat sessions -----------------------------------------------------------------------------------------

    async def _run_turn(self, job: JobRecord, reviewer, on_event, token: CancellationToken) -> None:
        session_id, _, number = job.session.partition("#")
        conversation = self.conversations.get(session_id)
        turn = conversation.session.record.turns[int(number) - 1]
        await conversation.resume(turn, on_event=on_event, reviewer=reviewer, cancellation_token=token)

    def _record(self, job: JobRecord, event: StudioEvent, progress: JobProgress) -> None:
        data = event.model_dump_json()
        seq = self.store.add_event(job.id, data)
        percent = progress.update(event)
        if percent is not None:
            self.store.update(job.id, progress=percent)
        self._streams.publish(job.id, (seq, data))
        if job.session:  # a turn's job: its session's stream tells it too
            session_id, _, number = job.session.partition("#")
            self.note_session(session_id, SessionJobEvent(job=job.id, turn=int(number), event=event))


def _now() -> int:
    return int(time.time())
