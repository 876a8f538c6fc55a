"""Deterministic reading of a user turn: durations, counts, file paths and references to session artifacts.

Nothing here guesses: a value is filled only when the words say it. The director combines these facts
with the embedding ranking (which task) and fills the chosen task's inputs from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
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

# Counts: digits or number words, not "a"/"an" ("a sleepy owl" is not a count).
_COUNT = re.compile(rf"(?<![\w.])(?P<number>\d+|(?!an?\b){_WORD_NUMBER})\s+(?P<noun>[a-z]+)", re.IGNORECASE)

# Nouns that name a session artifact; "video game" is a style, not a video.
_VIDEO_NOUN = r"(?:clips?|videos?(?!\s+games?)|vids?|movies?|footage|films?|recordings?|shots?|scenes?)"
_IMAGE_NOUN = r"(?:images?|pictures?|photos?|photographs?|frames?|stills?|pics?|snapshots?|screenshots?)"
_NOUN = rf"(?:{_VIDEO_NOUN}|{_IMAGE_NOUN}|ones?|versions?)"
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_ORDINALS |= {"fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8}
# Typed in a hurry: "secnd", "frist", "thrid".
_ORDINALS |= {"frist": 1, "fisrt": 1, "firts": 1, "secnd": 2, "seccond": 2, "secod": 2, "sceond": 2, "thrid": 3}
_ORDINALS |= {"thrd": 3, "forth": 4}
_LATEST = ("last", "latest", "previous", "final", "newest", "most recent", "current", "new")
_ORDINAL = re.compile(
    rf"\b(?P<ord>{'|'.join(_ORDINALS)}|{'|'.join(_LATEST)})\b(?=(?P<rest>(?:\s+[\w'-]+){{0,5}}))", re.IGNORECASE
)
# "clip 2", "video #3"; not "the clip 3 seconds longer" (a duration).
_NUMBERED = re.compile(
    rf"\b(?P<noun>{_VIDEO_NOUN}|{_IMAGE_NOUN})\s*(?:(?P<hash>#)|no\.?\s*|number\s+)?(?P<n>\d+)\b"
    rf"(?![.,]\d|\s*-?\s*(?:more\s+|extra\s+)?(?:{_SECOND_UNIT}|{_MINUTE_UNIT}|{_HOUR_UNIT})\b)",
    re.IGNORECASE,
)
_NOT_DURATION = rf"(?!\s*-?\s*(?:more\s+|extra\s+)?(?:{_SECOND_UNIT}|{_MINUTE_UNIT}|{_HOUR_UNIT})\b)"
# "the last two clips", "the first 2", "the last two" (no noun: whatever the task needs); not "the last 2 seconds".
_RANGE = re.compile(
    rf"\b(?P<end>first|last|latest|previous)\s+(?P<n>two|three|2|3)\b{_NOT_DURATION}"
    rf"(?:\s+(?P<noun>{_VIDEO_NOUN}|{_IMAGE_NOUN}|ones))?",
    re.IGNORECASE,
)
_PAIR = re.compile(
    rf"\b(?:both\s+(?:of\s+)?(?:the\s+|these\s+|those\s+|my\s+)?{_NOUN}|both of them|(?:the|these|those)\s+two"
    rf"(?:\s+{_NOUN})?|them|'?em|both(?!\s+[\w-]+\s+and\b))\b",
    re.IGNORECASE,
)
# The one before the latest: "the one before last", "second to last", "the penultimate clip", "the one before that".
_FROM_LAST = re.compile(
    rf"\b(?:(?:the\s+)?(?P<noun1>{_NOUN})\s+(?:just\s+)?before\s+(?:the\s+)?(?:last|latest|that|this|it)"
    rf"(?:\s+(?:{_NOUN}))?(?!\s+(?:{_NOUN}))"
    rf"|(?:the\s+)?(?:second|2nd)[\s-]+(?:to|from)[\s-]+(?:the[\s-]+)?last(?:\s+(?P<noun2>{_NOUN}))?"
    rf"|(?:the\s+)?(?:penultimate|next[\s-]+to[\s-]+last)(?:\s+(?P<noun3>{_NOUN}))?"
    rf"|(?:the\s+)?last\s+but\s+one(?:\s+(?P<noun4>{_NOUN}))?"
    rf"|\bthe\s+(?:earlier|older|former)\s+(?P<noun5>{_NOUN})|\bthe\s+former)\b",
    re.IGNORECASE,
)
# "the later clip", "the newer one", "the latter": the latest (of two, the second).
_LATER = re.compile(rf"\bthe\s+(?:(?:later|newer)\s+(?P<noun>{_NOUN})|latter(?:\s+(?P<noun2>{_NOUN}))?)\b", re.I)
# "the end of the first", "the last and the third", "the first and last": an ordinal whose noun is left out.
_ELIDED = re.compile(
    rf"(?:\bthe\s+|(?<=\band\s))(?P<ord>{'|'.join(_ORDINALS)}|last|latest|previous)\b(?=\s*(?:$|[.,;:!?]|\s(?:and|then|to|into|with|"
    rf"onto|after|before|please|pls)\b))",
    re.IGNORECASE,
)
# "#3", "artifact 3", "item #2": the number /list shows, whatever its kind.
_LISTED = re.compile(
    rf"(?:(?<![\w#])#\s?(?P<n>\d+)|\b(?:artifact|item|result|output|number|no\.)\s*#?\s*(?P<n2>\d+)){_NOT_DURATION}\b",
    re.IGNORECASE,
)
# "turn 2", "turn #3", "the second turn": what that turn made; not "turn 2 clips into one" (a verb).
_TURN = re.compile(
    rf"\bturn\s*#?\s*(?P<n>\d+|one|two|three|four|five|six|seven|eight)\b(?!\s+(?:{_NOUN}|of|into)\b)"
    rf"|\b(?P<ord>{'|'.join(_ORDINALS)}|last|previous)\s+turn\b",
    re.IGNORECASE,
)
# "the first frame of clip 2", "the last frame of it", "its final frame": an image taken from a video.
_FRAME = re.compile(
    r"\b(?:the|its|their|that|this)?\s*(?:very\s+)?(?P<which>first|last|final|opening|starting|start|initial|"
    r"beginning|ending|end|closing)\s+(?:frame|still|image)(?:\s+(?P<of>of|from|in)\b)?",
    re.IGNORECASE,
)
_FIRST_FRAME = ("first", "opening", "starting", "start", "initial", "beginning")
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
# "look like it's snowing", "as if it were night": "it" is the scene the look describes.
_SCENE_IT = re.compile(r"it(?:'s|\s+(?:is|was|were|had|has)\b)", re.IGNORECASE)
_SCENE_IT_BEFORE = re.compile(r"\b(?:like|as\s+if|as\s+though)\s+$", re.IGNORECASE)
# "so it's pouring rain", "until it is dark": the "it" of weather and time of day.
_WEATHER_IT = re.compile(
    r"it(?:'s|\s+is|\s+was)\s+(?:(?:getting|all|still|now|really|very)\s+)?(?:rain\w*|pour\w*|snow\w*|storm\w*|"
    r"drizzl\w*|hail\w*|thunder\w*|night(?:time)?|dark|dusk|dawn|sunset|sunrise|sunny|foggy|misty|windy|cloudy|"
    r"winter|summer|autumn|spring|morning|evening|daytime|midnight)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.;!?]")
_TYPED_THE = re.compile(r"\b(?:teh|hte)\b(?=\s+[a-z])", re.IGNORECASE)  # "make teh tortoise vid longer"
# A turn that opens with an indefinite noun phrase describes a new scene; its "it" is inside the scene.
_DESCRIPTION = re.compile(
    r"\s*(?:(?:now|ok|okay|next|and|new one|new)\s*[:,-]?\s+)?(?:a|an|some)\s+(?!(?:new|another|bit|little)\b)",
    re.IGNORECASE,
)


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


def blank_paths(text: str, paths: list[PathMention]) -> str:
    """``text`` with each file name blanked (same length), so nothing else reads inside it ("clip2.mp4" is no
    "clip 2")."""
    for mention in paths:
        text = text[: mention.start] + " " * (mention.end - mention.start) + text[mention.end :]
    return text


def mask_paths(text: str, paths: list[PathMention], video: str = "this video", image: str = "this image") -> str:
    """``text`` with each file name replaced by a phrase (for the embedding and the prompt)."""
    for mention in sorted(paths, key=lambda p: p.start, reverse=True):
        phrase = image if mention.kind == "image" else video
        text = text[: mention.start] + phrase + text[mention.end :]
    return re.sub(r"\s+", " ", text).strip()


def embedding_query(facts: TurnFacts) -> str:
    """The turn as the embedding sees it: each file and each explicit reference replaced by "this video" /
    "that image", so "make the second clip black and white" reads as an edit, not as the "first and second
    clip" of a connection, and "the kite clip" brings no kite into the ranking."""
    spans = [(p.start, p.end, p.kind) for p in facts.paths]
    spans += [(r.start, r.end, r.kind) for r in facts.references if r.explicit and r.end > r.start]
    text, seen = facts.text, 0
    for start, end, kind in sorted(spans, reverse=True):
        if any(s < end and start < e for s, e, _ in spans if (s, e) != (start, end) and e - s > end - start):
            continue  # inside a longer span
        seen += 1
        phrase = f"{'this' if seen % 2 else 'that'} {'image' if kind == 'image' else 'video'}"
        text = text[:start] + phrase + text[end:]
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
    """``None`` for a pronoun ("it") or "the second one", which fit whatever the task needs."""
    selector: str
    """``index:N`` (N-th of its kind), ``artifact:N`` (/list number N), ``turn:N`` (what turn N made), ``latest``,
    ``fromlast:N`` (N-th from the end), ``last:N`` / ``first:N`` (a range), ``pair``, ``pronoun``, ``frame:first`` /
    ``frame:last`` (a frame of :attr:`source`), ``unclear`` (a content phrase that fits several: :attr:`candidates`)."""
    explicit: bool = True
    """False for pronouns and definite nouns ("the clip"): they mean the latest, not a chosen one."""
    end: int = -1
    phrase: str = ""
    """The words that point, as written ("the kite one")."""
    how: str = "position"
    """``position``, ``listed`` (a /list number), ``turn``, ``content`` (matched by what it shows), ``pronoun``,
    ``latest`` or ``llm`` (a near-tie the LLM resolved)."""
    candidates: tuple[int, ...] = ()
    """For ``unclear``: the artifact numbers the phrase may mean (all of a kind when it matches none)."""
    source: Reference | None = None
    """For a frame: the video it is taken from."""
    unmatched: bool = False
    """For ``unclear``: no artifact matched the phrase at all (the candidates are every one of its kind)."""


