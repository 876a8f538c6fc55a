"""A :class:`~._plan.TurnPlan` as the director's answer: a :class:`VideoRequest` to run, or a
:class:`ClarifyingQuestion` that names the candidates as ``/list`` shows them."""

from __future__ import annotations

from collections.abc import Sequence

from mora_agents.director._explanation import explain
from mora_agents.director._labels import artifact_line
from mora_agents.director._plan import PlanQuestion, TurnPlan
from mora_agents.messages import ClarifyingQuestion, InputBinding, SessionArtifact, VideoRequest
from mora_agents.sop import SopSpec


def answer(
    plan: TurnPlan, spec: SopSpec, artifacts: Sequence[SessionArtifact], seed: int
) -> VideoRequest | ClarifyingQuestion:
    """The request the plan describes, or its question (also when a value is out of its input's range)."""
    if plan.question is not None:
        return question(plan.question, spec, artifacts)
    by_index = {a.index: a for a in artifacts}
    inputs: dict[str, str | float | int] = {}
    bindings: list[InputBinding] = []
    for bound in plan.bindings:
        item = spec.inputs[bound.input]
        if bound.value is not None:
            try:
                inputs[bound.input] = item.coerce(bound.input, bound.value)
            except ValueError as error:
                return question(PlanQuestion(input=bound.input, reason=str(error)), spec, artifacts)
        elif bound.file is not None:
            inputs[bound.input] = bound.file
            bindings.append(InputBinding(input=bound.input, phrase=bound.file, file=bound.file, how="file"))
        elif bound.artifact is not None:
            inputs[bound.input] = by_index[bound.artifact].path
            how = bound.how if bound.how in ("position", "listed", "turn", "llm") else "model"
            bindings.append(InputBinding(input=bound.input, artifact=bound.artifact, frame=bound.frame, how=how))
    explanation = explain(spec, inputs, bindings, list(artifacts))
    return VideoRequest(task=spec.name, inputs=inputs, seed=seed, explanation=explanation, bindings=bindings)


def question(asked: PlanQuestion, spec: SopSpec, artifacts: Sequence[SessionArtifact]) -> ClarifyingQuestion:
    """The question in words: why it asks, and each candidate as ``#3 clip 2 (a lighthouse at night)``."""
    listed = [a for a in artifacts if a.index in asked.candidates]
    sentences = [asked.reason[0].upper() + asked.reason[1:] + "."]
    if listed:
        options = "; ".join(artifact_line(a, list(artifacts)) for a in listed)
        sentences.append(f"Which one do you mean: {options}? Answer with its number, e.g. '#{listed[0].index}'.")
    elif asked.input is None:
        sentences.append("Say it in other words, e.g. 'make a new video of ...' or 'extend #2 by 3 seconds'.")
    elif (kind := spec.inputs[asked.input].type) in ("image", "video"):
        if any(a.kind == kind for a in artifacts):
            sentences.append("Say which one, e.g. '#2' or 'the first clip', or name a file.")
        else:
            example = "an image file, e.g. 'photo.png'" if kind == "image" else "a video file, e.g. 'holiday.mp4'"
            sentences.append(f"Name {example}.")
    missing = [asked.input] if asked.input else []
    return ClarifyingQuestion(
        question=" ".join(sentences), task=spec.name, missing=missing, candidates=[a.index for a in listed]
    )
