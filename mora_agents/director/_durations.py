"""Durations and counts in a turn: closed grammars of numbers and units ("10 seconds", "a minute and a half",
"3 more seconds", "3 scenes")."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_UNITS |= {"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14}
_UNITS |= {"fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "couple of": 2}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_TENS |= {"ninety": 90}
_SMALL = "|".join(sorted(_UNITS, key=len, reverse=True))
_WORD_NUMBER = rf"(?:(?:{'|'.join(_TENS)})(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?|{_SMALL})"
_NUMBER = rf"(?:\d+(?:[.,]\d+)?|half an?|an? half|couple|{_WORD_NUMBER})"  # "a couple seconds": 2

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
# "a couple seconds longer? like 2", "a few seconds, say 3": the number said again, in the duration's unit.
_RESTATED = re.compile(
    r"(?:\s+(?:more|longer|extra|shorter|long))?\s*[,;:.!?-]*\s*(?:(?:or|so|i mean)\s*,?\s*)?"
    r"\b(?:like|say|about|around|roughly|approximately|maybe)\s+(?P<n>\d+(?:[.,]\d+)?)(?:\s*(?:more|extra|or so|ish))?"
    r"(?=\s*(?:$|[,;:.!?)]|\s(?:and|but|please|pls|thanks|thx)\b))",
    re.IGNORECASE,
)
# A duration with no number, made exact only by a number said after it: "a few seconds longer, like 3".
_VAGUE_DURATION = re.compile(
    r"(?<![\w.])(?:a\s+)?(?:few|some|several|bit|little)\s+(?:more\s+|extra\s+)?(?P<unit>seconds?|secs?)(?![\w])",
    re.IGNORECASE,
)
# "3 seconds longer", "another 4s", "add 6 seconds": the seconds to add, preferred for an extension.
_ADDED = re.compile(r"^\s*(?:more|longer|extra|additional)\b|\b(?:another|add|additional|extra|more|by)\s*$")

# "extend it by 3": an amount with no unit (whether it is seconds is the caller's to say: a task that takes seconds).
_BY_AMOUNT = re.compile(
    r"\bby\s+(?P<n>\d+(?:\.\d+)?)(?![\w%]|[.,]\d|\s*-?\s*(?:x|times|percent|more|extra|s|secs?|seconds?|m|mins?|"
    r"minutes?|h|hrs?|hours?)\b)",
    re.IGNORECASE,
)

# Counts: digits or number words, not "a"/"an" ("a sleepy owl" is not a count).
_COUNT = re.compile(rf"(?<![\w.])(?P<number>\d+|(?!an?\b){_WORD_NUMBER})\s+(?P<noun>[a-z]+)", re.IGNORECASE)


def _word_number(text: str) -> float | None:
    text = re.sub(r"\s+", " ", text.lower().strip()).replace("-", " ")
    if text in ("half a", "half an"):
        return 0.5
    if text in ("a half", "an half"):
        return 0.5
    if text == "couple":
        return 2.0
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
        if re.fullmatch(r"\d{3}0s", match.group(0)):
            continue  # "the 1950s", "1980s music": a decade
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
        end = match.end()
        restated = _RESTATED.match(text, end)
        if restated is not None and number:
            seconds, end = seconds / number * float(restated["n"].replace(",", ".")), restated.end()
        found.append(Duration(round(seconds, 3), match.start(), end, added))
    for match in _VAGUE_DURATION.finditer(text):
        restated = _RESTATED.match(text, match.end())
        if restated is None or any(d.start < restated.end() and match.start() < d.end for d in found):
            continue
        added = bool(re.search(r"\b(?:more|extra)\b", match.group(0), re.IGNORECASE)) or bool(
            _ADDED.search(text[match.end() : match.end() + 12]) or _ADDED.search(text[: match.start()])
        )
        seconds = float(restated["n"].replace(",", "."))
        found.append(Duration(round(seconds, 3), match.start(), restated.end(), added))
    return sorted(found, key=lambda d: d.start)


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


def find_amounts(text: str) -> list[Duration]:
    """Amounts said with no unit ("by 3"), as seconds: for a task with no text the words could describe ("extend
    the cat one by 2"), when no duration is said."""
    return [Duration(float(m["n"]), m.start("n"), m.end("n"), True) for m in _BY_AMOUNT.finditer(text)]


def find_quantities(text: str) -> list[Duration]:
    """Every duration and unit-less amount in ``text``: the spans the closed grammars read as seconds."""
    return find_durations(text) + find_amounts(text)


def without_durations(text: str) -> str:
    """``text`` minus its durations and the little words that tie them on ("a kite, 2 seconds" -> "a kite")."""
    for duration in reversed(find_durations(text)):
        head = re.sub(r"(?:[\s,]*(?:for|of|lasting|about|around))?[\s,]*$", "", text[: duration.start])
        text = head + text[duration.end :]
    return re.sub(r"\s{2,}", " ", text).strip(" ,;")


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