def _ref(match: re.Match[str], kind: MediaKind | None, selector: str, how: str = "position", **more) -> Reference:
    return Reference(match.start(), kind, selector, end=match.end(), phrase=match.group(0).strip(), how=how, **more)


def find_references(text: str) -> list[Reference]:
    """Mentions of earlier artifacts in ``text`` ("the first and the second clip", "clip 2", "it", "that frame")."""
    refs: list[Reference] = []
    used: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in used)

    def add(ref: Reference, span: tuple[int, int] | None = None) -> None:
        refs.append(ref)
        used.append(span or (ref.start, ref.end))

    describing = _DESCRIPTION.match(text) is not None  # "a forest with a river running through it": no pointer
    frames = [m for m in _FRAME.finditer(text) if not _an_image_by_position(m)]
    for match in frames:
        used.append(match.span("which"))  # "the last frame" is no "last" artifact
    for match in _FROM_LAST.finditer(text):
        noun = next((g for g in match.group("noun1", "noun2", "noun3", "noun4", "noun5") if g), "one")
        add(_ref(match, _noun_kind(noun), "fromlast:2"))
    for match in _LATER.finditer(text):
        add(_ref(match, _noun_kind(match["noun"] or match["noun2"] or "one"), "latest"))
    for match in _RANGE.finditer(text):
        if free(*match.span()):
            end = "first" if match["end"].lower() == "first" else "last"
            count = int(_word_number(match["n"]) or 2)
            add(_ref(match, _noun_kind(match["noun"] or "ones"), f"{end}:{count}"))
    for match in _LISTED.finditer(text):
        if free(*match.span()):
            add(_ref(match, None, f"artifact:{int(match['n'] or match['n2'])}", "listed"))
    for match in _NUMBERED.finditer(text):
        if free(*match.span()):
            if match["hash"]:
                add(_ref(match, _noun_kind(match["noun"]), f"artifact:{int(match['n'])}", "listed"))
            else:
                add(_ref(match, _noun_kind(match["noun"]), f"index:{int(match['n'])}"))
    for match in _TURN.finditer(text):
        if free(*match.span()):
            word = (match["n"] or match["ord"]).lower()
            number = _ORDINALS.get(word) or _word_number(word)
            selector = "turn:last" if word in ("last", "previous") else f"turn:{int(number or 0)}"
            add(_ref(match, None, selector, "turn"))
    for match in _ORDINAL.finditer(text):
        if not free(*match.span("ord")):
            continue
        word = match["ord"].lower()
        before = text[: match.start()].rstrip().lower()
        if word == "second" and re.search(rf"(?:\d|\b{_WORD_NUMBER}|\ba)$", before):
            continue  # "10 second clip", "a second": a unit or an article, not an ordinal
        if word in ("first", "last") and re.match(r"\s*,?\s*(?:the|a|an|this|that|my|our)\b", match["rest"]):
            if not re.search(r"\b(?:the|this|that|my|our)\s*$", before):
                continue  # "first the 3rd clip, then the 1st": an order, not the first clip
        rest = _SENTENCE_END.split(match["rest"], maxsplit=1)[0]
        noun = re.search(rf"\b{_NOUN}\b", rest, re.IGNORECASE)
        if noun is None:
            continue  # "make it snowy first": no artifact named
        if word in ("new", "current") and not re.search(r"\b(?:the|this|that)\s*$", before):
            continue  # "a new video", "new one: a zebra herd" is something to make; "the new one" points
        kind = _noun_kind(noun.group(0))
        selector = f"index:{_ORDINALS[word]}" if word in _ORDINALS else "latest"
        end = match.end("ord") + noun.end()
        article = re.search(r"\b(?:the|that|this|my)\s+$", text[: match.start()], re.IGNORECASE)
        start = article.start() if article else match.start()
        refs.append(Reference(start, kind, selector, end=end, phrase=text[start:end]))
        used.append(match.span("ord"))
    for match in _ELIDED.finditer(text):
        if free(*match.span("ord")):
            word = match["ord"].lower()
            selector = f"index:{_ORDINALS[word]}" if word in _ORDINALS else "latest"
            add(Reference(match.start(), None, selector, end=match.end("ord"), phrase=match.group(0).strip()))
    for match in _PAIR.finditer(text):
        if describing and match.group(0).lower().lstrip("'") in ("them", "em"):
            continue  # "a chef chops onions, then tosses them into a wok"
        if free(*match.span()):
            kind = next((k for k in (_noun_kind(w) for w in match.group(0).split()) if k), None)
            add(_ref(match, kind, "pair"))
    for match in _DEFINITE.finditer(text):
        noun_start = match.start("noun")
        if free(match.start(), match.end()) and free(noun_start, match.end()):
            add(_ref(match, _noun_kind(match["noun"]), "latest", "latest", explicit=False))
    for match in _PRONOUN.finditer(text):
        if _SCENE_IT.match(text, match.start()) and _SCENE_IT_BEFORE.search(text, 0, match.start()):
            continue  # "make the spoon carving look like it's in a forest": the look, not a pointer
        if _WEATHER_IT.match(text, match.start()):
            continue  # "edit the nightclub queue so it's pouring rain": the weather's "it"
        if free(*match.span()) and not describing:
            add(_ref(match, None, "pronoun", "pronoun", explicit=False))
    refs.sort(key=lambda r: r.start)
    return _attach_frames(text, frames, refs)


