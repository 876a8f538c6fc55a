"""The director's deterministic front: the closed grammars of a turn, read as facts for the resolver.

Only what has one reading is read here: file names, list numbers ("#3", "item 3"), numbered kinds ("clip 2", "photo 1"),
turns ("turn 2") and durations ("3 seconds"; "by 3" for a task that takes no text). Other numerals ("the third", "number
four", "2nd", "2 and 4") are read as numbers only, with no decision about what they count. Which task, and which
artifact "the ocean one", "the third one" or "the one before the extended clip" means, is the resolver's to decide (a
learned model or an LLM), not a word list's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mora_agents.director._durations import find_amounts, find_quantities, parse_duration, without_durations
from mora_agents.director._paths import PathMention, blank_paths, find_paths, mask_paths
from mora_agents.messages import QuestionAnswer, SessionArtifact

_NO_UNIT = r"(?![.,]\d|\s*-?\s*(?:more\s+|extra\s+)?(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\b)"
_LISTED = re.compile(rf"(?<![\w#])#\s?(?P<n>\d+)\b{_NO_UNIT}|\b(?:artifact|item)\s*#?\s*(?P<n2>\d+)\b{_NO_UNIT}", re.I)
_NUMBERED = re.compile(
    rf"\b(?P<noun>clip|video|vid|image|photo|picture|pic)\s*(?:#|no\.?\s*)?\s*(?P<n>\d+)\b{_NO_UNIT}", re.I
)
_TURN = re.compile(r"\bturn\s*#?\s*(?P<n>\d+)\b", re.IGNORECASE)
_IMAGE_NOUNS = ("image", "photo", "picture", "pic")
_CARDINALS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
"""From two: "one" is far more often a pronoun ("the blue one") than a number."""
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_NUMERAL = re.compile(
    rf"\b(?:(?P<digits>\d{{1,2}})(?:st|nd|rd|th)?|(?P<cardinal>{'|'.join(_CARDINALS)})|(?P<ordinal>{'|'.join(_ORDINALS)}))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Mention:
    """Words that name one artifact by a closed grammar: "#3", "clip 2", "turn 4"."""

    start: int
    end: int
    artifact: int
    how: str
    """``listed`` (a /list number), ``position`` ("clip 2": the second video) or ``turn``."""
    phrase: str


@dataclass(frozen=True)
class Numeral:
    """A number said outside the other grammars ("the third", "number four", "2 and 4"): what it counts (the
    list, one kind, from the end) is not decided here."""

    start: int
    end: int
    value: int


@dataclass
class TurnReading:
    """What the closed grammars read in a turn. ``problems`` name what they read but cannot be (no clip 7)."""

    text: str
    paths: list[PathMention] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    numerals: list[Numeral] = field(default_factory=list)
    answered: QuestionAnswer | None = None
    """What the person settled by answering a question about this turn with a number ("#3")."""

    @property
    def masked(self) -> str:
        """The text with file names blanked (same length), so nothing else reads inside them."""
        return blank_paths(self.text, self.paths)

    @property
    def without_facts(self) -> str:
        """The text with file names, durations and unit-less amounts blanked (same length): what the model reads.
        "make it 2 seconds longer" is no pointer at a clip whose prompt said "2 seconds"."""
        text = self.masked
        for found in find_quantities(text):
            text = text[: found.start] + " " * (found.end - found.start) + text[found.end :]
        return text

    def duration(self, prefer_added: bool = False, amounts: bool = False) -> float | None:
        """The seconds the turn asks for; with ``prefer_added``, one said as an addition ("3 more seconds"); with
        ``amounts``, an amount with no unit ("by 2") when no duration is said."""
        said = parse_duration(self.masked, prefer_added)
        if said is None and amounts and (found := find_amounts(self.masked)):
            return found[0].seconds
        return said

    def prompt_text(self, drop_durations: bool) -> str:
        """The turn as a prompt: file names read as "this image" / "this video", durations left out if asked."""
        if drop_durations:
            text = without_durations(self.text)
            return mask_paths(text, find_paths(text))
        return mask_paths(self.text, self.paths)


def read_turn(text: str, artifacts: list[SessionArtifact], answered: QuestionAnswer | None = None) -> TurnReading:
    """The facts of ``text`` against the session's ``artifacts`` (and the answers to a question about it)."""
    reading = TurnReading(text, find_paths(text), answered=answered)
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
    reading.numerals = _numerals(masked, reading.mentions)
    return reading


def _numerals(text: str, mentions: list[Mention]) -> list[Numeral]:
    """The numbers in ``text`` that are not part of a mention or a duration."""
    # Durations and amounts ("by 3") are seconds, not places.
    taken = [(m.start, m.end) for m in mentions] + [(q.start, q.end) for q in find_quantities(text)]
    found = []
    for match in _NUMERAL.finditer(text):
        if any(start < match.end() and match.start() < end for start, end in taken):
            continue
        if match["digits"]:
            value = int(match["digits"])
        elif match["cardinal"]:
            value = _CARDINALS.index(match["cardinal"].lower()) + 2
        else:
            value = _ORDINALS.index(match["ordinal"].lower()) + 1
        if value >= 1:
            found.append(Numeral(match.start(), match.end(), value))
    return found


def _add(reading: TurnReading, match: re.Match[str], artifact: SessionArtifact | None, how: str, missing: str) -> None:
    if any(m.start < match.end() and match.start() < m.end for m in reading.mentions):
        return  # "clip #2": one mention, read once
    if artifact is None:
        reading.problems.append(missing)
        return
    reading.mentions.append(Mention(match.start(), match.end(), artifact.index, how, match.group(0)))
