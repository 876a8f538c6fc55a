"""The training data folder (``DATA``) that synthesis writes and training reads, and its validation.

Layout (Hugging Face ``datasets`` loads it with ``load_dataset("videofolder", data_dir=DATA)``: the metadata sits
at the root and names each video relative to it; no folder is called ``train`` or ``test``, which ``datasets``
would take for a split and then ignore the metadata)::

    DATA/
        metadata.jsonl                       one TrainingSample per line, sorted by set id; rewritten atomically
        samples/<set-id>/video.mp4           the selected candidate's video (a hard link, a copy where links fail)
        samples/<set-id>/first_frame.png     the image A4 animated: A2's target, A4's teacher-forced input
        sets/<set-id>/state.json             one candidate set as synthesis left it (see :class:`SetState` below)
        sets/<set-id>/candidates/c<k>/       the K run folders (manifest.json, video.mp4, stages/...)
        queue.yaml                           sets waiting for a person (human mode ``queue``)
        synthesis.json                       the settings the folder was made with

Only ``metadata.jsonl`` and ``samples/`` matter to training; the rest is provenance and synthesis' own state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mora_agents.containment import resolve_inside
from mora_agents.errors import MoraError
from mora_agents.messages import JudgeVerdict, JudgeVotes, VideoArtifact
from mora_agents.workspace import write_text_atomic

METADATA_NAME = "metadata.jsonl"
SAMPLES_DIR = "samples"
SETS_DIR = "sets"
STATE_NAME = "state.json"
CANDIDATES_DIR = "candidates"
QUEUE_NAME = "queue.yaml"
SETTINGS_NAME = "synthesis.json"
VIDEO_NAME = "video.mp4"
FIRST_FRAME_NAME = "first_frame.png"

DecidedBy = Literal["judges", "human", "human (queue)"]


class TrainingSample(BaseModel):
    """One row of ``metadata.jsonl``: a selected video, what made it, and who selected it."""

    model_config = ConfigDict(extra="ignore")

    file_name: str
    """The video, relative to DATA (POSIX): ``samples/<set-id>/video.mp4``; ``datasets`` reads it as ``video``."""
    first_frame: str
    """The first frame as a PNG, relative to DATA: the image A4 animated, i.e. A2's target and A4's
    teacher-forced input. A plain string column (a ``*_file_name`` column would make ``datasets`` decode it)."""
    prompt: str = Field(min_length=1)
    """The enhanced prompt the image and video agents received (A1's output in the selected run)."""
    seed_prompt: str
    """The user's seed prompt the set was made from."""
    set_id: str = Field(min_length=1)
    """The candidate set, e.g. ``p002-v1`` (seed prompt 2, variant 1)."""
    sop: str
    """The task that made the candidates, e.g. ``text_to_video``."""
    profile: str
    """The model profile the candidates were made with."""
    seed: int = Field(ge=0)
    """The selected candidate's run seed."""
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    num_frames: int = Field(ge=1)
    criterion: str
    """The criterion the judges ranked by (one of the paper's ten, drawn per set)."""
    votes: list[JudgeVerdict] = Field(default_factory=list)
    """Every judge's verdict on the set, abstentions included."""
    decided_by: DecidedBy
    """``judges`` (they agreed on the top-1), ``human`` (asked at once), ``human (queue)`` (answered in queue.yaml)."""
    chosen: int = Field(ge=0)
    """The selected candidate's index in the set."""
    candidates: int = Field(ge=1)
    """How many candidates the set had (K)."""
    iteration: int = Field(ge=0)
    """The learning loop's iteration that made the data."""

    @field_validator("file_name", "first_frame")
    @classmethod
    def _inside_data(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError(f"must be a path relative to the data folder, got '{value}'")
        return value

    @model_validator(mode="after")
    def _chosen_in_set(self) -> TrainingSample:
        if self.chosen >= self.candidates:
            raise ValueError(f"chosen is {self.chosen}, but the set had {self.candidates} candidates")
        return self


# --- synthesis' own state in DATA: sets/<set-id>/state.json and synthesis.json ---------------------------------


class CandidateRecord(BaseModel):
    """One finished candidate run of a set."""

    index: int = Field(ge=0)
    run: str
    """The run folder, relative to the set folder: ``candidates/c<k>``."""
    seed: int = Field(ge=0)
    """The run's seed."""
    video: VideoArtifact
    """The run's output, its ``path`` relative to the set folder (what the judges are given)."""
    prompt: str
    """The enhanced prompt the run's image and video agents received (A1's output in that run)."""
    first_frame: str | None = None
    """The image A4 animated, relative to the set folder; ``None``: take the video's first frame."""


class SetState(BaseModel):
    """``sets/<set-id>/state.json``: one candidate set, from its prompt to its decision."""

    set_id: str
    number: int = Field(ge=0)
    """The set's position in the synthesis (0-based): candidate seeds derive from it."""
    seed_prompt: str
    variant: int = Field(ge=1)
    prompt: str
    """What the SOP was given as its prompt: the seed prompt (variant 1) or A1's variation of it."""
    prompt_source: Literal["seed", "llm", "fallback"]
    """``fallback``: A1's variation was unusable or a repeat, so a fixed camera/light pairing was appended."""
    prompt_note: str | None = None
    criterion: str
    """The criterion the judges rank by, drawn at random from the paper's ten."""
    status: Literal["pending", "decided", "discarded"] = "pending"
    candidates: list[CandidateRecord] = Field(default_factory=list)
    votes: JudgeVotes | None = None
    """The judges' outcome and verdicts, once judged."""
    queued: bool = False
    """Waiting in ``queue.yaml`` for a person's answer."""
    decided_by: Literal["judges", "human", "human (queue)", "no human"] | None = None
    answer: str | None = None
    """The human's answer as given."""
    chosen: int | None = None
    sample: TrainingSample | None = None
    """The row this set contributes to ``metadata.jsonl`` (decided sets)."""
    updated: str = ""


class SynthesisSettings(BaseModel):
    """``synthesis.json``: what DATA was made with. Resuming with other settings is refused."""

    sop: str
    profile: str
    candidates: int
    variants: int
    judges: list[str]
    human: str
    seed: int
    iteration: int
    adapters: str | None
    duration: float | None
    llm: str | None
    criterion_seed: int | None
    prompts: list[str]
    """The seed prompts; a later run may append prompts, not change or drop them."""


def metadata_text(samples: list[TrainingSample]) -> str:
    """``metadata.jsonl``'s text: one compact JSON object per line."""
    return "".join(sample.model_dump_json() + "\n" for sample in samples)


def write_metadata(data_dir: str | os.PathLike, samples: list[TrainingSample]) -> bool:
    """Rewrite ``metadata.jsonl`` atomically (a reader never sees half of it); leave it alone when unchanged.

    Returns:
        Whether the file was written.
    """
    path = Path(data_dir) / METADATA_NAME
    text = metadata_text(samples)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text)
    return True


def load_training_data(data_dir: str | os.PathLike, *, size: tuple[int, int] | None = None) -> list[TrainingSample]:
    """Read and check ``DATA/metadata.jsonl`` and every file it names.

    Every row must parse, fit :class:`TrainingSample`, name a readable video and first frame whose sizes match the
    row (and the video's frame count), and have one common size: ``size`` (width, height) when given, else the
    first row's. Blank lines are skipped.

    Args:
        data_dir: the DATA folder.
        size: the frame size training expects, ``(width, height)``; ``None``: whatever the first row has.

    Returns:
        The rows, in file order.

    Raises:
        MoraError: one sentence naming the file, the line and (when known) the set, e.g.
            ``DATA/metadata.jsonl line 3 (set p002-v1): samples/p002-v1/video.mp4 is 64x32, the other samples are
            64x64``.
    """
    root = Path(data_dir)
    path = root / METADATA_NAME
    if not root.is_dir():
        raise MoraError(f"the training data folder {root} does not exist: make one with mora learn synthesize")
    if not path.is_file():
        raise MoraError(f"{root} has no {METADATA_NAME}: it is not a training data folder (mora learn synthesize)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise MoraError(f"cannot read {path}: {_first_line(error)}") from None
    samples: list[TrainingSample] = []
    seen: dict[str, int] = {}
    expected = size
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        sample = _parse_row(line, where)
        where = f"{where} (set {sample.set_id})"
        if sample.set_id in seen:
            raise MoraError(f"{where}: the set already has a row on line {seen[sample.set_id]}")
        seen[sample.set_id] = number
        width, height = _check_media(root, sample, where)
        if expected is None:
            expected = (width, height)
        elif (width, height) != tuple(expected):
            others = "the training size is" if size is not None else "the other samples are"
            raise MoraError(f"{where}: {sample.file_name} is {width}x{height}, {others} {expected[0]}x{expected[1]}")
        samples.append(sample)
    if not samples:
        raise MoraError(f"{path} has no samples: synthesis kept no set yet (see its queue.yaml, or add prompts)")
    return samples


def _parse_row(line: str, where: str) -> TrainingSample:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise MoraError(f"{where} is not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise MoraError(f"{where} is not a JSON object but {type(data).__name__}")
    set_id = data.get("set_id")
    if isinstance(set_id, str) and set_id:
        where = f"{where} (set {set_id})"
    try:
        return TrainingSample.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "the row"
        message = problem["msg"].removeprefix("Value error, ")
        raise MoraError(f"{where}: field '{field}': {_one_line(message)}") from None


def data_file(root: str | os.PathLike, name: str, *, where: str) -> Path:
    """The file a DATA row names, checked to lie inside the DATA folder (symlinks included).

    The row model already refuses absolute names and ``..``; this also catches a symlink under DATA that points
    out of it.

    Args:
        root: the DATA folder.
        name: ``file_name`` or ``first_frame`` of a row.
        where: the row, for the message (``DATA/metadata.jsonl line 3``).

    Raises:
        MoraError: ``name`` leads out of the DATA folder.
    """
    return resolve_inside(root, name, what=where, folder="the data folder")


def _check_media(root: Path, sample: TrainingSample, where: str) -> tuple[int, int]:
    """The video's (width, height), after checking it and its first frame against the row."""
    from mora_agents.media import iter_frames, load_image

    for name in (sample.file_name, sample.first_frame):
        data_file(root, name, where=where)  # first: a symlink out of DATA is refused before anything opens it
        if not (root / name).exists():
            raise MoraError(f"{where}: {name} is missing")
    count, frame_size = 0, (0, 0)
    try:
        for _, frame in iter_frames(root / sample.file_name):
            if not count:
                frame_size = (frame.shape[1], frame.shape[0])
            count += 1
    except MoraError as error:
        raise _in_row(error, root, sample.file_name, where) from None
    if not count:
        raise MoraError(f"{where}: {sample.file_name} has no frames")
    if frame_size != (sample.width, sample.height):
        shown = f"{frame_size[0]}x{frame_size[1]}"
        raise MoraError(f"{where}: {sample.file_name} is {shown}, the row says {sample.width}x{sample.height}")
    if count != sample.num_frames:
        raise MoraError(f"{where}: {sample.file_name} has {count} frames, the row says {sample.num_frames}")
    try:
        image_size = load_image(root / sample.first_frame).size
    except MoraError as error:
        raise _in_row(error, root, sample.first_frame, where) from None
    if image_size != frame_size:
        raise MoraError(
            f"{where}: {sample.first_frame} is {image_size[0]}x{image_size[1]}, "
            f"its video is {frame_size[0]}x{frame_size[1]}"
        )
    return frame_size


def _in_row(error: MoraError, root: Path, name: str, where: str) -> MoraError:
    """The media guard's sentence, led by the row and naming the file as the row does (relative to DATA)."""
    return MoraError(f"{where}: {str(error).replace(str(root / name), name)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