def _an_image_by_position(match: re.Match[str]) -> bool:
    """ "the last image" (no "of") is the session's last image; "its last image", "the last image of clip 2" and
    "the last frame" are frames of a video."""
    noun_is_image = re.search(r"\bimage$", match[0].rstrip(), re.IGNORECASE) is not None
    return noun_is_image and not match["of"] and not re.match(r"\s*(?:its|their)\b", match[0], re.IGNORECASE)


def _attach_frames(text: str, frames: list[re.Match[str]], refs: list[Reference]) -> list[Reference]:
    """Each frame mention takes the video reference right after its "of" (or, with none, the latest video)."""
    for match in frames:
        which = "first" if match["which"].lower() in _FIRST_FRAME else "last"
        source = None
        if match["of"]:
            after = [r for r in refs if r.start >= match.end() - 1 and r.kind in ("video", None)]
            gap = text[match.end() : after[0].start] if after else ""
            # A vague "the kite clip" is left to the content binding (bind_content), which may name it.
            if after and re.fullmatch(r"[\s,]*(?:the\s+)?", gap) and (after[0].explicit or after[0].how == "pronoun"):
                source = after[0]
        elif not re.match(r"\s*(?:of|from)\b", text[match.end() :], re.IGNORECASE):
            source = Reference(match.start(), "video", "latest", explicit=False, end=match.end(), how="latest")
        if source is None:
            continue  # "the last frame of the kite clip": the content phrase is bound later (bind_frames)
        if source in refs:
            refs.remove(source)
        frame = Reference(match.start(), "image", f"frame:{which}", end=max(match.end(), source.end),
                          phrase=text[match.start() : max(match.end(), source.end)].strip(), how=source.how,
                          source=source)  # fmt: skip
        refs.append(frame)
    refs.sort(key=lambda r: r.start)
    return refs


