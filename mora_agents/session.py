"""A session folder: the turns of a conversation, what each produced, and everything needed to continue.

Layout::

    SESSION/
        session.json       turns (text, routed request or question, run folder, status) and artifacts
        script.yaml        the session script being replayed (``mora run``), or absent for chats
        transcript.jsonl   one JSON event per line, appended and fsynced as it happens
        runs/turn-01-text_to_video/   one run folder per turn (manifest.json, sop.yaml, video.mp4, ...)

``session.json`` is rewritten atomically after every change; a killed session resumes from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mora_agents import __version__
from mora_agents.errors import MoraError
from mora_agents.messages import ClarifyingQuestion, SessionArtifact, VideoRequest
from mora_agents.workspace import RunManifest, now_iso, write_text_atomic

SESSION_FILE = "session.json"
SCRIPT_FILE = "script.yaml"
TRANSCRIPT_FILE = "transcript.jsonl"


class TurnRecord(BaseModel):
    """One user turn and what came of it."""

    index: int = Field(ge=1)
    text: str
    status: Literal["routed", "asked", "running", "completed", "failed", "undone"] = "routed"
    request: VideoRequest | None = None
    question: ClarifyingQuestion | None = None
    run_dir: str | None = None
    """The turn's run folder, relative to the session folder."""
    error: str | None = None


class SessionRecord(BaseModel):
    """``session.json``."""

    name: str
    created: str
    mora_version: str
    base_dir: str | None = None
    """Where relative file names in turns are looked up (the script's folder)."""
    turns: list[TurnRecord] = Field(default_factory=list)
    artifacts: list[SessionArtifact] = Field(default_factory=list)


class ScriptTurn(BaseModel):
    """One turn of a session script."""

    model_config = ConfigDict(extra="forbid")

    say: str = Field(min_length=1)
    """What the user says."""
    decisions: list[str] = Field(default_factory=list)
    """The human proxy's answers for this turn's reviews, in order (accept, regenerate, edit <instruction>)."""


class SessionScript(BaseModel):
    """A scripted multi-turn session (``examples/sessions/*.yaml``; format in ``examples/sessions/README.md``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    profile: str = "tiny"
    seed: int = Field(default=0, ge=0)
    """Turn ``n`` runs with seed ``seed + n - 1``: replays are deterministic."""
    review: Literal["scripted", "auto", "judge"] = "scripted"
    """``judge``: a judge panel reviews images and videos; ``decisions`` answer prompts and break ties."""
    judges: list[str] = Field(default_factory=list)
    """Review ``judge``: the panel's judge specs (``metric``, ``metric:flicker=-1,threshold=0.6``, ``openai:MODEL``)."""
    llm: str | None = None
    turns: list[ScriptTurn] = Field(min_length=1)

    @model_validator(mode="after")
    def _judges_match_review(self) -> SessionScript:
        if self.review == "judge" and not self.judges:
            raise ValueError("review judge needs judges, e.g. judges: [metric, 'metric:flicker=-1']")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> SessionScript:
        """Read and validate a session script; errors name the file and the field."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise MoraError(f"cannot read session file {path}: {error.strerror or error}") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise MoraError(f"{path}{line}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
        if not isinstance(data, dict):
            raise MoraError(f"{path}: a session file must be a mapping with name and turns")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
            raise MoraError(f"{path}: {where}: {first['msg']}") from None


class Session:
    """A session folder on disk (see the module docstring)."""

    def __init__(self, root: str | Path, record: SessionRecord) -> None:
        self.root = Path(root)
        self.record = record

    @classmethod
    def create(cls, root: str | Path, name: str, base_dir: Path | None = None) -> Session:
        root = Path(root)
        if (root / SESSION_FILE).exists():
            raise MoraError(f"{root} already holds a session: continue it with --resume {root}")
        try:
            (root / "runs").mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MoraError(f"cannot create the session folder {root}: {error.strerror or error}") from None
        record = SessionRecord(
            name=name, created=now_iso(), mora_version=__version__, base_dir=str(base_dir) if base_dir else None
        )
        session = cls(root, record)
        session.save()
        return session

    @classmethod
    def open(cls, root: str | Path) -> Session:
        """Open an existing session folder.

        Raises:
            MoraError: no session there, or its ``session.json`` is not valid.
        """
        root = Path(root)
        path = root / SESSION_FILE
        if not path.is_file():
            raise MoraError(f"no session in {root} (expected {path})")
        try:
            return cls(root, SessionRecord.model_validate_json(path.read_text(encoding="utf-8")))
        except ValidationError as error:
            raise MoraError(f"{path} is not a valid session file ({str(error).splitlines()[0]})") from None

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def save(self) -> None:
        write_text_atomic(self.root / SESSION_FILE, self.record.model_dump_json(indent=2))

    def log(self, event: str, **fields: Any) -> None:
        """Append one event to the transcript, durably (a crash loses at most the line being written)."""
        line = json.dumps({"time": now_iso(), "event": event, **fields}, default=str)
        with open(self.root / TRANSCRIPT_FILE, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def transcript(self) -> list[dict]:
        path = self.root / TRANSCRIPT_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def new_turn(self, text: str) -> TurnRecord:
        turn = TurnRecord(index=len(self.record.turns) + 1, text=text)
        self.record.turns.append(turn)
        self.save()
        self.log("user", turn=turn.index, text=text)
        return turn

    def add_output(self, turn: TurnRecord, manifest: RunManifest) -> SessionArtifact | None:
        """Record a finished turn's result as the session's next artifact."""
        if manifest.output is None or turn.run_dir is None:
            return None
        prompt = turn.request.inputs.get("prompt") if turn.request else None
        artifact = SessionArtifact(
            index=len(self.record.artifacts) + 1,
            kind=manifest.output.kind,
            path=str((self.root / turn.run_dir / manifest.output.path).resolve()),
            turn=turn.index,
            task=manifest.sop,
            prompt=str(prompt) if prompt is not None else turn.text,
        )
        self.record.artifacts.append(artifact)
        self.save()
        return artifact

    def undo(self) -> TurnRecord | None:
        """Forget the last finished turn's result (its files stay on disk); returns the turn, if any."""
        for turn in reversed(self.record.turns):
            if turn.status == "completed":
                turn.status = "undone"
                self.record.artifacts = [a for a in self.record.artifacts if a.turn != turn.index]
                self.save()
                self.log("undo", turn=turn.index)
                return turn
        return None
