"""A run's folder on disk and its manifest.

Layout of one run::

    OUT/<run-id>/
        manifest.json          request, enhanced prompt, every stage and iteration, the result
        first_frame.png        (one file per artifact; regenerated iterations keep their own files)
        video.mp4

Every file is written atomically (temporary file, fsync, rename) as soon as it exists, and the manifest
is rewritten atomically after every stage, so a reader never sees a half-written one. A full disk ends a write
in a :class:`~mora_agents.errors.DiskFullError` (one sentence naming the folder), its temporary file removed; the
manifest then records the failure in place where its old bytes leave room (:func:`overwrite_in_place`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mora_agents.atomic_files import write_atomically
from mora_agents.containment import resolve_inside
from mora_agents.crash_report import note_run
from mora_agents.errors import DiskFullError, MoraError, disk_full_as_error
from mora_agents.messages import EnhancedPrompt, ImageArtifact, ReviewDecision, VideoArtifact, VideoRequest

MANIFEST_NAME = "manifest.json"


class IterationRecord(BaseModel):
    """One attempt at a stage: what it produced and what the reviewer said."""

    index: int = Field(ge=1)
    output: ImageArtifact | VideoArtifact | EnhancedPrompt
    decision: ReviewDecision | None = None
    """``None`` for stages that are not reviewed."""
    refused: bool = False
    """True when the decision asked for another iteration past ``max_iterations``."""
    edited_by: str | None = None
    """The agent that applied the previous iteration's edit instruction, if any."""


class StageRecord(BaseModel):
    """One SOP step as it ran."""

    id: str
    agent: str
    status: Literal["running", "completed", "failed", "skipped"] = "running"
    """``skipped`` when the step's ``when:`` did not hold."""
    iterations: list[IterationRecord] = Field(default_factory=list)
    review_exhausted: bool = False
    """The reviewer still wanted changes after ``max_iterations``: the last result stands."""
    seconds: float = 0.0

    @property
    def result(self) -> ImageArtifact | VideoArtifact | EnhancedPrompt | None:
        return self.iterations[-1].output if self.iterations else None


class MetricRecord(BaseModel):
    """One metric's outcome as stored in a manifest (see :class:`mora_agents.evaluation.metrics.MetricResult`)."""

    value: float | None
    """The score; ``None`` when it could not be computed (``reason`` says why)."""
    range: tuple[float | None, float | None]
    """``(lo, hi)``: the documented range of ``value``; ``None`` for an unbounded end (JSON has no infinity)."""
    method: str
    """What produced the value: the model or classical algorithm and the rule applied."""
    reason: str | None = None
    """Why ``value`` is ``None``."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Metric-specific extras (per-seam numbers, sampling used, ...)."""


class EvaluationRecord(BaseModel):
    """The quality metrics of a run's output (``mora eval``)."""

    metrics_profile: str
    """The metrics profile whose models scored the video (``real``, ``tiny`` or a YAML path)."""
    when: str
    """ISO time of the evaluation."""
    video: str
    """The video scored: workspace-relative for a run, as given for a bare file."""
    task: str | None = None
    """The run's task, which chose the metrics (``None`` for a bare video)."""
    metrics: dict[str, MetricRecord] = Field(default_factory=dict)
    """One record per metric, in the order computed."""


class RunManifest(BaseModel):
    """Everything about one run; ``manifest.json`` is this model dumped as JSON."""

    run_id: str
    mora_version: str
    created: str
    status: Literal["running", "completed", "failed"] = "running"
    sop: str
    profile: str
    llm: str
    review: str
    memory_policy: str = "free"
    """What happened to each stage's models when it ended (``free``, ``offload``, ``keep``)."""
    engine: str = "local"
    """Where the models ran: ``local`` (the run's process) or ``ray`` (each role's actor; ``keep`` there)."""
    request: VideoRequest
    inputs: dict[str, ImageArtifact | VideoArtifact] = Field(default_factory=dict)
    """Image and video inputs as imported into the run folder (``inputs/``)."""
    enhanced_prompt: EnhancedPrompt | None = None
    stages: list[StageRecord] = Field(default_factory=list)
    superseded: list[StageRecord] = Field(default_factory=list)
    """Stages a person asked to make again after the run (their files are kept: the earlier versions)."""
    reseeds: dict[str, int] = Field(default_factory=dict)
    """Stage id -> seed offset of its next making, so a stage made again gives a new result, not the same one."""
    output: VideoArtifact | ImageArtifact | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    evaluation: EvaluationRecord | None = None
    """Quality metrics of the output, written by ``mora eval`` (``None`` until evaluated)."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path: str | os.PathLike, text: str, *, fallback: str | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync, and rename.

    Args:
        path: the file to write (replaced whole, or left as it was).
        text: its new content.
        fallback: when the disk is full, an equivalent shorter text (compact JSON) to write over ``path`` in
            place: see :func:`overwrite_in_place`. ``None``: on a full disk ``path`` keeps its old content.

    Raises:
        DiskFullError: no space was left; the temporary file is removed and ``path`` holds either its old content
            or, with ``fallback``, the new one in place.
    """
    try:
        write_atomically(path, lambda staging: staging.write_text(text, encoding="utf-8"))
    except DiskFullError:
        if fallback is not None:
            overwrite_in_place(path, text, fallback)
        raise


