"""Deterministic reading of a user turn: durations, counts, file paths and references to session artifacts.

Nothing here guesses: a value is filled only when the words say it. The director combines these facts
with the embedding ranking (which task) and fills the chosen task's inputs from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mora_agents.messages import SessionArtifact

MediaKind = Literal["image", "video"]

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
VIDEO_EXTENSIONS = ("mp4", "mov", "webm", "mkv", "avi")
_EXT = "|".join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)

# A quoted path may hold spaces; an unquoted one is one token (letters, digits, ~ . / \ - _ :).
_QUOTED_PATH = re.compile(rf"""(["'`])([^"'`\n]*?\.(?:{_EXT}))\1""", re.IGNORECASE)
_BARE_PATH = re.compile(rf"(?<![\w.~/\\-])((?:[A-Za-z]:)?[\w~./\\-]*[\w-]\.(?:{_EXT}))(?![\w])", re.IGNORECASE)

_UNITS = {"one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_UNITS |= {"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14}
_UNITS |= {"fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "couple of": 2}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_TENS |= {"ninety": 90}
_SMALL = "|".join(sorted(_UNITS, key=len, reverse=True))
_WORD_NUMBER = rf"(?:(?:{'|'.join(_TENS)})(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?|{_SMALL})"
_NUMBER = rf"(?:\d+(?:[.,]\d+)?|half an?|an? half|{_WORD_NUMBER})"

_SECOND_UNIT = r"(?:seconds?|secs?|s)"
_MINUTE_UNIT = r"(?:minutes?|mins?|m)"
_HOUR_UNIT = r"(?:hours?|hrs?|h)"
# Digits may run into a short unit ("5s", "2m"); a word number needs a long one ("ten seconds", "a minute").
_MORE = r"\s+(?:more|extra|additional|further)"
_DURATION = re.compile(
    rf"(?<![\w.])(?:(?P<digits>\d+(?:[.,]\d+)?)(?:(?P<more>{_MORE})\s+|\s*-?\s*)"
    rf"(?P<short>{_SECOND_UNIT}|{_MINUTE_UNIT}|{_HOUR_UNIT})"
    rf"|(?P<words>{_NUMBER})(?P<more2>{_MORE})?[\s-]+(?P<long>seconds?|secs?|minutes?|mins?|hours?|hrs?))(?![\w])"
    rf"(?:\s+and\s+a\s+half)?",
    re.IGNORECASE,
)
# "3 seconds longer", "another 4s", "add 6 seconds": the seconds to add, preferred for an extension.
_ADDED = re.compile(r"^\s*(?:more|longer|extra|additional)\b|\b(?:another|add|additional|extra|more|by)\s*$")

# Counts: digits or number words, not "a"/"an" ("a sleepy owl" is not a count).
_COUNT = re.compile(rf"(?<![\w.])(?P<number>\d+|(?!an?\b){_WORD_NUMBER})\s+(?P<noun>[a-z]+)", re.IGNORECASE)

# Nouns that name a session artifact; "video game" is a style, not a video.
_VIDEO_NOUN = r"(?:clips?|videos?(?!\s+games?)|movies?|footage|films?|recordings?|shots?)"
_IMAGE_NOUN = r"(?:images?|pictures?|photos?|photographs?|frames?|stills?|pics?|snapshots?|screenshots?)"
_NOUN = rf"(?:{_VIDEO_NOUN}|{_IMAGE_NOUN}|ones?)"
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_ORDINALS |= {"fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8}
_LATEST = ("last", "latest", "previous", "final", "newest", "most recent", "current", "new")
_ORDINAL = re.compile(
    rf"\b(?P<ord>{'|'.join(_ORDINALS)}|{'|'.join(_LATEST)})\b(?=(?P<rest>(?:\s+[\w'-]+){{0,5}}))", re.IGNORECASE
)
# "clip 2", "video #3"; not "the clip 3 seconds longer" (a duration).
_NUMBERED = re.compile(
    rf"\b(?P<noun>{_VIDEO_NOUN}|{_IMAGE_NOUN})\s*(?:#|no\.?\s*|number\s+)?(?P<n>\d+)\b"
    rf"(?![.,]\d|\s*-?\s*(?:more\s+|extra\s+)?(?:{_SECOND_UNIT}|{_MINUTE_UNIT}|{_HOUR_UNIT})\b)",
    re.IGNORECASE,
)
_RANGE = re.compile(
    rf"\b(?P<end>first|last|latest|previous)\s+(?P<n>two|three|2|3)\s+(?P<noun>{_VIDEO_NOUN}|{_IMAGE_NOUN})", re.I
)
_PAIR = re.compile(
    rf"\b(?:both\s+(?:of\s+)?(?:the\s+|these\s+|those\s+)?{_NOUN}|both of them|(?:the|these|those)\s+two"
    rf"(?:\s+{_NOUN})?|them)\b",
    re.IGNORECASE,
)
_DEFINITE = re.compile(
    rf"\b(?:the|this|that|these|those|my|our|your|its)\s+(?:[\w'-]+\s+){{0,2}}?(?P<noun>{_VIDEO_NOUN}|{_IMAGE_NOUN})\b",
    re.IGNORECASE,
)
# Pronouns that point at the latest artifact. "that"/"this" only when they stand alone ("use that", "extend
# this"), not as a conjunction ("so that it is raining") or a determiner ("that frame": see _DEFINITE).
_PRONOUN = re.compile(
    r"\b(?:it|that one|this one|the result|the same|(?:this|that)(?=\s*(?:$|[.,;:!?]|\s(?:but|and|with|to|into"
    r"|by|for|longer|shorter|again|please|more|a\s+bit|some|until)\b)))\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.;!?]")


def _word_number(text: str) -> float | None:
    text = re.sub(r"\s+", " ", text.lower().strip()).replace("-", " ")
    if text in ("half a", "half an"):
        return 0.5
    if text in ("a half", "an half"):
        return 0.5
    try:
        return float(text.replace(",", "."))
    except ValueError:
        pass
    if text in _UNITS:
        return float(_UNITS[text])
    parts = text.split()
    if parts and parts[0] in _TENS:
        return float(_TENS[parts[0]] + (_UNITS.get(parts[1], 0) if len(parts) > 1 else 0))
    return None


@dataclass
class Duration:
    seconds: float
    start: int
    end: int
    added: bool
    """Said as an addition: "3 seconds longer", "another 4s", "add 6 seconds"."""


def find_durations(text: str) -> list[Duration]:
    """Every duration in ``text``, adjacent parts summed ("1 minute 30 seconds" -> 90)."""
    found: list[Duration] = []
    for match in _DURATION.finditer(text):
        number = _word_number(match["digits"] or match["words"])
        if number is None:
            continue
        unit = (match["short"] or match["long"]).lower()
        seconds = number * (3600 if unit.startswith("h") else 60 if unit.startswith("m") else 1)
        if match.group(0).lower().rstrip().endswith("and a half"):
            seconds *= 1.5 if number == 1 else (number + 0.5) / number
        previous = found[-1] if found else None
        if previous is not None and re.fullmatch(r"[\s,]*(?:and)?\s*", text[previous.end : match.start()]):
            previous.seconds += seconds
            previous.end = match.end()
            continue
        added = bool(
            match["more"]
            or match["more2"]
            or _ADDED.search(text[match.end() : match.end() + 12])
            or _ADDED.search(text[: match.start()])
        )
        found.append(Duration(round(seconds, 3), match.start(), match.end(), added))
    return found


def parse_duration(text: str, prefer_added: bool = False) -> float | None:
    """The duration a turn asks for, in seconds, or ``None``.

    Understands ``10 seconds``, ``5s``, ``2.5 sec``, ``a minute``, ``ten seconds``, ``half a minute``,
    ``1 minute 30 seconds``, ``10-second``, ``2 hours`` (which the task then refuses). With ``prefer_added``
    (an extension), a duration said as an addition ("3 seconds longer", "another 4s") wins over another one
    in the same turn.

    Example:
        >>> parse_duration("make the clip of my dog 10 seconds longer")
        10.0
    """
    found = find_durations(text)
    if not found:
        return None
    if prefer_added:
        found.sort(key=lambda d: not d.added)
    return found[0].seconds


def parse_counts(text: str) -> list[tuple[int, str]]:
    """``(number, noun)`` pairs that are not durations: ``3 scenes`` -> ``[(3, "scenes")]``."""
    spans = [(d.start, d.end) for d in find_durations(text)]
    counts = []
    for match in _COUNT.finditer(text):
        if any(start <= match.start() < end for start, end in spans):
            continue
        number = _word_number(match["number"])
        if number is not None and number == int(number) and match["noun"].lower() not in ("of", "and", "or"):
            counts.append((int(number), match["noun"].lower()))
    return counts


@dataclass
class PathMention:
    path: str
    kind: MediaKind
    start: int
    end: int


def find_paths(text: str) -> list[PathMention]:
    """Image and video file names in ``text``, in order; kept whether or not the files exist."""
    found: list[PathMention] = []
    taken: list[tuple[int, int]] = []
    for pattern, group in ((_QUOTED_PATH, 2), (_BARE_PATH, 1)):
        for match in pattern.finditer(text):
            if any(start <= match.start() < end for start, end in taken):
                continue
            path = match.group(group).strip()
            kind: MediaKind = "image" if path.lower().rsplit(".", 1)[-1] in IMAGE_EXTENSIONS else "video"
            found.append(PathMention(path, kind, match.start(), match.end()))
            taken.append((match.start(), match.end()))
    return sorted(found, key=lambda p: p.start)


def mask_paths(text: str, paths: list[PathMention], video: str = "this video", image: str = "this image") -> str:
    """``text`` with each file name replaced by a phrase (for the embedding and the prompt)."""
    for mention in sorted(paths, key=lambda p: p.start, reverse=True):
        phrase = image if mention.kind == "image" else video
        text = text[: mention.start] + phrase + text[mention.end :]
    return re.sub(r"\s+", " ", text).strip()


def _noun_kind(noun: str) -> MediaKind | None:
    noun = noun.lower()
    if re.fullmatch(_VIDEO_NOUN, noun):
        return "video"
    if re.fullmatch(_IMAGE_NOUN, noun):
        return "image"
    return None


@dataclass
class Reference:
    """A mention of session artifacts: which ones (resolved), where in the text, of what kind."""

    start: int
    kind: MediaKind | None
    """``None`` for a pronoun ("it"), which fits whatever the task needs."""
    selector: str
    """``index:N`` (N-th of its kind), ``latest``, ``last:N`` / ``first:N`` (a range), ``pair``, ``pronoun``."""
    explicit: bool = True
    """False for pronouns and definite nouns ("the clip"): they mean the latest, not a chosen one."""


def find_references(text: str) -> list[Reference]:
    """Mentions of earlier artifacts in ``text`` ("the first and the second clip", "clip 2", "it", "that frame")."""
    refs: list[Reference] = []
    used: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in used)

    for match in _RANGE.finditer(text):
        end = "first" if match["end"].lower() == "first" else "last"
        count = int(_word_number(match["n"]) or 2)
        refs.append(Reference(match.start(), _noun_kind(match["noun"]), f"{end}:{count}"))
        used.append(match.span())
    for match in _NUMBERED.finditer(text):
        if free(*match.span()):
            refs.append(Reference(match.start(), _noun_kind(match["noun"]), f"index:{int(match['n'])}"))
            used.append(match.span())
    for match in _ORDINAL.finditer(text):
        if not free(*match.span("ord")):
            continue
        word = match["ord"].lower()
        before = text[: match.start()].rstrip().lower()
        if word == "second" and re.search(rf"(?:\d|\b{_WORD_NUMBER}|\ba)$", before):
            continue  # "10 second clip", "a second": a unit or an article, not an ordinal
        rest = _SENTENCE_END.split(match["rest"], maxsplit=1)[0]
        noun = re.search(rf"\b{_NOUN}\b", rest, re.IGNORECASE)
        if noun is None:
            continue  # "make it snowy first": no artifact named
        if word in ("new", "current") and noun.group(0).lower() not in ("one", "ones"):
            # "a new video" is something to make; "the new one" points at the latest.
            if not re.search(r"\b(?:the|this|that)\s*$", before):
                continue
        kind = _noun_kind(noun.group(0))
        selector = f"index:{_ORDINALS[word]}" if word in _ORDINALS else "latest"
        refs.append(Reference(match.start(), kind, selector))
        used.append(match.span("ord"))
    for match in _PAIR.finditer(text):
        if free(*match.span()):
            kind = next((k for k in (_noun_kind(w) for w in match.group(0).split()) if k), "video")
            refs.append(Reference(match.start(), kind, "pair"))
            used.append(match.span())
    for match in _DEFINITE.finditer(text):
        noun_start = match.start("noun")
        if free(match.start(), match.end()) and free(noun_start, match.end()):
            refs.append(Reference(match.start(), _noun_kind(match["noun"]), "latest", explicit=False))
            used.append(match.span())
    for match in _PRONOUN.finditer(text):
        if free(*match.span()):
            refs.append(Reference(match.start(), None, "pronoun", explicit=False))
            used.append(match.span())
    return sorted(refs, key=lambda r: r.start)


def resolve(ref: Reference, kind: MediaKind, artifacts: list[SessionArtifact]) -> list[SessionArtifact]:
    """The artifacts of ``kind`` that ``ref`` names, in the order they are named (empty when none fit)."""
    if ref.kind is not None and ref.kind != kind:
        return []
    pool = sorted((a for a in artifacts if a.kind == kind), key=lambda a: a.index)
    if not pool:
        return []
    what, _, number = ref.selector.partition(":")
    if what == "index":
        n = int(number)
        return [pool[n - 1]] if 1 <= n <= len(pool) else []
    if what in ("latest", "pronoun"):
        return [pool[-1]]
    if what == "last":
        return pool[-int(number) :] if len(pool) >= int(number) else []
    if what == "first":
        return pool[: int(number)] if len(pool) >= int(number) else []
    if what == "pair":
        return pool[-2:] if len(pool) >= 2 else []
    return []


@dataclass
class TurnFacts:
    """What the words of a turn say, before any task is chosen."""

    text: str
    paths: list[PathMention] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    masked: str = ""
    """``text`` with file names blanked out (same length), for reading numbers and words."""

    @classmethod
    def read(cls, text: str) -> TurnFacts:
        paths = find_paths(text)
        # File names must not read as references or durations ("clip2.mp4" is a file, not "clip 2").
        masked = text
        for mention in paths:
            masked = masked[: mention.start] + " " * (mention.end - mention.start) + masked[mention.end :]
        return cls(text, paths, find_references(masked), masked)

    @property
    def has_pronoun(self) -> bool:
        return any(r.selector == "pronoun" for r in self.references)

    def media_evidence(self, artifacts: list[SessionArtifact]) -> dict[MediaKind, int]:
        """How many images and videos the turn clearly points at (files named, artifacts named by noun).

        A bare pronoun counts as the kind of the session's latest artifact: in a conversation "make it
        night" is about what was just made.
        """
        evidence: dict[MediaKind, int] = {"image": 0, "video": 0}
        for kind in ("image", "video"):
            named = sum(p.kind == kind for p in self.paths)
            named += sum(_size(r.selector) for r in self.references if r.explicit and r.kind == kind)
            # "the clip" adds no second video to "clip.mp4": it is one thing named twice, or the latest.
            vague = any(not r.explicit and r.kind == kind for r in self.references)
            evidence[kind] = max(named, int(vague))
        if not any(evidence.values()) and artifacts and self.has_pronoun:
            latest = max(artifacts, key=lambda a: a.index)
            evidence[latest.kind] = 1
        return evidence


def _size(selector: str) -> int:
    """How many artifacts a selector names."""
    if selector == "pair":
        return 2
    if selector.startswith(("first:", "last:")):
        return int(selector.split(":")[1])
    return 1
