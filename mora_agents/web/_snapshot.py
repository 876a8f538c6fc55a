"""What the web studio shows, read through the services and from the run folders (never from the browser): a job's
state and progress, the card of the stage it waits on (or last made), and a session's conversation.

Pure reads: the page calls these on every tick, so a reloaded tab, a second browser or a phone see the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mora_agents.services.jobs import JobService
from mora_agents.services.records import FINISHED, JobRecord
from mora_agents.services.sessions import SessionService
from mora_agents.web._shown import shown_file

STAGE_TITLES = {"first_frame": "First frame", "animate": "Video", "continuation": "Continuation", "edit": "Edit"}


@dataclass
class StageCard:
    """One reviewed stage as a card: its latest result, the earlier ones, and what a person may do now."""

    stage: str
    iteration: int
    max_iterations: int
    kind: str
    """``image``, ``video`` or ``text`` (an enhanced prompt)."""
    path: str | None
    """The latest result's file (absolute), ``None`` for text."""
    text: str = ""
    earlier: list[str] = field(default_factory=list)
    """Earlier iterations' files, oldest first."""
    waiting: bool = False
    """A person must decide now."""
    allowed: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        name = STAGE_TITLES.get(self.stage, self.stage.replace("_", " ").capitalize())
        line = f"### {name} · iteration {self.iteration}/{self.max_iterations}"
        if self.waiting and self.iteration >= self.max_iterations:
            return line + "\nThe last iteration: whatever you decide, this result stands."
        if self.waiting:
            return line + "\nWaiting for you: accept it, regenerate it, or edit it."
        return line