def overwrite_in_place(path: str | os.PathLike, *texts: str) -> bool:
    """On a full disk, write the first of ``texts`` that fits over ``path``'s bytes, without asking for space.

    At 0 bytes free a new file cannot be written, and truncating then rewriting can fail half way, leaving a file
    that is neither old nor new. Bytes already allocated can be overwritten, though: the text is padded with
    spaces (trailing whitespace is valid JSON) to the file's current size and written over it in one call. A text
    longer than the file is not tried; a short or failed write puts the old bytes back.

    Args:
        path: an existing file (a manifest, ``session.json``).
        texts: candidate contents, in order of preference (e.g. the indented JSON, then the compact one).

    Returns:
        `bool`: ``True`` when ``path`` now holds one of ``texts``; ``False`` when none fit or the write failed (the
        file holds its old content then).
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        data = next((encoded for encoded in (text.encode("utf-8") for text in texts) if len(encoded) <= size), None)
        if data is None:
            return False
        old = os.pread(fd, size, 0)
        try:
            written = os.pwrite(fd, data + b" " * (size - len(data)), 0)
        except OSError:
            written = -1
        if written == size:
            with suppress(OSError):  # the bytes are in place for every reader; fsync only makes them durable
                os.fsync(fd)
            return True
        with suppress(OSError):  # put the old bytes back: never leave a file that is neither old nor new
            os.pwrite(fd, old, 0)
        return False
    except OSError:
        return False
    finally:
        os.close(fd)


def new_run_id(task: str) -> str:
    """A sortable, unique folder name: ``20261125-114233-text_to_video-3f9a``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{secrets.token_hex(2)}"


class Workspace:
    """The folder of one run: hands out artifact paths and persists the manifest."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @classmethod
    def create(cls, out_dir: str | os.PathLike, run_id: str) -> Workspace:
        """Make ``out_dir/run_id`` (``out_dir`` may not exist yet).

        Raises:
            DiskFullError: no space is left on the disk of ``out_dir``.
            MoraError: the folder cannot be created (a file is in the way, no permission).
        """
        root = Path(out_dir) / run_id
        try:
            with disk_full_as_error(out_dir):
                root.mkdir(parents=True, exist_ok=False)
        except OSError as error:
            raise MoraError(f"cannot create the run folder {root}: {error.strerror or error}") from None
        note_run(root)  # a supervisor marks it failed if native code kills this process
        return cls(root)

    def path(self, relative: str) -> Path:
        """The file ``relative`` names in this run folder: the one door for every artifact path of a manifest.

        Args:
            relative: a workspace-relative path, as a manifest records it.

        Returns:
            `Path`: ``root / relative`` (as joined, so printed paths keep the form the run folder was given in).

        Raises:
            MoraError: ``relative`` is absolute, or leads out of the run folder (``..``, a symlink pointing out).
        """
        resolve_inside(self.root, relative, what=f"{MANIFEST_NAME} of run {self.root.name}", folder="the run folder")
        return self.root / relative

    def relative(self, path: str | os.PathLike) -> str:
        """Workspace-relative POSIX path of a file inside the workspace."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def unique_name(self, stem: str, suffix: str) -> str:
        """``stem.suffix``, or ``stem_2.suffix``, ... if taken: regenerated iterations keep their files."""
        name, n = f"{stem}{suffix}", 1
        while self.path(name).exists():
            n += 1
            name = f"{stem}_{n}{suffix}"
        return name

    def publish(self, relative: str, name: str) -> str:
        """Expose an artifact under a stable top-level ``name`` (a hard link, a copy where links fail).

        Returns:
            ``name``, the published workspace-relative path.
        """
        from mora_agents.media import link_atomic

        link_atomic(self.path(relative), self.path(name))
        return name

    def save_manifest(self, manifest: RunManifest) -> None:
        """Rewrite ``manifest.json`` atomically.

        Raises:
            DiskFullError: no space was left. The manifest was then written over the old one's bytes where it fit
                (compact JSON is shorter than the indented file: a run's ``failed`` usually fits), else the old one
                stays, whole and valid.
        """
        write_text_atomic(
            self.path(MANIFEST_NAME), manifest.model_dump_json(indent=2), fallback=manifest.model_dump_json()
        )

    def load_manifest(self) -> RunManifest:
        path = self.path(MANIFEST_NAME)
        try:
            return RunManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise MoraError(f"no manifest in {self.root}") from None
        except (json.JSONDecodeError, ValueError) as error:
            raise MoraError(f"{path} is not a valid manifest ({_first_line(error)})") from None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