def resolve(ref: Reference, kind: MediaKind, artifacts: list[SessionArtifact]) -> list[SessionArtifact]:
    """The artifacts of ``kind`` that ``ref`` names, in the order they are named (empty when none fit).

    A frame resolves to its video (the caller takes the frame out of it).
    """
    if ref.source is not None:
        return resolve(ref.source, "video", artifacts) if kind == "image" else []
    if ref.kind is not None and ref.kind != kind:
        return []
    what, _, number = ref.selector.partition(":")
    if what == "artifact":
        return [a for a in artifacts if a.index == int(number) and a.kind == kind]
    if what == "turn":
        made = [a for a in artifacts if a.kind == kind]
        last_turn = max((a.turn for a in artifacts), default=0)
        wanted = last_turn if number == "last" else int(number)
        return [a for a in sorted(made, key=lambda a: a.index) if a.turn == wanted][-1:]
    pool = sorted((a for a in artifacts if a.kind == kind), key=lambda a: a.index)
    if not pool:
        return []
    if what == "index":
        n = int(number)
        return [pool[n - 1]] if 1 <= n <= len(pool) else []
    if what in ("latest", "pronoun"):
        return [pool[-1]]
    if what == "fromlast":
        return [pool[-int(number)]] if len(pool) >= int(number) else []
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
        text = _TYPED_THE.sub(lambda m: "The" if m.group(0)[0].isupper() else "the", text)  # same length
        paths = find_paths(text)
        masked = blank_paths(text, paths)  # file names must not read as references or durations
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
            # Two phrases for one clip ("the taxi in the traffic clip") name one clip.
            seen: set[int] = set()
            for ref in self.references:
                if not ref.explicit or kind_of(ref, artifacts) != kind:
                    continue
                found = resolve(ref, kind, artifacts) if ref.selector != "unclear" else []
                if found:
                    seen.update(a.index for a in found)
                else:
                    named += _size(ref.selector)
            named += len(seen)
            # "the clip" adds no second video to "clip.mp4": it is one thing named twice, or the latest.
            vague = any(not r.explicit and r.kind == kind for r in self.references)
            evidence[kind] = max(named, int(vague))
        if not any(evidence.values()) and artifacts and self.has_pronoun:
            latest = max(artifacts, key=lambda a: a.index)
            evidence[latest.kind] = 1
        return evidence


