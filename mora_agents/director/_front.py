"""The director's deterministic front: the closed grammars of a turn, read as facts for the resolver.

Only what has one reading is read here: file names, list numbers ("#3", "item 3"), numbered kinds ("clip 2",
"photo 1"), turns ("turn 2") and durations. Which task, and which artifact "the ocean one" or "the one before
the extended clip" means, is the resolver's to decide (a learned model or an LLM), not a word list's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mora_agents.director._slots import (
    PathMention,
    blank_paths,
    find_paths,
    mask_paths,
    parse_duration,
    without_durations,
)
from mora_agents.messages import SessionArtifact

_NO_UNIT = r"(?![.,]\d|\s*-?\s*(?:more\s+|extra\s+)?(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\b)"
_LISTED = re.compile(rf"(?<![\w#])#\s?(?P<n>\d+)\b{_NO_UNIT}|\b(?:artifact|item)\s*#?\s*(?P<n2>\d+)\b{_NO_UNIT}", re.I)
_NUMBERED = re.compile(
    rf"\b(?P<noun>clip|video|vid|image|photo|picture|pic)\s*(?:#|no\.?\s*)?\s*(?P<n>\d+)\b{_NO_UNIT}", re.I
)
_TURN = re.compile(r"\bturn\s*#?\s*(?P<n>\d+)\b", re.IGNORECASE)
_IMAGE_NOUNS = ("image", "photo", "picture", "pic")


@dataclass(frozen=True)
class Mention:
    """Words that name one artifact by a closed grammar: "#3", "clip 2", "turn 4"."""

    start: int
    end: int
    artifact: int
    how: str
    """``listed`` (a /list number), ``position`` ("clip 2": the second video) or ``turn``."""
    phrase: str


@dataclass
class TurnReading:
    """What the closed grammars read in a turn. ``problems`` name what they read but cannot be (no clip 7)."""

    text: str
    paths: list[PathMention] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def masked(self) -> str:
        """The text with file names blanked (same length), so nothing else reads inside them."""
        return blank_paths(self.text, self.paths)

    def duration(self, prefer_added: bool = False) -> float | None:
        """The seconds the turn asks for; with ``prefer_added``, one said as an addition ("3 more seconds")."""
        return parse_duration(self.masked, prefer_added)

    def prompt_text(self, drop_durations: bool) -> str:
        """The turn as a prompt: file names read as "this image" / "this video", durations left out if asked."""
        if drop_durations:
            text = without_durations(self.text)
            return mask_paths(text, find_paths(text))
        return mask_paths(self.text, self.paths)


def read_turn(text: str, artifacts: list[SessionArtifact]) -> TurnReading:
    """The facts of ``text`` against the session's ``artifacts``."""
    reading = TurnReading(text, find_paths(text))
    masked = reading.masked
    by_index = {a.index: a for a in artifacts}
    for match in _LISTED.finditer(masked):
        number = int(match["n"] or match["n2"])
        _add(reading, match, by_index.get(number), "listed", f"there is no #{number} in this session")
    for match in _NUMBERED.finditer(masked):
        kind = "image" if match["noun"].lower() in _IMAGE_NOUNS else "video"
        same = sorted((a for a in artifacts if a.kind == kind), key=lambda a: a.index)
        number = int(match["n"])
        found = same[number - 1] if 1 <= number <= len(same) else None
        _add(reading, match, found, "position", f"there is no {kind} {number}: the session has {len(same)}")
    for match in _TURN.finditer(masked):
        number = int(match["n"])
        made = [a for a in artifacts if a.turn == number]
        _add(reading, match, made[-1] if made else None, "turn", f"turn {number} made nothing in this session")
    reading.mentions.sort(key=lambda m: m.start)
    return reading


def _add(reading: TurnReading, match: re.Match[str], artifact: SessionArtifact | None, how: str, missing: str) -> None:
    if any(m.start < match.end() and match.start() < m.end for m in reading.mentions):
        return  # "clip #2": one mention, read once
    if artifact is None:
        reading.problems.append(missing)
        return
    reading.mentions.append(Mention(match.start(), match.end(), artifact.index, how, match.group(0)))
