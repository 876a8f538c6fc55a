"""The director corpus format (``tests/director_corpus/*.yaml``): a session, one turn, and what it means.

Read by the corpus test, by training (:mod:`mora_agents.director.training`) and by ``benchmarks/director_routing.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mora_agents.messages import ClarifyingQuestion, SessionArtifact, VideoRequest


@dataclass
class Case:
    """One corpus case: ``expect`` is ``{"task": ..., "inputs": {...}}`` or ``{"ask": [numbers]}``."""

    id: str
    category: str
    artifacts: list[SessionArtifact]
    say: str
    expect: dict

    @classmethod
    def from_yaml(cls, data: dict) -> Case:
        artifacts = []
        for number, entry in enumerate(data["session"], start=1):
            kind = "video" if "video" in entry else "image"
            artifacts.append(
                SessionArtifact(
                    index=number,
                    kind=kind,
                    path=f"/session/{kind}-{number}.{'mp4' if kind == 'video' else 'png'}",
                    turn=number,
                    task=entry.get("task", "text_to_video" if kind == "video" else "input"),
                    prompt=entry[kind],
                    sources=entry.get("from", []),
                )
            )
        return cls(data["id"], data["category"], artifacts, data["say"], data["expect"])

    def media(self) -> dict[str, tuple[int, str | None]]:
        """The expected media inputs: name -> (artifact number, frame or ``None``)."""
        found = {}
        for name, wanted in (self.expect.get("inputs") or {}).items():
            if isinstance(wanted, dict):
                ((which, number),) = wanted.items()
                found[name] = (int(number), which.removesuffix("_frame_of"))
            elif name in ("video", "video2", "image"):
                found[name] = (int(wanted), None)
        return found


def load_cases(path: str | Path) -> list[Case]:
    """The cases of one corpus file."""
    return [Case.from_yaml(item) for item in yaml.safe_load(Path(path).read_text(encoding="utf-8"))]


def verdict(case: Case, answer: VideoRequest | ClarifyingQuestion) -> str | None:
    """``None`` when the answer is right, else what is wrong."""
    if "ask" in case.expect:
        if not isinstance(answer, ClarifyingQuestion):
            return f"ran {answer.task} {answer.inputs}, should have asked about {case.expect['ask']}"
        if sorted(answer.candidates) != sorted(case.expect["ask"]):
            return f"asked about {answer.candidates}, not {case.expect['ask']}: {answer.question}"
        return None
    if isinstance(answer, ClarifyingQuestion):
        return f"asked ({answer.candidates}): {answer.question}"
    if answer.task != case.expect["task"]:
        return f"task {answer.task}, not {case.expect['task']}"
    bound = {b.input: b for b in answer.bindings}
    media = case.media()
    for name, wanted in (case.expect.get("inputs") or {}).items():
        if name in media:
            number, frame = media[name]
            binding = bound.get(name)
            got = (binding.artifact, binding.frame) if binding else (answer.inputs.get(name), None)
            if got != (number, frame):
                return f"{name} = {got}, not {(number, frame)}"
        elif answer.inputs.get(name) != wanted:
            return f"{name} = {answer.inputs.get(name)!r}, not {wanted!r}"
    return None


def outcome(case: Case, answer: VideoRequest | ClarifyingQuestion) -> str:
    """``right``; ``asked`` (a question where the meaning was clear); ``misasked`` (a question, as expected, but
    about other candidates); ``wrong`` (ran something the person did not mean: the silent failure)."""
    if verdict(case, answer) is None:
        return "right"
    if isinstance(answer, ClarifyingQuestion):
        return "misasked" if "ask" in case.expect else "asked"
    return "wrong"
