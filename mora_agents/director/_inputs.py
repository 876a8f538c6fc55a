"""Filling a chosen task's inputs from what the turn says; a clarifying question when a required one is missing.

Inputs are found by type, so a user SOP needs no code: files and session artifacts go to ``image`` /
``video`` inputs in the order the user names them, the turn's text to the (one) required text input, a
duration to the ``duration`` (or the only ``seconds``) input, a count to an ``int`` input named like the
counted noun, a choice word to a ``choice`` input. Nothing is guessed: what cannot be filled is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mora_agents.director._content import content_stems, describe, stem
from mora_agents.director._labels import artifact_line
from mora_agents.director._slots import (
    _VIDEO_NOUN,
    MediaKind,
    Reference,
    TurnFacts,
    kind_of,
    mask_paths,
    parse_counts,
    parse_duration,
    resolve,
    without_durations,
)
from mora_agents.messages import ClarifyingQuestion, InputBinding, SessionArtifact
from mora_agents.sop import InputSpec, SopSpec

CHOICE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "transfer": (r"style[- ]?transfer", r"restyle", r"transfer"),
    "edit": (r"edit", r"change", r"modify", r"alter", r"but", r"(?:make|turn)\b[^.;]*?\bfirst"),
}
"""Words that select a choice besides its own name (regular expressions, matched as whole words).

"but" selects ``edit``: "animate this photo but at night" asks to change the image before animating it; so does
"make the photo snowy first, then animate it".
A choice's own name always counts, so a user SOP's choices work without an entry here.
"""


@dataclass
class Unclear:
    """A phrase that may mean several artifacts of the kind an input needs: the director asks which."""

    kind: MediaKind
    phrase: str
    candidates: tuple[int, ...]
    unmatched: bool
    """Nothing matched the phrase (the candidates are all of the kind), rather than a near-tie."""


@dataclass
class Filled:
    """The inputs found for a task, and what is still missing."""

    inputs: dict[str, str | float | int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Sentences for the user: a clip that does not exist, a duration out of range."""
    bindings: list[InputBinding] = field(default_factory=list)
    """Which words chose each image and video input."""
    unclear: list[Unclear] = field(default_factory=list)


def fill_inputs(spec: SopSpec, facts: TurnFacts, artifacts: list[SessionArtifact]) -> Filled:
    """Everything the turn says about ``spec``'s inputs."""
    filled = Filled()
    for kind in ("video", "image"):
        _fill_media(spec, facts, artifacts, kind, filled)
    _fill_text(spec, facts, filled)
    _fill_seconds(spec, facts, filled)
    _fill_counts(spec, facts, filled)
    _fill_choices(spec, facts, filled)
    for name, item in spec.inputs.items():
        if item.required and name not in filled.inputs and name not in filled.missing:
            filled.missing.append(name)
    order = list(spec.inputs)
    filled.missing.sort(key=order.index)
    return filled


@dataclass
class _Pick:
    start: float
    end: int
    path: str
    binding: InputBinding


# Between two named clips, these words put the second one first: "put X after Y" -> (Y, X).
_SHOULD = r"(?:should\s+|must\s+|has\s+to\s+|needs?\s+to\s+|can\s+)?(?:go(?:es)?\s+|comes?\s+|be\s+)?"
# Between two named clips, right before the second: "put X after Y", "glue X onto the end of Y" -> (Y, X).
_REVERSED_ORDER = re.compile(
    r"\b(?:after|follows?|following|behind|preceded by|(?:on)?to the end of|at the end of)\s*(?:the\s+)?$",
    re.IGNORECASE,
)
# "the newest one goes first", "in reverse order": the later clip opens.
_LATER_FIRST = re.compile(
    rf"\b(?:(?:newest|latest|newer|most recent)(?:\s+(?:one|clip|video|vid))?\s+{_SHOULD}first|"
    rf"(?:last|later|recent)\s+(?:one|clip|video|vid)\s+{_SHOULD}first|"
    r"reverse(?:d)?\s+order|the other way round|backwards|older(?:\s+one|\s+of the two)?\s+(?:at the end|last|second)|"
    r"(?:start|begin|open)(?:s|ing)?\s+(?:with|on)\s+the\s+(?:last|latest|newest|newer|second)\b(?!\s+(?:and|,)?\s*"
    r"(?:end|finish)\w*\s+(?:with|on)\s+the\s+(?:last|latest|newest)))\b",
    re.IGNORECASE,
)
# "the wallet one goes first": a clip's word, then its noun.
_ONE = rf"(?:\s+(?:one|{_VIDEO_NOUN}))?"
# "horse first", "start with the whale", "whale goes first": that clip opens.
_OPENS = re.compile(
    rf"(?:\b|(?=#))(?P<a>[a-z][\w'-]*|#\d+){_ONE}\s+{_SHOULD}first\b|\b(?:start|begin|open)(?:s|ing)?\s+(?:with|on)\s+(?:the\s+)?"
    r"(?P<b>[a-z][\w'-]*|#\d+)",
    re.IGNORECASE,
)
# "cabin should come second", "end with the deer": that clip closes.
_CLOSES = re.compile(
    rf"(?:\b|(?=#))(?P<a>[a-z][\w'-]*|#\d+){_ONE}\s+{_SHOULD}(?:second|last)\b|\b(?:end|finish|close)(?:s|ing)?\s+(?:with|on)\s+"
    r"(?:the\s+)?(?P<b>[a-z][\w'-]*|#\d+)",
    re.IGNORECASE,
)