# "the one after the snowy cabin", "the clip right before #3": a neighbour, in session order, of what follows.
_RELATIVE = re.compile(
    rf"\bthe\s+(?P<noun>{_NOUN})\s+(?:(?:right|just|immediately|directly)\s+)?(?P<dir>after|before)\s+",
    re.IGNORECASE,
)
# "put the one after the horse clip": an order to set, not a neighbour.
_PLACING = re.compile(r"\b(?:put|place|move|insert|stick|add|append|prepend|play|show|set|drop|slot)\s+$", re.I)
_ANAPHOR = re.compile(r"\b(?:it|that|this)\s*$", re.IGNORECASE)


def bind_relative(facts: TurnFacts, artifacts: list[SessionArtifact]) -> TurnFacts:
    """``facts`` with each "the one after X" / "the one before X" bound to X's neighbour in session order (of the
    kind its noun names, else of X's kind). X is the reference that follows, or, for "it" / "that", what the turn
    named last before it ("connect the one after the snowy cabin to the one before it": the one before the cabin);
    with nothing named before, "the one before it" stays the one before the latest."""
    refs = list(facts.references)
    mentioned: list[tuple[int, SessionArtifact]] = []  # (where, what): the artifacts the turn has named so far

    def single(ref: Reference) -> SessionArtifact | None:
        kind = kind_of(ref, artifacts)
        if not ref.explicit or kind is None or ref.selector in ("unclear", "pair") or ref.source is not None:
            return None
        found = resolve(ref, kind, artifacts)
        return found[0] if len(found) == 1 else None

    for ref in refs:
        if (artifact := single(ref)) is not None:
            mentioned.append((ref.start, artifact))
    changed = False
    for match in _RELATIVE.finditer(facts.masked):
        if _PLACING.search(facts.masked, 0, match.start()):
            continue
        whole = next((r for r in refs if r.start <= match.start() < r.end and r.selector.startswith("fromlast")), None)
        anchor = next((r for r in refs if r.start == match.end() and r is not whole), None)
        if (whole is not None and _ANAPHOR.search(whole.phrase)) or (anchor is not None and anchor.how == "pronoun"):
            earlier = [(at, a) for at, a in mentioned if at < match.start()]
            base = max(earlier, key=lambda item: item[0])[1] if earlier else None
        else:
            base = single(anchor) if anchor is not None and whole is None else None
        if base is None:
            continue
        kind = _noun_kind(match["noun"]) or base.kind
        pool = sorted((a for a in artifacts if a.kind == kind), key=lambda a: a.index)
        if match["dir"].lower() == "after":
            neighbour = next((a for a in pool if a.index > base.index), None)
        else:
            neighbour = next((a for a in reversed(pool) if a.index < base.index), None)
        if neighbour is None:
            continue  # nothing after the last clip: the words stay as they were read
        gone = [r for r in (whole, anchor) if r is not None]
        end = max(r.end for r in gone)
        gone += [r for r in refs if not r.explicit and match.start() <= r.start < end and r not in gone]  # "the clip"
        for r in gone:
            refs.remove(r)
        how = anchor.how if anchor is not None and anchor.how in ("content", "listed", "turn") else "position"
        refs.append(Reference(match.start(), kind, f"artifact:{neighbour.index}", end=end,
                              phrase=facts.masked[match.start() : end].strip(), how=how))  # fmt: skip
        changed = True
    if not changed:
        return facts
    return replace(facts, references=sorted(refs, key=lambda r: r.start))


