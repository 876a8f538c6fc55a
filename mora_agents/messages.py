"""The structured messages agents exchange: one module, one place.

Each model travels inside an AutoGen ``StructuredMessage[T]``. Artifacts travel by reference: a
workspace-relative path, its sha256, the model and parameters that made it, and the seed; never pixels.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, computed_field, model_validator

ReviewAction = Literal["accept", "regenerate", "edit"]


class InputBinding(BaseModel):
    """How the director filled one image or video input: which words pointed at which artifact or file."""

    input: str
    """The SOP input, e.g. ``video2``."""
    phrase: str = ""
    """The user's words that pointed, e.g. "the kite clip" (empty when nothing was said: the latest)."""
    artifact: int | None = None
    """The session artifact's number, as ``/list`` shows it; ``None`` for a file named in the turn."""
    file: str | None = None
    """The file named in the turn, for an input that is not a session artifact."""
    how: Literal["listed", "position", "turn", "file", "model", "llm", "content", "pronoun", "latest", "only"] = "model"
    """Named by a closed grammar: a /list number ("#3"), a numbered kind ("clip 2"), a turn ("turn 2") or a file
    name; else chosen by the trained model or by an LLM from the words and the session. (``content``,
    ``pronoun``, ``latest`` and ``only`` are how sessions recorded before the model was chosen name theirs.)"""
    frame: Literal["first", "last"] | None = None
    """The input is that frame of the artifact (a video): the conversation extracts it before the run."""


MAX_SEED = 2**63 - 1
"""The largest seed a request may carry: a signed 64-bit integer, what torch's generators and SQLite store. Stages
derive theirs by adding a few (reseeds, regenerations), which stays below torch's limit of 2**64 - 1."""


class VideoRequest(BaseModel):
    """What the user asked for: which SOP to run and with which inputs."""

    task: str = "text_to_video"
    """The SOP's name, e.g. ``text_to_video``."""
    inputs: dict[str, str | float | int] = Field(default_factory=dict)
    """The SOP's inputs by name, e.g. ``{"prompt": "a corgi on a beach", "duration": 4}``. An image input bound to a
    frame (see :attr:`bindings`) holds the video's path until the conversation extracts the frame."""
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    """Base seed of the run, 0 to :data:`MAX_SEED`; every stage derives its own seed from it."""
    explanation: str = ""
    """What the director understood, in one line, e.g. "extend clip 2 (a lighthouse at night) by 2 s"."""
    bindings: list[InputBinding] = Field(default_factory=list)
    """Which words chose each image and video input."""


class PromptEnhancementRequest(BaseModel):
    """Ask A1 to enhance a prompt, or (with ``instruction``) to revise one."""

    prompt: str = Field(min_length=1)
    """The prompt to enhance or revise."""
    instruction: str | None = None
    """An edit instruction from the reviewer; when set, A1 revises ``prompt`` accordingly."""
    suffix: str | None = None
    """Appended to the final prompt unless already there, e.g. ``in digital world style`` (paper App. A.3)."""


class EnhancedPrompt(BaseModel):
    """A1's answer: a prompt ready for the image and video models."""

    bindable_fields: ClassVar[tuple[str, ...]] = ("prompt",)
    """SOP bindings reach ``$step.prompt``."""

    original: str
    """The prompt A1 was given."""
    prompt: str = Field(min_length=1)
    """The enhanced (or revised) prompt."""
    source: Literal["llm", "fallback"]
    """``llm`` when the model's answer passed validation, ``fallback`` when the original was kept."""
    model: str
    """The LLM that produced it."""
    warning: str | None = None
    """Why the fallback was taken, when it was."""
    attempts: int = 1
    """How many answers A1 asked the LLM for: a second one when the first dropped or borrowed words."""
    lost: list[str] = Field(default_factory=list)
    """The asked words a rejected answer dropped (the first one that did), e.g. ``["landing", "night"]``."""
    borrowed: list[str] = Field(default_factory=list)
    """Phrases a rejected answer copied from A1's worked examples instead of the request."""
    seconds: float = 0.0
    """Wall time of the LLM call."""


class TextToImageRequest(BaseModel):
    """Ask A2 for a first frame."""

    prompt: str = Field(min_length=1)
    seed: int = Field(ge=0)


class ImageToImageRequest(BaseModel):
    """Ask A3 to edit an image by an instruction (also: style transfer)."""

    image: ImageArtifact
    instruction: str = Field(min_length=1)
    seed: int = Field(ge=0)