@dataclass
class JobSnapshot:
    """A job as the page shows it."""

    job_id: str
    status: str
    progress: int
    line: str
    """One line: the task, its state, the stage and step running."""
    card: StageCard | None = None
    folder: Path | None = None
    """The job's run folder: every file shown must be inside it (:func:`~mora_agents.web._shown.shown_file`)."""
    files: list[str] = field(default_factory=list)
    """Every artifact of the run folder and its manifest, for downloading."""
    stages: list[str] = field(default_factory=list)
    """The stages with results, in order: a finished job's card can show any of them."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def fingerprint(self) -> str:
        card = self.card
        key = (self.status, self.progress, card and (card.stage, card.iteration, card.waiting, card.path), self.files,
               self.stages)  # fmt: skip
        return json.dumps(key, default=str)


def job_snapshot(jobs: JobService, job_id: str, viewing: str | None = None) -> JobSnapshot:
    """The job's state (its :class:`~mora_agents.services.jobs.JobView`), its stages from its run folder's
    manifest; ``viewing``: the stage whose card a finished job shows (default: its last).

    Raises:
        JobNotFound: no such job.
    """
    view = jobs.view(job_id)
    job, folder = view.record, view.folder
    manifest = _manifest(folder)
    waiting = view.waiting_for
    card = _waiting_card(folder, manifest, waiting) if waiting else _last_card(folder, manifest, viewing)
    stages = [s["id"] for s in (manifest or {}).get("stages", []) if _iteration_files(folder, s)]
    return JobSnapshot(job_id, job.status, job.progress, _line(job, manifest, jobs), card, folder,
                       _downloads(view.files), stages)  # fmt: skip


def _manifest(folder: Path | None) -> dict | None:
    path = folder / "manifest.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # being rewritten this instant: the next tick reads it


def _line(job: JobRecord, manifest: dict | None, jobs: JobService) -> str:
    state = {"awaiting_review": "waiting for your review", "running": "running", "queued": "queued"}.get(
        job.status, job.status
    )
    what = job.request.explanation or job.sop.replace("_", " ")
    line = f"**{what}** · {state} · {job.progress}%"
    running = [s for s in (manifest or {}).get("stages", []) if s.get("status") == "running"]
    if running and job.status == "running":
        line += f" · stage {running[-1]['id']}"
        step = _last_step(jobs, job.id)
        if step:
            line += f" (step {step[0]}/{step[1]})"
    if job.error and job.status in ("failed", "cancelled"):
        line += f"\n\n{job.error}"
    return line


def _last_step(jobs: JobService, job_id: str) -> tuple[int, int] | None:
    for _, data in reversed(jobs.stored_events(job_id)[-20:]):
        event = json.loads(data)
        if event.get("type") == "step_progress" and event.get("total"):
            return int(event["step"]), int(event["total"])
        if event.get("type") == "artifact_ready":
            return None
    return None


def _waiting_card(folder: Path | None, manifest: dict | None, request) -> StageCard:
    artifact = request.artifact
    path = str(folder / artifact.path) if folder and getattr(artifact, "path", None) else None
    kind = "text" if path is None else ("video" if path.endswith(".mp4") else "image")
    stage = next((s for s in (manifest or {}).get("stages", []) if s["id"] == request.stage), None)
    earlier = _iteration_files(folder, stage)[: request.iteration - 1] if stage else []
    return StageCard(request.stage, request.iteration, request.max_iterations, kind, path,
                     text=getattr(artifact, "prompt", ""), earlier=earlier, waiting=True,
                     allowed=list(request.allowed))  # fmt: skip


def _last_card(folder: Path | None, manifest: dict | None, viewing: str | None = None) -> StageCard | None:
    stages = [s for s in (manifest or {}).get("stages", []) if _iteration_files(folder, s)]
    if not stages or folder is None:
        return None
    stage = next((s for s in stages if s["id"] == viewing), stages[-1])
    files = _iteration_files(folder, stage)
    kind = "video" if files[-1].endswith(".mp4") else "image"
    return StageCard(stage["id"], len(stage["iterations"]), 3, kind, files[-1], earlier=files[:-1])


def _iteration_files(folder: Path | None, stage: dict) -> list[str]:
    outputs = [it.get("output", {}) for it in stage.get("iterations", [])]
    return [str(folder / out["path"]) for out in outputs if folder and out.get("path")]


def _downloads(files: list[Path]) -> list[str]:
    return [str(p) for p in files if p.is_file() and p.suffix in (".mp4", ".png", ".json")]


def conversation_messages(sessions: SessionService, session_id: str, jobs: dict[int, JobRecord]) -> list[dict]:
    """The session as chat messages: each turn, what the studio understood or asked, and each result inline."""
    import gradio as gr

    session = sessions.session(session_id)
    outputs = {artifact.turn: artifact for artifact in session.record.artifacts}
    messages: list[dict] = []
    for turn in session.record.turns:
        artifact = outputs.get(turn.index)
        if turn.request is None and artifact is not None:  # a file the person gave
            messages.append({"role": "user", "content": f"(gave #{artifact.index}: {artifact.prompt})"})
            messages.append({"role": "user", "content": _media(gr, artifact.kind, artifact.path, session.root)})
            continue
        messages.append({"role": "user", "content": turn.text})
        if turn.status == "asked" and turn.question is not None:
            messages.append({"role": "assistant", "content": turn.question.question})
            continue
        if turn.request is not None and turn.request.explanation:
            messages.append({"role": "assistant", "content": f"studio> {turn.request.explanation}"})
        job = jobs.get(turn.index)
        if artifact is not None and turn.status == "completed":
            stale = " (stale: made from an earlier version of its source; make it again)" if artifact.stale else ""
            messages.append({"role": "assistant", "content": f"#{artifact.index} {artifact.kind}{stale}"})
            messages.append({"role": "assistant", "content": _media(gr, artifact.kind, artifact.path, session.root)})
        elif turn.status == "undone":
            messages.append({"role": "assistant", "content": "(undone)"})
        elif job is not None and job.status in ("failed", "cancelled"):
            messages.append({"role": "assistant", "content": f"{job.status}: {job.error or ''}".strip()})
        elif turn.status == "failed":
            messages.append({"role": "assistant", "content": f"failed: {turn.error or ''}".strip()})
    return messages


def _media(gr, kind: str, path: str, root: Path):
    shown = shown_file(path, root)
    if shown is None:
        return f"({kind} {Path(path).name} is not shown: it is not a file of this session)"
    return gr.Video(value=shown) if kind == "video" else gr.Image(value=shown)


__all__ = ["JobSnapshot", "StageCard", "conversation_messages", "job_snapshot"]
