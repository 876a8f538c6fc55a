"""The session service: chat sessions of a server, the same folders ``mora chat`` makes
(``WORKSPACE/sessions/<id>/``), each turn routed by the director and run as a queued job. The session API and the
web studio both act through it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from mora_agents.messages import InputAdded, SessionArtifact, TurnPlanned
from mora_agents.services.queue import JobQueue
from mora_agents.services.records import FINISHED, JobRecord, storable_text
from mora_agents.services.uploads import upload_suffix
from mora_agents.session import Session, SessionRecord, TurnRecord


@dataclass
class TakenTurn:
    """A turn as the director took it: the session's turn record, and the job that runs it (``None`` if it asked)."""

    session_id: str
    turn: TurnRecord
    job: JobRecord | None


class SessionService:
    """Chat sessions of one server, for every front end.

    Args:
        queue: the server's job queue (its sessions, its store).
    """

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.conversations = queue.conversations

    def create(self, name: str = "chat") -> str:
        """A new, empty session of this server; its id (``session_<hex>``)."""
        return self.conversations.create(name)

    def summaries(self) -> list[dict]:
        """Every session of the server, newest first: id, name, created, turns, artifacts."""
        sessions = []
        for session_id in self.conversations.ids():
            record = self.record(session_id)
            sessions.append({"id": session_id, "name": record.name, "created": record.created,
                             "turns": len(record.turns), "artifacts": len(record.artifacts)})  # fmt: skip
        return sorted(sessions, key=lambda item: item["created"], reverse=True)

    def session(self, session_id: str) -> Session:
        """The session ``session_id``: its folder and record.

        Raises:
            SessionNotFound: no such session.
        """
        return self.conversations.get(session_id).session

    def record(self, session_id: str) -> SessionRecord:
        """The session's turns and artifacts, as ``session.json`` keeps them.

        Raises:
            SessionNotFound: no such session.
        """
        return self.session(session_id).record

    async def take_turn(self, session_id: str, text: str, review: str = "auto", seed: int = 0,
                        profile: str | None = None) -> TakenTurn:  # fmt: skip
        """Route ``text`` in the session: a question (no job), or a job queued for what the director understood.
        Turn N's run gets seed ``seed + N - 1``; ``profile`` (default: the server's) makes it.

        Raises:
            MoraError: no such session, a file the turn names is refused, or ``review`` is ``judge`` on a server
                without judges.
        """
        queue = self.queue
        queue.check_review(review)
        if profile is not None:
            from mora_tools.loading.profiles import load_profile

            load_profile(profile)  # an unknown profile is named now
        conversation = self.conversations.get(session_id)
        turn = await conversation.plan_turn(text, seed=seed + len(conversation.session.record.turns))
        if turn.status == "asked":
            queue.note_session(session_id, TurnPlanned(turn=turn.index, text=text, status="asked",
                                                       question=turn.question))  # fmt: skip
            return TakenTurn(session_id, turn, None)
        job = JobRecord(
            id="job_" + secrets.token_hex(12), kind="job", sop=turn.request.task, request=turn.request,
            created_at=int(time.time()), review=review, profile=profile or queue.config.profile,
            prompt=str(turn.request.inputs.get("prompt", "")), session=f"{session_id}#{turn.index}",
            run_dir=self.conversations.run_dir(session_id, turn.run_dir),
        )  # fmt: skip
        queue.note_session(session_id, TurnPlanned(turn=turn.index, text=text, status="queued",
                                                   explanation=turn.request.explanation, job=job.id))  # fmt: skip
        return TakenTurn(session_id, turn, queue.submit(job))

    async def add_upload(self, session_id: str, data: bytes, kind: str, filename: str,
                         description: str = "") -> SessionArtifact:  # fmt: skip
        """A file given to the session: checked by content and size, saved in its ``inputs/``, and recorded as its
        next artifact, which later turns point at by number or by ``description`` ("animate the harbour photo").

        Raises:
            MoraError: no such session, or the file is refused (named in one sentence).
        """
        session = self.session(session_id)
        upload_suffix(filename, kind)  # a wrong file name is named before a wrong description
        description = storable_text(description.strip(), "description")
        number = len(session.record.artifacts) + 1
        # Checked off the event loop (a video's header, its frames counted); recorded on it, where the session lives.
        path = await asyncio.to_thread(self.queue.uploads.session_input, session.inputs_dir, number, data, kind,
                                       filename)  # fmt: skip
        artifact = session.add_input(path, kind, description or f"the uploaded {kind} {Path(filename).name}")
        self.queue.note_session(session_id, InputAdded(artifact=artifact))
        return artifact

    def undo(self, session_id: str) -> TurnRecord | None:
        """Take back the session's last finished result; the turn undone, or ``None`` when there is none."""
        return self.session(session_id).undo()

    def jobs(self, session_id: str) -> dict[int, JobRecord]:
        """The jobs that ran the session's turns, by turn number (the latest job of a turn)."""
        # One query, not a scan of every job page by page: the web page asks this every second.
        return {int(job.session.partition("#")[2]): job for job in self.queue.store.session_jobs(session_id)}

    def next_stale_job(self, session_id: str) -> JobRecord | None:
        """The finished job of the session's first stale result (its sources are made again before it), if any."""
        stale = [a for a in self.record(session_id).artifacts if a.stale]
        jobs = self.jobs(session_id)
        finished = [jobs[a.turn] for a in stale if a.turn in jobs and jobs[a.turn].status in FINISHED]
        return finished[0] if finished else None

    async def events(self, session_id: str, after: int = 0) -> AsyncIterator[tuple[int, str]]:
        """The session's events from ``after`` on, then live ones, for as long as the caller listens.

        Raises:
            SessionNotFound: no such session (before the first event).
        """
        async for item in self.queue.session_events(session_id, after):
            yield item

    def check_exists(self, session_id: str) -> None:
        """Nothing, for a session of this server.

        Raises:
            SessionNotFound: no such session.
        """
        self.conversations.get(session_id)


__all__ = ["SessionService", "TakenTurn"]
