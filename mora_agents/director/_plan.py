"""The director's one output type, :class:`TurnPlan`, and the per-turn JSON schema a model fills it through.

A resolver (the learned model, an LLM) fills a plan: the task, each input bound to an artifact (or a frame of a
clip), a file or a value; or a question. :func:`plan_schema` builds, for one turn, a schema whose enums hold only
this session's artifact numbers and the registered SOP names, so a model cannot name what does not exist.
:func:`check_plan` then checks what a schema cannot: kinds fit, required inputs are present.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, TypeVar

from autogen_core import CancellationToken
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from mora_agents.director._durations import parse_counts
from mora_agents.director._front import TurnReading
from mora_agents.messages import QuestionAnswer, SessionArtifact
from mora_agents.sop import SopSpec

ModelT = TypeVar("ModelT", bound=BaseModel)


class PlanBinding(BaseModel):
    """One input of the plan."""

    model_config = ConfigDict(extra="forbid")

    input: str
    artifact: int | None = None
    """A session artifact, by its /list number."""
    frame: Literal["first", "last"] | None = None
    """For an image input: that frame of the artifact (a clip)."""
    file: str | None = None
    """A file named in the turn."""
    value: str | float | int | None = None
    """A prompt, a duration, a choice."""
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    """The resolver's confidence in this binding."""
    how: str = "model"
    """``listed`` / ``position`` / ``turn`` (a closed-grammar mention), ``file``, ``only`` (one fits), ``model``,
    ``llm`` or ``value``."""


class PlanQuestion(BaseModel):
    """What the resolver cannot settle: the input (``None``: the task) and the artifacts it could mean."""

    model_config = ConfigDict(extra="forbid")

    input: str | None = None
    candidates: list[int] = Field(default_factory=list)
    reason: str
    """Why it asks, in a sentence ("two clips fit 'the dolphin clip' about equally")."""


class TurnPlan(BaseModel):
    """What the director makes of one turn: a task with bound inputs, or a question."""

    model_config = ConfigDict(extra="forbid")

    task: str
    bindings: list[PlanBinding] = Field(default_factory=list)
    question: PlanQuestion | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    """The plan's probability (the task's times each input's), as the resolver estimates it."""
    resolver: str
    """Who filled it: ``learned`` or ``llm``."""
    ranking: list[tuple[str, float]] = Field(default_factory=list)
    """The tasks by the resolver's probability, best first, where it has one."""

    def binding(self, name: str) -> PlanBinding | None:
        return next((b for b in self.bindings if b.input == name), None)


class PlanResolver(Protocol):
    """Fills a :class:`TurnPlan` for a turn: :class:`~._learned.LearnedResolver` (offline, the trained model) or
    :class:`~._llm_plan.LlmResolver` (any AutoGen ``ChatCompletionClient`` with structured output)."""

    name: str

    async def resolve(
        self,
        reading: TurnReading,
        artifacts: Sequence[SessionArtifact],
        sops: Mapping[str, SopSpec],
        cancellation_token: CancellationToken | None = None,
    ) -> TurnPlan: ...


def plan_schema(sops: Mapping[str, SopSpec], artifacts: Sequence[SessionArtifact]) -> type[BaseModel]:
    """The answer model for one turn: ``task`` one of the SOP names; per media input name, an artifact number of
    this session (or ``null``) and a frame; ``ask`` the artifact numbers to ask about (empty: none)."""
    tasks = tuple(sorted(sops))
    numbers = tuple(sorted(a.index for a in artifacts))
    media = sorted({n for spec in sops.values() for n, item in spec.inputs.items() if item.type in ("image", "video")})
    number_type = Literal[numbers] if numbers else Literal[0]  # 0: there is nothing to name
    fields: dict = {"task": (Literal[tasks], Field(description="The task to run."))}
    for name in media:
        fields[name] = (number_type | None, Field(description=f"The artifact for input '{name}', or null."))
        fields[f"{name}_frame"] = (
            Literal["none", "first", "last"],
            Field(description=f"For an image input '{name}' taken from a clip: which frame; else none."),
        )
    fields["ask"] = (list[number_type], Field(description="Artifacts to ask the user to choose between; [] if clear."))
    return create_model("TurnPlanAnswer", __config__=ConfigDict(extra="forbid"), **fields)


