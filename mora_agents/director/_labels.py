"""How the director names artifacts to a person: "clip 2" (the second video), "#3" (the /list number)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mora_agents.director._describe import made_from
from mora_agents.messages import SessionArtifact

SHOWS_CHARS = 48
"""How much of an artifact's prompt a label quotes."""


def artifact_label(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact]) -> str:
    """``clip N`` or ``image N``: its place among the session's artifacts of its kind ("the second clip")."""
    same = sorted(a.index for a in artifacts if a.kind == artifact.kind)
    place = same.index(artifact.index) + 1 if artifact.index in same else artifact.index
    return f"{'clip' if artifact.kind == 'video' else 'image'} {place}"


def shows(artifact: SessionArtifact) -> str:
    """What it shows, in the words that made it (else its file name), cut to :data:`SHOWS_CHARS`."""
    text = " ".join((artifact.prompt or Path(artifact.path).name).split())
    return text if len(text) <= SHOWS_CHARS else text[: SHOWS_CHARS - 1].rstrip(" ,;") + "…"


def artifact_line(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact]) -> str:
    """``#3 clip 2 (a lighthouse at night)``: the number /list shows, the label, what it shows; a derived one
    also says how and from what: ``#4 clip 3 (extended from #3: make it 2 seconds longer)``."""
    derived = f"{made_from(artifact)}: " if artifact.sources else ""
    return f"#{artifact.index} {artifact_label(artifact, artifacts)} ({derived}{shows(artifact)})"