class ImageToVideoRequest(BaseModel):
    """Ask A4 to animate an image into a video of ``duration`` seconds."""

    image: ImageArtifact
    duration: float = Field(gt=0, le=600)
    skip_first_frame: bool = False
    """Leave out the first frame (it re-renders ``image``): for continuing a video that already shows it."""
    prompt: str | None = None
    """What the video shows, for prompt-conditioned video models (Wan); models without text (SVD) ignore it."""
    seed: int = Field(ge=0)


class VideoConnectionRequest(BaseModel):
    """Ask A5 for a transition of ``duration`` seconds from ``first`` (clip 1's last frame) to ``last``
    (clip 2's first frame); the two end frames themselves are not repeated."""

    first: ImageArtifact
    last: ImageArtifact
    duration: float = Field(gt=0, le=600)
    prompt: str = ""
    """Optional description of the transition (used by text-conditioned models)."""
    seed: int = Field(ge=0)


class ArtifactRef(BaseModel):
    """A file in the run's workspace and everything needed to make it again."""

    path: str
    """Workspace-relative POSIX path."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_id: str
    """The model (Hugging Face id, local path, or tiny-profile folder) that produced it."""
    parameters: dict[str, object] = Field(default_factory=dict)
    """Generation parameters as passed to the pipeline (steps, guidance, size, ...)."""
    seed: int
    seconds: float
    """Wall time spent producing it."""


class ImageArtifact(ArtifactRef):
    """A still image, e.g. a first frame."""

    export_name: ClassVar[str] = "image"
    """SOP bindings reach the whole artifact as ``$step.image``."""

    kind: Literal["image"] = "image"
    width: int
    height: int


class VideoArtifact(ArtifactRef):
    """An MP4 video."""

    export_name: ClassVar[str] = "video"
    """SOP bindings reach the whole artifact as ``$step.video``."""

    kind: Literal["video"] = "video"
    width: int
    height: int
    fps: float
    num_frames: int
    segments: int = 1
    """How many chained generator calls made it (each started from the previous one's last frame)."""

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


Artifact = ImageArtifact | VideoArtifact


class JudgeRequest(BaseModel):
    """Ask a judge to rank candidates (images or videos) for one request under one criterion (paper App. A.6).

    Candidates carry workspace-relative paths; the judge is told the files' root, never the message.
    """

    request: str
    """What the user asked for (the prompt the candidates were made from)."""
    criterion: str = Field(min_length=1)
    """The criterion to rank by, e.g. one of the paper's ten (Table 3)."""
    candidates: list[ImageArtifact | VideoArtifact] = Field(min_length=1)
    """What to rank; a verdict refers to them by index (0-based)."""


class JudgeVerdict(BaseModel):
    """A judge's answer: a ranking best first, and the top candidate if any is acceptable.

    Three outcomes differ: ``top`` set (that one wins), ``top=None`` with ``abstained=False`` (the judge looked
    and found none acceptable), ``abstained=True`` (the judge could not judge; its vote is left out).
    """

    judge: str
    """Who judged (``metric``, ``openai:<model>@<where>``, ...)."""
    ranking: list[int] = Field(default_factory=list)
    """Candidate indices, best first; empty when abstaining."""
    top: int | None = None
    """The best acceptable candidate (``ranking[0]``); ``None``: none acceptable, or abstained."""
    reasons: str = ""
    """Why, in the judge's words (or why it abstained)."""
    abstained: bool = False
    """The judge gave no usable answer (unreadable reply, no frames, server down): not a vote."""

    @model_validator(mode="after")
    def _consistent(self) -> JudgeVerdict:
        if self.abstained and (self.ranking or self.top is not None):
            raise ValueError("an abstaining verdict has no ranking and no top")
        if self.top is not None and (not self.ranking or self.ranking[0] != self.top):
            raise ValueError(f"top must be the first of the ranking, got top={self.top} and ranking={self.ranking}")
        if len(set(self.ranking)) != len(self.ranking) or any(index < 0 for index in self.ranking):
            raise ValueError(f"the ranking must list distinct candidate indices, got {self.ranking}")
        return self


class JudgeVotes(BaseModel):
    """What a judge panel said about one review, recorded on the decision (and so in the manifest)."""

    outcome: Literal["agreed", "none_acceptable", "disagreed", "all_abstained"]
    """``agreed``: the voting judges share a top-1; ``none_acceptable``: they all found none acceptable;
    ``disagreed`` / ``all_abstained``: the human decided."""
    criterion: str
    """The criterion the judges ranked by."""
    verdicts: list[JudgeVerdict] = Field(default_factory=list)
    """Every judge's verdict, abstentions included."""


class ReviewRequest(BaseModel):
    """Ask the human proxy to judge one stage's result."""

    stage: str
    """The SOP step under review."""
    iteration: int = Field(ge=1)
    max_iterations: int = Field(ge=1)
    artifact: ImageArtifact | VideoArtifact | EnhancedPrompt
    can_edit: bool = False
    """Whether an ``edit`` decision has an agent to carry it out at this stage."""
    request: str = ""
    """What the user asked for in words (the run's text inputs): judges rank the result against it."""

    @computed_field
    @property
    def allowed(self) -> list[ReviewAction]:
        """The decisions this review takes: ``edit`` only where an agent can carry it out."""
        return ["accept", "regenerate", "edit"] if self.can_edit else ["accept", "regenerate"]


class ReviewDecision(BaseModel):
    """The human proxy's verdict: accept, regenerate, or edit with an instruction."""

    action: ReviewAction
    instruction: str | None = None
    """Required for ``edit``: what to change."""
    by: str = "human"
    """Which review source decided (auto, console, scripted, ...)."""
    votes: JudgeVotes | None = None
    """The judge panel's verdicts when judges reviewed (review mode ``judge``); ``None`` otherwise."""

    @model_validator(mode="after")
    def _instruction_matches_action(self) -> ReviewDecision:
        if self.action == "edit" and not (self.instruction and self.instruction.strip()):
            raise ValueError("an 'edit' decision needs an instruction, e.g. 'edit warmer light'")
        if self.action != "edit" and self.instruction:
            raise ValueError(f"a '{self.action}' decision takes no instruction")
        return self

    @classmethod
    def parse(cls, text: str, by: str = "human") -> ReviewDecision:
        """Read ``accept`` / ``regenerate`` / ``edit <instruction>`` (also ``a``, ``r``, ``e ...``).

        Raises:
            ValueError: the text is none of those.
        """
        words = text.strip().split(maxsplit=1)
        if not words:
            raise ValueError("empty answer: type accept, regenerate, or edit <instruction>")
        head = words[0].lower()
        rest = words[1].strip().strip("\"'") if len(words) > 1 else None
        aliases = {"a": "accept", "y": "accept", "yes": "accept", "r": "regenerate", "e": "edit"}
        action = aliases.get(head, head)
        if action not in ("accept", "regenerate", "edit"):
            raise ValueError(f"'{text.strip()}' is not a decision: type accept, regenerate, or edit <instruction>")
        if action != "edit" and rest:
            raise ValueError(f"'{action}' takes no instruction, got '{rest}'")
        return cls(action=action, instruction=rest if action == "edit" else None, by=by)

    def __str__(self) -> str:
        return f"edit {self.instruction}" if self.action == "edit" else self.action


ImageToImageRequest.model_rebuild()
ImageToVideoRequest.model_rebuild()
VideoConnectionRequest.model_rebuild()


class SessionArtifact(BaseModel):
    """A video or image made (or given) earlier in a session, that later turns can refer to."""

    index: int = Field(ge=1)
    """1-based, in the order the session produced them: "the first clip" is the first video."""
    kind: Literal["image", "video"]
    path: str
    """Absolute path of the file."""
    turn: int = Field(ge=1)
    """The user turn that produced it."""
    task: str
    """The SOP that made it (``input`` for files the user gave)."""
    prompt: str | None = None
    """What it shows, in the words of the request that made it."""
    sources: list[int] = Field(default_factory=list)
    """The artifacts it was made from (an edit's, an extension's, a connection's inputs), by number."""
    stale: bool = False
    """Made from an artifact that was made again since: it no longer shows what its sources show now."""


class QuestionAnswer(BaseModel):
    """What a person settled by answering the director's question with a number ("#3"): the task it asked about
    and the artifact chosen for each input asked about so far."""

    task: str
    inputs: dict[str, int] = Field(default_factory=dict)
    """Input name -> artifact number, as ``/list`` shows it."""


class DirectorTurn(BaseModel):
    """One user turn for the director, with what the session has made so far."""

    text: str = Field(min_length=1)
    artifacts: list[SessionArtifact] = Field(default_factory=list)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    """The seed the resulting request gets."""
    answered: QuestionAnswer | None = None
    """When ``text`` is a turn asked about before, what the person's answers settled."""


class ClarifyingQuestion(BaseModel):
    """The director's answer when a request cannot be run as it stands."""

    question: str
    task: str | None = None
    """The task the director believes was meant, if any."""
    missing: list[str] = Field(default_factory=list)
    """The inputs it could not fill."""
    candidates: list[int] = Field(default_factory=list)
    """The artifacts (by number, as ``/list`` shows them) the request may mean, when it points at several: a reply
    of just one of their numbers answers the question (for the first of ``missing``)."""


# -- what a run tells whoever watches it (the CLI's progress, a server's event stream) -------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StudioEventBase(BaseModel):
    """What every event carries: the run it belongs to and when it happened."""

    run_id: str = ""
    time: str = Field(default_factory=_now)


class StageStarted(StudioEventBase):
    """An SOP step's agent was asked for (another) result."""

    type: Literal["stage_started"] = "stage_started"
    stage: str
    iteration: int = Field(ge=1)
    agent: str


class StepProgress(StudioEventBase):
    """A pipeline call advanced (one denoising step, one segment). ``task`` names the bar, e.g. "first_frame"."""

    type: Literal["step_progress"] = "step_progress"
    task: str
    step: int = Field(ge=0)
    total: int = Field(ge=0)
    description: str = ""
    done: bool = False


class ArtifactReady(StudioEventBase):
    """A stage produced a result (before its review)."""

    type: Literal["artifact_ready"] = "artifact_ready"
    stage: str
    iteration: int = Field(ge=1)
    artifact: ImageArtifact | VideoArtifact | EnhancedPrompt


class ReviewRequested(StudioEventBase):
    """A result waits for a decision (``request.allowed`` lists the decisions it takes)."""

    type: Literal["review_requested"] = "review_requested"
    request: ReviewRequest


class ReviewDecided(StudioEventBase):
    type: Literal["review_decided"] = "review_decided"
    stage: str
    iteration: int = Field(ge=1)
    decision: ReviewDecision


class StageNote(StudioEventBase):
    """Something a watcher should know that changes no result: a step skipped, a stage kept from an interrupted
    run, an edit applied, the iteration limit reached, the output being joined."""

    type: Literal["stage_note"] = "stage_note"
    stage: str
    text: str


class RunFinished(StudioEventBase):
    type: Literal["run_finished"] = "run_finished"
    output: ImageArtifact | VideoArtifact | None = None
    """The result, its path relative to the run folder."""


class RunFailed(StudioEventBase):
    type: Literal["run_failed"] = "run_failed"
    error: str


class RunCancelled(StudioEventBase):
    type: Literal["run_cancelled"] = "run_cancelled"
    reason: str = ""


StudioEvent = Annotated[
    StageStarted
    | StepProgress
    | ArtifactReady
    | ReviewRequested
    | ReviewDecided
    | StageNote
    | RunFinished
    | RunFailed
    | RunCancelled,
    Field(discriminator="type"),
]
"""Every event a run emits, told apart by ``type`` (a server sends them as JSON, a client reads them back with
``TypeAdapter(StudioEvent)``)."""


# -- what a chat session tells whoever watches it (a server's session stream, the web studio) ---------------------


class SessionEventBase(BaseModel):
    """What a session's own events carry: when they happened."""

    time: str = Field(default_factory=_now)


class TurnPlanned(SessionEventBase):
    """The director took a turn: it asked a question, or queued a job for what it understood."""

    type: Literal["turn_planned"] = "turn_planned"
    turn: int = Field(ge=1)
    text: str
    """What the person said."""
    status: Literal["asked", "queued"]
    explanation: str | None = None
    """What the director understood (``queued``)."""
    question: ClarifyingQuestion | None = None
    """What it asks (``asked``)."""
    job: str | None = None
    """The job that runs the turn (``queued``)."""


class InputAdded(SessionEventBase):
    """A person gave the session a file (an upload): later turns can point at it ("animate the photo")."""

    type: Literal["input_added"] = "input_added"
    artifact: SessionArtifact


class SessionJobEvent(BaseModel):
    """One event of a job that runs a turn of the session."""

    type: Literal["job_event"] = "job_event"
    job: str
    turn: int = Field(ge=1)
    event: StudioEvent


SessionEvent = Annotated[TurnPlanned | InputAdded | SessionJobEvent, Field(discriminator="type")]
"""Every event of a session's stream, in the order they happened (``TypeAdapter(SessionEvent)`` reads one)."""