def _fill_media(spec: SopSpec, facts: TurnFacts, artifacts: list[SessionArtifact], kind: MediaKind, filled: Filled):
    slots = [name for name, item in spec.inputs.items() if item.type == kind]
    if not slots:
        return
    required = [name for name in slots if spec.inputs[name].required]
    picks = [_Pick(p.start, p.end, p.path, InputBinding(input="", phrase=p.path, file=p.path, how="file"))
             for p in facts.paths if p.kind == kind]  # fmt: skip
    explicit = [r for r in facts.references if r.explicit]
    if sum(r.selector != "pair" and kind_of(r, artifacts) == kind for r in explicit) >= 2:
        explicit = [r for r in explicit if r.selector != "pair"]  # "join them: the last clip, then the first one"
    for ref in explicit:
        picks.extend(_picks(ref, kind, artifacts, filled))
    picks = _in_said_order(_unique(picks), facts.masked, artifacts)
    pool = sorted((a for a in artifacts if a.kind == kind), key=lambda a: a.index)
    # "it", "that", "the clip": the latest artifact of the kind, where the user said it.
    vague = [r for r in facts.references if not r.explicit and r.kind in (kind, None)]
    if pool and vague and len(picks) < len(required or slots[:1]) and not filled.unclear:
        pronoun_only = all(r.kind is None for r in vague)
        if (not pronoun_only or required) and pool[-1].path not in [p.path for p in picks]:
            ref = vague[0]
            binding = InputBinding(input="", phrase=ref.phrase, artifact=pool[-1].index, how=ref.how)
            picks = sorted([*picks, _Pick(ref.start, ref.end, pool[-1].path, binding)], key=lambda p: p.start)
    # Nothing named at all: in a conversation, "extend by 4 seconds" is about the latest clip; two required
    # inputs are filled only when the session holds exactly two.
    if not picks and not _mentions(facts, kind, artifacts) and required and pool and not filled.unclear:
        if len(required) == 1:
            picks = [_Pick(0, 0, pool[-1].path, InputBinding(input="", artifact=pool[-1].index, how="latest"))]
        elif len(pool) == len(required):
            picks = [_Pick(0, 0, a.path, InputBinding(input="", artifact=a.index, how="only")) for a in pool]
    for name, pick in zip(slots, picks, strict=False):
        filled.inputs[name] = pick.path
        filled.bindings.append(pick.binding.model_copy(update={"input": name}))
    unfilled = slots[len(picks) :]
    # Missing: a required input, or an optional one the user pointed at ("this photo") that is nowhere.
    for name in unfilled:
        if spec.inputs[name].required or (name == unfilled[0] and _points_at(facts, kind)):
            filled.missing.append(name)


def _picks(ref: Reference, kind: MediaKind, artifacts: list[SessionArtifact], filled: Filled) -> list[_Pick]:
    """What one explicit reference gives an input of ``kind``; an unclear one is noted for the question."""
    target = ref.source if ref.source is not None and kind == "image" else ref
    frame = ref.selector.partition(":")[2] if ref.source is not None else None
    if ref.source is not None and kind != "image":
        return []
    if target.selector == "unclear":
        wanted = "video" if frame else kind
        numbers = tuple(a.index for a in artifacts if a.index in target.candidates and a.kind == wanted)
        if len(numbers) != 1 or target.unmatched:  # "the photo of the waterfall" when the only photo is a cake
            if numbers:
                filled.unclear.append(Unclear(wanted, target.phrase, numbers, target.unmatched))
            return []
        target = replace(target, selector=f"artifact:{numbers[0]}")
    what, _, number = target.selector.partition(":")
    if what == "artifact" and not any(a.index == int(number) for a in artifacts):
        filled.problems.append(f"This session has no #{number} (it has {len(artifacts)}: see /list).")
        return []
    if what == "turn" and number != "last" and not any(a.turn == int(number) for a in artifacts):
        turns = max((a.turn for a in artifacts), default=0)
        filled.problems.append(f"Turn {number} made nothing in this session (its last result is from turn {turns}).")
        return []
    found = resolve(replace(ref, source=target) if ref.source is not None else target, kind, artifacts)
    named_kind = "video" if frame else kind_of(target, artifacts)
    if not found and named_kind == kind and any(a.kind == kind for a in artifacts):
        # (With none of the kind at all, the question says so once.)
        filled.problems.append(_no_such(target.selector, kind, artifacts))
    return [
        _Pick(ref.start + i / 10, ref.end, a.path,
              InputBinding(input="", phrase=ref.phrase, artifact=a.index, how=target.how, frame=frame))
        for i, a in enumerate(found)
    ]  # fmt: skip


