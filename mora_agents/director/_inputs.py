"""Filling a chosen task's inputs from what the turn says; a clarifying question when a required one is missing.

Inputs are found by type, so a user SOP needs no code: files and session artifacts go to ``image`` /
``video`` inputs in the order the user names them, the turn's text to the (one) required text input, a
duration to the ``duration`` (or the only ``seconds``) input, a count to an ``int`` input named like the
counted noun, a choice word to a ``choice`` input. Nothing is guessed: what cannot be filled is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mora_agents.director._slots import (
    MediaKind,
    TurnFacts,
    find_durations,
    mask_paths,
    parse_counts,
    parse_duration,
    resolve,
)
from mora_agents.messages import ClarifyingQuestion, SessionArtifact
from mora_agents.sop import InputSpec, SopSpec

CHOICE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "transfer": (r"style[- ]?transfer", r"restyle", r"transfer"),
    "edit": (r"edit", r"change", r"modify", r"alter", r"but"),
}
"""Words that select a choice besides its own name (regular expressions, matched as whole words).

"but" selects ``edit``: "animate this photo but at night" asks to change the image before animating it.
A choice's own name always counts, so a user SOP's choices work without an entry here.
"""


@dataclass
class Filled:
    """The inputs found for a task, and what is still missing."""

    inputs: dict[str, str | float | int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Sentences for the user: a clip that does not exist, a duration out of range."""


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


def _fill_media(spec: SopSpec, facts: TurnFacts, artifacts: list[SessionArtifact], kind: MediaKind, filled: Filled):
    slots = [name for name, item in spec.inputs.items() if item.type == kind]
    if not slots:
        return
    required = [name for name in slots if spec.inputs[name].required]
    named: list[tuple[float, str]] = [(p.start, p.path) for p in facts.paths if p.kind == kind]
    for ref in facts.references:
        if not ref.explicit or ref.kind not in (kind, None):
            continue  # "the last one" (no noun) fits whatever is needed
        found = resolve(ref, kind, artifacts)
        if not found and ref.kind == kind and any(a.kind == kind for a in artifacts):
            # (With none of the kind at all, the question says so once.)
            filled.problems.append(_no_such(ref.selector, kind, artifacts))
        named.extend((ref.start + i / 10, a.path) for i, a in enumerate(found))
    chosen = _unique(named)
    pool = sorted((a for a in artifacts if a.kind == kind), key=lambda a: a.index)
    # "it", "that", "the clip": the latest artifact of the kind, where the user said it.
    vague = [r for r in facts.references if not r.explicit and r.kind in (kind, None)]
    if pool and vague and len(chosen) < len(required or slots[:1]):
        pronoun_only = all(r.kind is None for r in vague)
        if not pronoun_only or required:
            latest = pool[-1].path
            if latest not in chosen:
                named.append((vague[0].start, latest))
                chosen = _unique(named)
    # Nothing named at all: in a conversation, "extend by 4 seconds" is about the latest clip; two required
    # inputs are filled only when the session holds exactly two.
    if not chosen and not _mentions(facts, kind) and required and pool:
        if len(required) == 1:
            chosen = [pool[-1].path]
        elif len(pool) == len(required):
            chosen = [a.path for a in pool]
    for name, value in zip(slots, chosen, strict=False):
        filled.inputs[name] = value
    unfilled = slots[len(chosen) :]
    # Missing: a required input, or an optional one the user pointed at ("this photo") that is nowhere.
    for name in unfilled:
        if spec.inputs[name].required or (name == unfilled[0] and _points_at(facts, kind)):
            filled.missing.append(name)


def _unique(named: list[tuple[float, str]]) -> list[str]:
    return list(dict.fromkeys(path for _, path in sorted(named)))


def _mentions(facts: TurnFacts, kind: MediaKind) -> bool:
    return any(p.kind == kind for p in facts.paths) or any(r.kind == kind for r in facts.references)


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


def without_durations(text: str) -> str:
    """``text`` minus its durations and the little words that tie them on ("a kite, 2 seconds" -> "a kite")."""
    for duration in reversed(find_durations(text)):
        head = re.sub(r"(?:[\s,]*(?:for|of|lasting|about|around))?[\s,]*$", "", text[: duration.start])
        text = head + text[duration.end :]
    return re.sub(r"\s{2,}", " ", text).strip(" ,;")


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
    video in this session yet: name a file, e.g. clip.mp4."."""
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


def _noun_phrase(text: str) -> str:
    return text if re.match(r"(?:the|a|an|your|my)\b", text, re.IGNORECASE) else f"the {text}"
