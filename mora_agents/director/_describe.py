"""Artifacts describe themselves: what they show and how, and from what, they were made.

One description serves every reader: ``/list``, ``mora route``'s JSON, the session file, the LLM resolver's
context ("#3: #2 (a lighthouse at dusk) extended") and the learned resolver's content text.
"""

from __future__ import annotations

from collections.abc import Sequence

from mora_agents.messages import SessionArtifact

OPERATIONS = {
    "text_to_video": "made from text",
    "image_to_video": "animated from",
    "extend_video": "extended from",
    "edit_video": "edited from",
    "connect_videos": "joined from",
    "digital_world": "made as a digital world from",
    "input": "given by the user",
}
"""How a task made an artifact, in words; a user SOP reads as its name."""


def operation(artifact: SessionArtifact) -> str:
    """How it was made: "extended from", "given by the user", or a user SOP's name."""
    return OPERATIONS.get(artifact.task, artifact.task.replace("_", " "))


def made_from(artifact: SessionArtifact) -> str:
    """How and from what, briefly: "extended from #2", "joined from #1 and #3", "given by the user"."""
    sources = " and ".join(f"#{n}" for n in artifact.sources if n != artifact.index)
    made = operation(artifact)
    return f"{made} {sources}" if sources and made.endswith("from") else made


INSTRUCTION_ONLY = ("extend_video", "connect_videos")
"""Tasks whose words say what to do, not what the result shows ("now connect the first and the second clip"):
their results show what their sources show."""


def content(
    artifact: SessionArtifact, artifacts: Sequence[SessionArtifact], depth: int = 2, instructions: bool = False
) -> str:
    """What it shows: its own words (unless they are only an instruction, :data:`INSTRUCTION_ONLY`, and
    ``instructions`` is false), then what its sources show ("make it snowy; a kite over a beach")."""
    instruction = artifact.task in INSTRUCTION_ONLY and artifact.sources and not instructions
    parts = ["" if instruction else artifact.prompt or ""]
    if depth > 0:
        by_index = {a.index: a for a in artifacts}
        for number in artifact.sources:
            if number in by_index and number != artifact.index:
                parts.append(content(by_index[number], artifacts, depth - 1, instructions))
    return "; ".join(p for p in parts if p)


def derivation(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact]) -> str:
    """``#2 (a lighthouse at dusk) extended: "make it 2 s longer"`` style: the operation, its sources and words."""
    by_index = {a.index: a for a in artifacts}
    sources = [by_index[n] for n in artifact.sources if n in by_index and n != artifact.index]
    words = f'"{artifact.prompt}"' if artifact.prompt else ""
    if not sources:
        return f"{artifact.kind} {operation(artifact)}: {words}".strip(": ")
    named = " and ".join(f"#{s.index} ({s.prompt or s.kind})" for s in sources)
    return f"{artifact.kind} {operation(artifact)} {named}: {words}".strip(": ")


def describe(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact]) -> str:
    """One line per artifact, e.g. ``#3 video extended from #2 (a lighthouse at dusk): "2 more seconds"``;
    marked when it is stale (its sources were made again since)."""
    stale = " [stale]" if artifact.stale else ""
    return f"#{artifact.index} {derivation(artifact, artifacts)}{stale}"
