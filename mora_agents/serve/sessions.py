"""Chat sessions of a server: the same folders ``mora chat`` makes (``WORKSPACE/sessions/<id>/``), each turn routed
by the director and run as a queued job. The HTTP API and the web studio both act through these functions.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.messages import InputAdded, SessionArtifact, TurnPlanned
from mora_agents.serve.protocol import storable_text
from mora_agents.serve.queue import SESSIONS_DIR, JobQueue, save_upload
from mora_agents.serve.store import JobRecord

UPLOAD_SUFFIXES = {"image": (".png", ".jpg", ".jpeg", ".webp"), "video": (".mp4", ".mov", ".webm", ".mkv")}


@dataclass
class TakenTurn:
    """A turn as the director took it: the session's turn record, and the job that runs it (``None`` if it asked)."""

    session_id: str
    turn: object
    """The :class:`~mora_agents.session.TurnRecord`."""
    job: JobRecord | None


def create_session(queue: JobQueue, name: str = "chat") -> str:
    """A new, empty session of this server; its id (``session_<hex>``)."""
    from mora_agents.session import Session

    session_id = "session_" + secrets.token_hex(8)
    Session.create(queue.workspace / SESSIONS_DIR / session_id, name)
    return session_id


def list_sessions(queue: JobQueue) -> list[dict]:
    """Every session of the server, newest first: id, name, created, turns, artifacts."""
    folders = [f for f in (queue.workspace / SESSIONS_DIR).glob("session_*") if (f / "session.json").is_file()]
    sessions = []
    for folder in folders:
        record = queue.conversation(folder.name).session.record
        sessions.append({"id": folder.name, "name": record.name, "created": record.created,
                         "turns": len(record.turns), "artifacts": len(record.artifacts)})  # fmt: skip
    return sorted(sessions, key=lambda item: item["created"], reverse=True)


async def take_turn(queue: JobQueue, session_id: str, text: str, review: str = "auto", seed: int = 0,
                    profile: str | None = None) -> TakenTurn:  # fmt: skip
    """Route ``text`` in the session: a question (no job), or a job queued for what the director understood.
    Turn N's run gets seed ``seed + N - 1``; ``profile`` (default: the server's) makes it.

    Raises:
        MoraError: no such session, a file the turn names is refused, or ``review`` is ``judge`` on a server
            without judges.
    """
    queue.check_review(review)
    if profile is not None:
        from mora_tools.profiles import load_profile

        load_profile(profile)  # an unknown profile is named now
    conversation = queue.conversation(session_id)
    turn = await conversation.plan_turn(text, seed=seed + len(conversation.session.record.turns))
    if turn.status == "asked":
        queue.note_session(session_id, TurnPlanned(turn=turn.index, text=text, status="asked", question=turn.question))
        return TakenTurn(session_id, turn, None)
    job = JobRecord(
        id="job_" + secrets.token_hex(12), kind="job", sop=turn.request.task, request=turn.request,
        created_at=int(time.time()), review=review, profile=profile or queue.config.profile,
        prompt=str(turn.request.inputs.get("prompt", "")), session=f"{session_id}#{turn.index}",
        run_dir=f"{SESSIONS_DIR}/{session_id}/{turn.run_dir}",
    )  # fmt: skip
    queue.note_session(session_id, TurnPlanned(turn=turn.index, text=text, status="queued",
                                               explanation=turn.request.explanation, job=job.id))  # fmt: skip
    return TakenTurn(session_id, turn, queue.submit(job))


def upload_suffix(filename: str | None, kind: str) -> str:
    """The file's suffix, if it is one a ``kind`` upload may have.

    Raises:
        MoraError: another suffix.
    """
    name = filename or ""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in UPLOAD_SUFFIXES[kind]:
        shown = name if len(name) <= 60 else "..." + name[-57:]
        raise MoraError(f"an {kind} upload must end in {', '.join(UPLOAD_SUFFIXES[kind])}, not '{shown}'")
    return suffix


async def add_upload(queue: JobQueue, session_id: str, data: bytes, kind: str, filename: str,
                     description: str = "") -> SessionArtifact:  # fmt: skip
    """A file given to the session: checked by content and size, saved in its ``inputs/``, and recorded as its next
    artifact, which later turns point at by number or by ``description`` ("animate the harbour photo").

    Raises:
        MoraError: no such session, or the file is refused (named in one sentence).
    """
    session = queue.conversation(session_id).session
    suffix = upload_suffix(filename, kind)
    description = storable_text(description.strip(), "description")
    name = f"upload-{len(session.record.artifacts) + 1:02d}-{secrets.token_hex(4)}{suffix}"
    # Checked off the event loop (a video's header, its frames counted); recorded on it, where the session lives.
    path = await asyncio.to_thread(save_upload, session.inputs_dir / name, data, kind, f"upload {Path(filename).name}")
    artifact = session.add_input(path, kind, description or f"the uploaded {kind} {Path(filename).name}")
    queue.note_session(session_id, InputAdded(artifact=artifact))
    return artifact


def session_jobs(queue: JobQueue, session_id: str) -> dict[int, JobRecord]:
    """The jobs that ran the session's turns, by turn number (the latest job of a turn)."""
    # One query, not a scan of every job page by page: the web page asks this every second.
    return {int(job.session.partition("#")[2]): job for job in queue.store.session_jobs(session_id)}


__all__ = ["TakenTurn", "add_upload", "create_session", "list_sessions", "session_jobs", "take_turn", "upload_suffix"]