def kind_of(ref: Reference, artifacts: list[SessionArtifact]) -> MediaKind | None:
    """What kind of artifact ``ref`` names: its noun's, else the artifact it resolves to ("#3", "turn 2"), else the
    kind of the session's latest artifact ("the second one"); ``None`` when the words and the session leave it open."""
    if ref.kind is not None:
        return ref.kind
    what, _, number = ref.selector.partition(":")
    if what == "artifact":
        kind = next((a.kind for a in artifacts if a.index == int(number)), None)
        if kind is not None or not artifacts:
            return kind
        return max(artifacts, key=lambda a: a.index).kind  # "#7" of 4: about clips all the same (then: no such)
    if what == "turn":
        last_turn = max((a.turn for a in artifacts), default=0)
        wanted = last_turn if number == "last" else int(number)
        return next((a.kind for a in reversed(artifacts) if a.turn == wanted), None)
    if what == "unclear":
        kinds = {a.kind for a in artifacts if a.index in ref.candidates}
        return kinds.pop() if len(kinds) == 1 else None
    # "the one before last" in a session of clips and photos: of the kind made last, as in a conversation.
    return max(artifacts, key=lambda a: a.index).kind if artifacts else None


def _size(selector: str) -> int:
    """How many artifacts a selector names."""
    if selector == "unclear":
        return 1
    if selector == "pair":
        return 2
    if selector.startswith(("first:", "last:")):
        return int(selector.split(":")[1])
    return 1