def check_plan(plan: TurnPlan, spec: SopSpec, artifacts: Sequence[SessionArtifact]) -> TurnPlan:
    """``plan`` if it fits ``spec``; else the same plan with a question saying what does not fit."""
    if plan.question is not None:
        return plan
    by_index = {a.index: a for a in artifacts}
    for binding in plan.bindings:
        item = spec.inputs.get(binding.input)
        if item is None:
            return _ask(plan, None, [], f"{spec.name} has no input '{binding.input}'")
        if binding.artifact is None:
            continue
        artifact = by_index.get(binding.artifact)
        if artifact is None:
            return _ask(plan, binding.input, [], f"there is no #{binding.artifact} in this session")
        if binding.frame and artifact.kind != "video":
            return _ask(plan, binding.input, [], f"#{artifact.index} is {_a(artifact.kind)}: it has no frames")
        if ("image" if binding.frame else artifact.kind) != item.type:
            return _ask(plan, binding.input, [], f"#{artifact.index} is {_a(artifact.kind)}, not {_a(item.type)}")
    bound = {b.input for b in plan.bindings}
    taken = {b.artifact for b in plan.bindings if b.artifact is not None and not b.frame}
    for name, item in spec.inputs.items():
        if item.required and name not in bound and item.default is None:
            pool = [a.index for a in artifacts if a.kind == item.type and a.index not in taken]
            what = item.description or name.replace("_", " ")
            if not pool and item.type in ("image", "video"):
                other = " other" if any(a.kind == item.type for a in artifacts) else ""
                return _ask(plan, name, [], f"there is no{other} {item.type} in this session for {what}")
            reason = f"nothing in the request fills {spec.name}'s required input '{name}' ({what})"
            return _ask(plan, name, pool, reason)
    return plan


def with_answers(plan: TurnPlan, answered: QuestionAnswer | None) -> TurnPlan:
    """``plan`` with the inputs a person settled by answering a question bound as they said, whoever resolved it;
    a question about one of them is answered."""
    if answered is None or plan.task != answered.task:
        return plan
    settled = [PlanBinding(input=n, artifact=a, how="listed") for n, a in answered.inputs.items()]
    bindings = [b for b in plan.bindings if b.input not in answered.inputs] + settled
    question = None if plan.question is not None and plan.question.input in answered.inputs else plan.question
    return plan.model_copy(update={"bindings": bindings, "question": question})


def _ask(plan: TurnPlan, name: str | None, candidates: list[int], reason: str) -> TurnPlan:
    question = PlanQuestion(input=name, candidates=candidates, reason=reason)
    return plan.model_copy(update={"question": question})


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def validate_answer(content: str, model: type[ModelT]) -> tuple[ModelT | None, str]:
    """An LLM's answer (JSON, perhaps fenced in a code block) validated as ``model``, or ``(None, what is wrong)``
    in words the LLM is shown when it is asked again."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"it is not JSON ({error.msg} at character {error.pos})"
    try:
        return model.model_validate(data), ""
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the answer"
        return None, f"{where}: {first['msg']}"


def bind_inputs(spec: SopSpec, reading: TurnReading, chosen: Mapping[str, PlanBinding]) -> list[PlanBinding]:
    """A task's bindings, whoever resolved the turn: each image or video input takes the next file of its kind
    named in the turn, else the next of the resolver's choices in ``chosen`` for inputs of its kind, in order
    ("connect it with extra.mp4": the file and the clip); then the values the closed grammars read."""
    bindings: list[PlanBinding] = []
    files = {kind: [p for p in reading.paths if p.kind == kind] for kind in ("image", "video")}
    media = {name: item.type for name, item in spec.inputs.items() if item.type in ("image", "video")}
    picks = {kind: [chosen[n] for n, k in media.items() if k == kind and n in chosen] for kind in ("image", "video")}
    for name, kind in media.items():
        if files[kind]:
            bindings.append(PlanBinding(input=name, file=files[kind].pop(0).path, how="file"))
        elif picks[kind]:
            bindings.append(picks[kind].pop(0).model_copy(update={"input": name}))
    return bindings + values_of(reading, spec)


def values_of(reading: TurnReading, spec: SopSpec) -> list[PlanBinding]:
    """The inputs a closed grammar fills: the prompt (the turn's words), a duration, a choice said by name."""
    found = []
    texts = [n for n, i in spec.inputs.items() if i.type == "text" and i.required]
    target = "prompt" if "prompt" in texts else texts[0] if len(texts) == 1 else None
    has_seconds = any(i.type == "seconds" for i in spec.inputs.values())
    if target is not None:
        text = reading.prompt_text(drop_durations=has_seconds)
        if any(ch.isalpha() for ch in text):
            found.append(PlanBinding(input=target, value=text, how="value"))
    seconds = [n for n, i in spec.inputs.items() if i.type == "seconds"]
    if seconds:
        # With no text to describe, "by 3" can only be an amount of the task's seconds ("extend the cat one by 3").
        duration = reading.duration(prefer_added=True, amounts=target is None)
        name = "duration" if "duration" in seconds else seconds[0]
        if duration is not None:
            found.append(PlanBinding(input=name, value=duration, how="value"))
    counts = parse_counts(reading.masked)
    numbers = [name for name, item in spec.inputs.items() if item.type == "int"]
    for name in numbers:
        # "two verses" fills the input named verses; a lone count fills a lone number input.
        said = [n for n, noun in counts if noun.rstrip("s") == name.rstrip("s")]
        if not said and len(numbers) == 1 and len(counts) == 1:
            said = [counts[0][0]]
        if said:
            found.append(PlanBinding(input=name, value=said[0], how="value"))
    words = set(reading.masked.lower().replace(",", " ").split())
    for name, item in spec.inputs.items():
        if item.type == "choice":
            said = [c for c in item.choices or [] if c.lower() in words and c != item.default]
            if said:
                found.append(PlanBinding(input=name, value=said[-1], how="value"))
    return found