def _in_said_order(picks: list[_Pick], text: str, artifacts: list[SessionArtifact]) -> list[_Pick]:
    """Two clips in the order the sentence gives: "put X after Y" -> (Y, X); "stitch them, horse first"."""
    if len(picks) != 2:
        return picks
    if picks[0].end <= picks[1].start and _REVERSED_ORDER.search(text[picks[0].end : int(picks[1].start)]):
        return [picks[1], picks[0]]
    if _LATER_FIRST.search(text):
        return sorted(picks, key=lambda p: -(p.binding.artifact or 0))
    for pattern, swapped in ((_OPENS, [False, True]), (_CLOSES, [True, False])):
        for match in pattern.finditer(text):
            said = match["a"] or match["b"]
            if said.startswith("#"):  # "#3 goes first": a clarifying answer put the number in the sentence
                shown = [p.binding.artifact == int(said[1:]) for p in picks]
            else:
                shown = [stem(said) in content_stems(_shows(p, artifacts)) for p in picks]
            if shown == swapped:
                return [picks[1], picks[0]]
    return picks


def _shows(pick: _Pick, artifacts: list[SessionArtifact]) -> str:
    artifact = next((a for a in artifacts if a.index == pick.binding.artifact), None)
    return describe(artifact, artifacts) if artifact else pick.path


def _unique(picks: list[_Pick]) -> list[_Pick]:
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for pick in sorted(picks, key=lambda p: p.start):
        key = (pick.path, pick.binding.frame)
        if key not in seen:
            seen.add(key)
            unique.append(pick)
    return unique


def _mentions(facts: TurnFacts, kind: MediaKind, artifacts: list[SessionArtifact]) -> bool:
    return any(p.kind == kind for p in facts.paths) or any(
        kind_of(r, artifacts) == kind or r.selector == "unclear" for r in facts.references if r.explicit
    )


def _points_at(facts: TurnFacts, kind: MediaKind) -> bool:
    """The turn names an artifact of ``kind`` by noun ("this photo", "the first clip")."""
    return any(r.kind == kind for r in facts.references)


def _no_such(selector: str, kind: MediaKind, artifacts: list[SessionArtifact]) -> str:
    count = sum(a.kind == kind for a in artifacts)
    have = f"it has {count} {kind}{'s' if count != 1 else ''}" if count else f"it has no {kind} yet"
    what, _, number = selector.partition(":")
    if what == "index":
        return f"This session has no {kind} {number} ({have})."
    if what in ("first", "last"):
        return f"This session has no {what} {number} {kind}s ({have})."
    if what == "pair":
        return f"This session has no two {kind}s to use ({have})."
    return f"This session has no {kind} to use ({have})."


def _fill_text(spec: SopSpec, facts: TurnFacts, filled: Filled) -> None:
    required = [name for name, item in spec.inputs.items() if item.type == "text" and item.required]
    target = "prompt" if "prompt" in required else required[0] if len(required) == 1 else None
    if target is None:
        return
    # File names read as "this image" / "this video": "animate photo.png" -> "animate this image".
    text = mask_paths(facts.text, facts.paths)
    if any(item.type == "seconds" for item in spec.inputs.values()):
        # The duration goes to its own input; left in the prompt it would only confuse the image model.
        text = without_durations(text)
    if re.search(r"[a-z]{2,}", text, re.IGNORECASE):
        filled.inputs[target] = text


def _fill_seconds(spec: SopSpec, facts: TurnFacts, filled: Filled) -> None:
    seconds = [name for name, item in spec.inputs.items() if item.type == "seconds"]
    target = "duration" if "duration" in seconds else seconds[0] if len(seconds) == 1 else None
    if target is None:
        return
    duration = parse_duration(facts.masked, prefer_added=True)
    if duration is None:
        return
    try:
        filled.inputs[target] = spec.inputs[target].coerce(target, duration)
    except ValueError:
        what = target.replace("_", " ")
        filled.problems.append(
            f"The {what} must be between 0 and 600 seconds, not {duration:g}: how long should it be?"
        )
        filled.missing.append(target)


