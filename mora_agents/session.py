"""A session folder: the turns of a conversation, what each produced, and everything needed to continue.

Layout::

    SESSION/
        session.json       turns (text, routed request or question, run folder, status) and artifacts
        script.yaml        the session script being replayed (``mora run``), or absent for chats
        inputs/            the image and video files the turns name, linked in (a script's on creation, a chat's
                           when its turn is routed), so the session needs nothing outside its folder
        transcript.jsonl   one JSON event per line, appended and fsynced as it happens
        runs/turn-01-text_to_video/   one run folder per turn (manifest.json, sop.yaml, video.mp4, ...)

``session.json`` is rewritten atomically after every change; a killed session resumes from it. Every path it
records (a turn's run folder, an artifact, a routed request's files) must lie inside the session folder: a crafted
one that points elsewhere is refused in one sentence (:mod:`mora_agents.containment`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mora_agents import __version__
from mora_agents.containment import resolve_inside
from mora_agents.errors import DiskFullError, MoraError, disk_full_as_error
from mora_agents.messages import ClarifyingQuestion, QuestionAnswer, SessionArtifact, VideoRequest
from mora_agents.workspace import RunManifest, Workspace, now_iso, write_text_atomic

SESSION_FILE = "session.json"
SCRIPT_FILE = "script.yaml"
TRANSCRIPT_FILE = "transcript.jsonl"
INPUTS_DIR = "inputs"


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
    meant: str | None = None
    """When this turn answered a question with a number: the words of the turn it was about."""
    answered: QuestionAnswer | None = None
    """And what the answers so far settled (the task, an artifact per input)."""


class SessionRecord(BaseModel):
    """``session.json``."""

    name: str
    created: str
    mora_version: str
    base_dir: str | None = None
    """The script's folder when the session was made (a record only: the files its turns name are linked into
    ``inputs/``, where a resumed session looks them up)."""
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


def script_files(script: SessionScript, script_path: str | Path) -> dict[str, Path]:
    """The image and video files a script's turns name, each checked to be a file inside the script's folder.

    Names are read as the director reads them (:func:`mora_agents.director.find_paths`) and are relative to the
    script's folder; one that is absolute or leads out of that folder (``..``, a symlink pointing out) is refused,
    so a script cannot make mora read a file from elsewhere.

    Args:
        script: the validated script.
        script_path: where it was read from.

    Returns:
        `dict[str, Path]`: each name as written -> the resolved file.

    Raises:
        MoraError: a name is absolute, leads out of the script's folder, or is not a file there.
    """
    from mora_agents.director import find_paths

    folder = Path(script_path).resolve().parent
    files: dict[str, Path] = {}
    for number, turn in enumerate(script.turns, start=1):
        what = f"session script {script_path} turn {number}"
        for mention in find_paths(turn.say):
            source = resolve_inside(folder, mention.path, what=what, folder="the script's folder")
            if not source.is_file():
                raise MoraError(f"{what} names '{mention.path}', which is not a file in the script's folder {folder}")
            files[mention.path] = source
    return files


class Session:
    """A session folder on disk (see the module docstring)."""

    def __init__(self, root: str | Path, record: SessionRecord) -> None:
        self.root = Path(root)
        self.record = record

    @classmethod
    def create(cls, root: str | Path, name: str, base_dir: Path | None = None) -> Session:
        """Make a new session folder (``root`` may exist, empty of sessions) and write its ``session.json``.

        Raises:
            DiskFullError: no space is left on the disk of ``root``.
            MoraError: ``root`` already holds a session, or cannot be created.
        """
        root = Path(root)
        if (root / SESSION_FILE).exists():
            raise MoraError(f"{root} already holds a session: continue it with --resume {root}")
        try:
            with disk_full_as_error(root):
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
            session = cls(root, SessionRecord.model_validate_json(path.read_text(encoding="utf-8")))
        except ValidationError as error:
            raise MoraError(f"{path} is not a valid session file ({str(error).splitlines()[0]})") from None
        # Checked up front, so a crafted file fails before anything runs.
        for turn in session.record.turns:
            if turn.run_dir is not None:
                session.run_folder(turn)
        for artifact in session.record.artifacts:
            session.artifact_file(artifact)
        return session

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def inputs_dir(self) -> Path:
        """Where the files the turns name are linked in (``inputs/``)."""
        return self.root / INPUTS_DIR

    def run_folder(self, turn: TurnRecord) -> Path:
        """The turn's run folder, checked to lie inside the session folder.

        Raises:
            MoraError: the turn has no run folder, or its ``run_dir`` leads out of the session folder.
        """
        if turn.run_dir is None:
            raise MoraError(f"turn {turn.index} of session {self.root} has no run folder: it was never started")
        what = f"{SESSION_FILE} of session {self.root.name} turn {turn.index}"
        return resolve_inside(self.root, turn.run_dir, what=what, folder="the session folder")

    def artifact_file(self, artifact: SessionArtifact) -> Path:
        """An artifact's file (recorded absolute), checked to lie inside the session folder.

        Raises:
            MoraError: the artifact's path leads out of the session folder.
        """
        what = f"{SESSION_FILE} of session {self.root.name} artifact {artifact.index}"
        return resolve_inside(self.root, artifact.path, what=what, folder="the session folder", absolute=True)

    def session_file(self, name: str, *, what: str) -> Path:
        """A file a routed request names (recorded absolute), checked to lie inside the session folder.

        Raises:
            MoraError: ``name`` leads out of the session folder.
        """
        return resolve_inside(self.root, name, what=what, folder="the session folder", absolute=True)

    def import_files(self, files: dict[str, Path]) -> None:
        """Link ``files`` (name as a turn says it -> file, from :func:`script_files`) into ``inputs/``.

        Raises:
            DiskFullError: no space is left on the disk of the session folder.
            MoraError: a file cannot be linked or copied.
        """
        from mora_agents.media import link_atomic

        for name, source in files.items():
            target = resolve_inside(self.inputs_dir, name, what=f"session {self.root.name}", folder="its inputs folder")
            try:
                with disk_full_as_error(self.inputs_dir):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    link_atomic(source, target)
            except OSError as error:
                raise MoraError(f"cannot link {source} into {target}: {error.strerror or error}") from None

    def save(self) -> None:
        """Rewrite ``session.json`` atomically.

        Raises:
            DiskFullError: no space was left; ``session.json`` then holds the record written in place where it fit
                (compact JSON over the old file's bytes), else the old record, whole.
        """
        write_text_atomic(
            self.root / SESSION_FILE, self.record.model_dump_json(indent=2), fallback=self.record.model_dump_json()
        )

    def log(self, event: str, **fields: Any) -> None:
        """Append one event to the transcript, durably (a crash loses at most the line being written).

        Raises:
            DiskFullError: no space was left for the line; the transcript is cut back to its last whole line.
        """
        line = json.dumps({"time": now_iso(), "event": event, **fields}, default=str)
        data = memoryview((line + "\n").encode("utf-8"))
        fd = os.open(self.root / TRANSCRIPT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                with disk_full_as_error(self.root):
                    while data:  # a full disk first writes what fits, then fails
                        data = data[os.write(fd, data) :]
                    os.fsync(fd)
            except DiskFullError:
                # A half line would make the whole transcript unreadable; cutting a file back needs no space.
                os.ftruncate(fd, end)
                raise
        finally:
            os.close(fd)

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

    def mark_stale(self, turn_index: int) -> list[SessionArtifact]:
        """Turn ``turn_index``'s result is being made again: every artifact made from it (directly or through
        others) is stale until made again too. Returns those artifacts."""
        remade = {a.index for a in self.record.artifacts if a.turn == turn_index}
        stale: list[SessionArtifact] = []
        for artifact in self.record.artifacts:  # in order: a source always comes before what was made from it
            if set(artifact.sources) & remade:
                artifact.stale = True
                remade.add(artifact.index)
                stale.append(artifact)
        turn = self.record.turns[turn_index - 1]
        turn.status = "running"
        self.save()
        if stale:
            self.log("stale", turn=turn_index, artifacts=[a.index for a in stale])
        return stale

    def add_output(self, turn: TurnRecord, manifest: RunManifest) -> SessionArtifact | None:
        """Record a finished turn's result as the session's next artifact (a turn made again keeps its number)."""
        if manifest.output is None or turn.run_dir is None:
            return None
        earlier = next((a for a in self.record.artifacts if a.turn == turn.index), None)
        if earlier is not None:
            earlier.path = str(Workspace(self.run_folder(turn)).path(manifest.output.path).resolve())
            earlier.stale = False
            self.save()
            return earlier
        prompt = turn.request.inputs.get("prompt") if turn.request else None
        artifact = SessionArtifact(
            index=len(self.record.artifacts) + 1,
            kind=manifest.output.kind,
            path=str(Workspace(self.run_folder(turn)).path(manifest.output.path).resolve()),
            turn=turn.index,
            task=manifest.sop,
            prompt=str(prompt) if prompt is not None else turn.meant or turn.text,  # "#2" answered: what it meant
            sources=sorted({b.artifact for b in turn.request.bindings if b.artifact}) if turn.request else [],
        )
        self.record.artifacts.append(artifact)
        self.save()
        return artifact

    def add_input(self, path: Path, kind: str, description: str) -> SessionArtifact:
        """Record a file a person gave the session (an upload, already inside ``inputs/``) as its next artifact,
        made by a turn of its own, so later turns can point at it ("animate the photo") and undo can take it back.

        Raises:
            MoraError: ``path`` is not inside the session folder.
        """
        where = self.session_file(str(path), what=f"an input of session {self.root.name}")
        turn = self.new_turn(f"(gave {where.name}: {description})")
        turn.status = "completed"
        artifact = SessionArtifact(index=len(self.record.artifacts) + 1, kind=kind, path=str(where), turn=turn.index,
                                   task="input", prompt=description)  # fmt: skip
        self.record.artifacts.append(artifact)
        self.save()
        self.log("input", turn=turn.index, kind=kind, path=str(where), description=description)
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