def _fill_counts(spec: SopSpec, facts: TurnFacts, filled: Filled) -> None:
    numbers = [(name, item) for name, item in spec.inputs.items() if item.type == "int"]
    if not numbers:
        return
    counts = parse_counts(facts.masked)
    for name, item in numbers:
        words = _stems(f"{name} {item.description}")
        match = next((n for n, noun in counts if _stem(noun) in words), None)
        if match is None and len(numbers) == 1 and len(counts) == 1:
            match = counts[0][0]
        if match is not None:
            filled.inputs[name] = match


def _fill_choices(spec: SopSpec, facts: TurnFacts, filled: Filled) -> None:
    text = facts.masked.lower()
    for name, item in spec.inputs.items():
        if item.type != "choice":
            continue
        value = _choice(item, text)
        if value is not None and value != item.default:
            filled.inputs[name] = value


def _choice(item: InputSpec, text: str) -> str | None:
    said = [c for c in item.choices or [] if re.search(rf"\b{re.escape(c.lower())}\b", text)]
    if said:
        return said[-1]  # [suffix, transfer, both]: "both suffix and transfer" -> both
    for choice in item.choices or []:
        if any(re.search(rf"\b{pattern}\b", text) for pattern in CHOICE_SYNONYMS.get(choice, ())):
            return choice
    return None


def _stem(word: str) -> str:
    return word.lower().removesuffix("s")


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z]+", text.lower())}


def clarifying_question(spec: SopSpec, filled: Filled, artifacts: list[SessionArtifact]) -> ClarifyingQuestion:
    """A question naming what is missing, in plain words, e.g. "Which video should I continue? There is no
    video in this session yet: name a file, e.g. clip.mp4.". A phrase that fits several artifacts (or none)
    gets the candidates listed with their numbers, as ``/list`` shows them."""
    if filled.unclear:
        return _which_one(spec, filled.unclear, artifacts)
    sentences = list(dict.fromkeys(filled.problems))
    media: dict[str, list[str]] = {}
    for name in filled.missing:
        item = spec.inputs[name]
        purpose = item.description or name.replace("_", " ")
        if item.type in ("image", "video"):
            media.setdefault(item.type, []).append(purpose)
        elif item.type == "text":
            sentences.append(f"Please tell me {purpose}.")
        elif not any(name.replace("_", " ") in problem for problem in filled.problems):
            sentences.append(f"Please give the {name.replace('_', ' ')} ({purpose}).")
    for kind, purposes in sorted(media.items()):
        action = re.fullmatch(rf"(?:the |an? )?{kind} to (\w+(?: \w+)?)", purposes[0], re.IGNORECASE)
        if len(purposes) == 1 and action:
            sentences.append(f"Which {kind} should I {action[1]}?")  # "the video to continue"
        else:
            roles = " and ".join(_noun_phrase(p) for p in purposes)
            sentences.append(f"Which {kind}{'s' if len(purposes) > 1 else ''} should I use as {roles}?")
        if not any(a.kind == kind for a in artifacts):
            example = "clip.mp4" if kind == "video" else "photo.png"
            sentences.append(f"There is no {kind} in this session yet: name a file, e.g. {example}.")
        else:
            example = "'the first clip' or 'clip 2'" if kind == "video" else "'the image' or 'image 1'"
            sentences.append(f"Say which one, e.g. {example}, or name a file.")
    return ClarifyingQuestion(question=" ".join(sentences), task=spec.name, missing=list(filled.missing))


def _which_one(spec: SopSpec, unclear: list[Unclear], artifacts: list[SessionArtifact]) -> ClarifyingQuestion:
    sentences, numbers = [], []
    for item in unclear:
        noun = "clip" if item.kind == "video" else "image"
        listed = [a for a in artifacts if a.index in item.candidates]
        options = "; ".join(artifact_line(a, artifacts) for a in listed)
        if item.unmatched:
            sentences.append(f"No {noun} in this session matches '{item.phrase}'. Which one do you mean: {options}?")
        else:
            sentences.append(f"'{item.phrase}' could be more than one {noun}: {options}. Which one do you mean?")
        numbers.extend(a.index for a in listed)
    example = f"#{numbers[0]}" if numbers else "#1"
    sentences.append(f"Answer with its number, e.g. '{example}'.")
    missing = [b for b in dict.fromkeys(name for name, i in spec.inputs.items() if i.type in {u.kind for u in unclear})]
    about = unclear[0].phrase if len(unclear) == 1 else None
    return ClarifyingQuestion(
        question=" ".join(sentences),
        task=spec.name,
        missing=missing,
        candidates=list(dict.fromkeys(numbers)),
        about=about,
    )


def _noun_phrase(text: str) -> str:
    return text if re.match(r"(?:the|a|an|your|my)\b", text, re.IGNORECASE) else f"the {text}"
