"""The embedded resolver's model: a small head, trained on the director corpus, over frozen all-MiniLM-L6-v2 vectors.

What it reads (no word list, no phrase rule): the turn's word-piece vectors; each artifact's content vectors (what it
shows, its sources included), its place in the list (from the start, from the end, among its kind), its kind, how it
was made, whether something was made from it; each task's examples and description, and which media it takes; and
the closed-grammar facts of :mod:`._front` ("#3", "clip 2", file names, and numerals such as "third" or "4").

How it decides:
- **task**: a softmax over the registered tasks. A task's logit is a learned function of the turn's similarity to
  its examples and description and of the media it takes against the media at hand; the built-in tasks add a
  learned projection of the turn vector. A user SOP routes by its examples and inputs alone.
- **each media input**: a softmax over the artifacts (and, for an image, the first and last frames of the clips)
  that fit it. A learned attention over the turn's word pieces makes a query vector that weighs the place, kind and
  derivation attributes ("third", "the extended one", "the photo"); a second attention says which word pieces
  name content, matched against each artifact's content pieces. A numeral adds to the candidates whose place
  it equals, counted four ways (in the list, among the kind, from the end of either), each way weighed by a learned
  reading of the words around it ("third from the end", "photo two", "number four").
- **two clips in order** (``connect_videos``): a softmax over ordered pairs: which two clips (each clip's score
  in both roles, averaged), then their order: a learned gate reads whether the turn speaks of order at all; if not,
  the session's order; if so, the order of mention and a learned reading of the words just before and just after
  each clip's mention ("forest first", "#1 should come after", "put A after B").

The probabilities are the resolver's confidence: :mod:`._learned` asks when they are low.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mora_agents.director._describe import content
from mora_agents.director._durations import without_durations
from mora_agents.director._front import TurnReading
from mora_agents.messages import SessionArtifact
from mora_agents.sop import SopSpec

WIDTH = 384
"""all-MiniLM-L6-v2's vector size."""
PLACES = 6
"""Places counted one by one (from the start, from the end); further ones share the last slot."""
OPERATIONS = (
    "text_to_video",
    "image_to_video",
    "extend_video",
    "edit_video",
    "connect_videos",
    "digital_world",
    "input",
)
BUILTIN_TASKS = ("text_to_video", "image_to_video", "extend_video", "edit_video", "connect_videos", "digital_world")
HEADS = ("video", "image", "first", "second", "optional_image")
"""One scoring head per role an input can play."""

TokenEncoder = Callable[[list[str]], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]
"""Texts -> per text (word-piece vectors, their character spans, sentence vector): :func:`mora_tools.encoders.sentence.
minilm_tokens`."""


@dataclass(frozen=True)
class Candidate:
    """What a media input may be bound to: an artifact, a frame of a clip, or nothing (an optional input)."""

    artifact: int | None
    frame: str | None = None


@dataclass
class SlotFeatures:
    """Everything the model reads about one input's candidates."""

    name: str
    head: str
    candidates: list[Candidate]
    attributes: np.ndarray
    """``[A, ATTRIBUTES]``: place, kind, frame, operation and derivation flags per candidate."""
    match: np.ndarray
    """``[L, A]``: per turn word piece, its best cosine with the candidate's content pieces."""
    named: np.ndarray
    """``[L, A]``: 1 where a closed-grammar mention ("#3", "clip 2") names the candidate."""
    sentence: np.ndarray
    """``[A]``: cosine of the turn with the candidate's content."""
    covered: np.ndarray
    """``[A]``: how much of the candidate's content the turn covers (mean over its pieces of the best match)."""
    numeral: np.ndarray
    """``[L, A, 4]``: 1 at a numeral's first piece where its value is the candidate's place, counted in the list,
    among its kind, from the list's end, from its kind's end (:data:`COUNTINGS`)."""


@dataclass
class TurnFeatures:
    """A turn, as the model reads it."""

    pieces: np.ndarray
    """``[L, WIDTH]`` word-piece vectors."""
    where: np.ndarray
    """``[L]``: each piece's place in the turn, 0 (first) to 1 (last)."""
    sentence: np.ndarray
    tasks: list[str]
    task_features: np.ndarray
    """``[K, TASK_FEATURES]``."""
    slots: dict[str, dict[str, SlotFeatures]] = field(default_factory=dict)
    """Per task, per media input."""
    problems: list[str] = field(default_factory=list)
    """What the closed grammars read but cannot be ("clip 7" of four): the turn is asked about."""
    match: np.ndarray | None = None
    """``[L, N]``: per word piece, its best cosine with each artifact's content (a mention counts 1)."""


ATTRIBUTES = 4 * PLACES + 2 + 3 + len(OPERATIONS) + 1 + 5
COUNTINGS = 4
"""Ways a number can count an artifact's place: in the list, among its kind, from the end of either."""
TASK_FEATURES = 17


def attributes(candidate: Candidate, artifacts: Sequence[SessionArtifact]) -> np.ndarray:
    """Place, kind, frame, how made and derivation flags, one-hot: nothing here reads the turn."""
    vector = np.zeros(ATTRIBUTES, dtype=np.float32)
    if candidate.artifact is None:
        vector[-1] = 1.0  # nothing: an optional input left empty
        return vector
    ordered = sorted(artifacts, key=lambda a: a.index)
    artifact = next(a for a in ordered if a.index == candidate.artifact)
    in_list, in_kind, from_end, kind_from_end = places(artifact, ordered)
    place = in_list - 1
    offsets = (place, from_end - 1, in_kind - 1, kind_from_end - 1)  # from 0, in the blocks' order
    for block, offset in enumerate(offsets):
        vector[block * PLACES + min(offset, PLACES - 1)] = 1.0
    at = 4 * PLACES
    vector[at + (artifact.kind == "image")] = 1.0
    vector[at + 2 + ("first", "last").index(candidate.frame) + 1 if candidate.frame else at + 2] = 1.0
    at += 5
    if artifact.task in OPERATIONS:
        vector[at + OPERATIONS.index(artifact.task)] = 1.0
    at += len(OPERATIONS)
    vector[at] = float(len(ordered) % 2 == 1 and place == len(ordered) // 2)  # the middle one
    at += 1
    made_from = [a for a in ordered if artifact.index in a.sources]
    vector[at] = float(bool(made_from))  # an original: something was made from it
    vector[at + 1] = float(bool(artifact.sources))  # derived from another
    vector[at + 2] = float(any(a.index in artifact.sources for a in ordered if a.kind == "image"))  # from a photo
    vector[at + 3] = float(artifact.stale)
    return vector


def places(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact]) -> tuple[int, int, int, int]:
    """The artifact's place counted from 1, each way of :data:`COUNTINGS`: in the list, among its kind, from the
    list's end (the last is 1), from its kind's end."""
    ordered = sorted(artifacts, key=lambda a: a.index)
    same = [a for a in ordered if a.kind == artifact.kind]
    place, kind_place = ordered.index(artifact), same.index(artifact)
    return place + 1, kind_place + 1, len(ordered) - place, len(same) - kind_place


def _media_inputs(spec: SopSpec) -> list[tuple[str, str]]:
    """``(input name, head)`` for each image or video input, in declaration order."""
    videos = [n for n, i in spec.inputs.items() if i.type == "video"]
    found = []
    for name, item in spec.inputs.items():
        if item.type == "video":
            head = "video" if len(videos) == 1 else ("first" if name == videos[0] else "second")
            found.append((name, head))
        elif item.type == "image":
            found.append((name, "image" if item.required else "optional_image"))
    return found


class Featurizer:
    """Turns (turn, session, tasks) into :class:`TurnFeatures`; encodings of artifacts and examples are cached."""

    def __init__(self, encode: TokenEncoder) -> None:
        self._encode = encode
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def encoded(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self._encode(missing), strict=True))
        return [self._cache[t] for t in texts]

    def features(
        self, reading: TurnReading, artifacts: Sequence[SessionArtifact], specs: Sequence[SopSpec]
    ) -> TurnFeatures:
        read = reading.without_facts  # not stripped: the pieces' character spans must match the turn's
        ((pieces, spans, sentence),) = self._encode([read if read.strip() else reading.text])
        where = np.linspace(0.0, 1.0, num=len(pieces), dtype=np.float32) if len(pieces) else np.zeros(0, np.float32)
        turn = TurnFeatures(pieces, where, sentence, [s.name for s in specs], np.zeros((len(specs), TASK_FEATURES)))
        turn.problems = list(reading.problems)
        # What each shows, its durations left out: they are no part of what a person points at.
        texts = {a.index: without_durations(content(a, artifacts)) or a.kind for a in artifacts}
        encoded = dict(zip(texts, self.encoded(list(texts.values())), strict=True))
        named = {a.index: np.zeros(len(pieces), np.float32) for a in artifacts}
        for mention in reading.mentions:
            inside = (spans[:, 0] < mention.end) & (spans[:, 1] > mention.start) if len(spans) else []
            named[mention.artifact][inside] = 1.0
        said = [(_first_piece(spans, n.start, n.end), n.value) for n in reading.numerals]
        numbers = [(at, value) for at, value in said if at is not None]
        turn.match = np.zeros((len(pieces), len(artifacts)), np.float32)
        for j, artifact in enumerate(artifacts):
            vectors = encoded[artifact.index][0]
            if len(pieces) and len(vectors):
                turn.match[:, j] = np.maximum((pieces @ vectors.T).max(axis=1), named[artifact.index])
        for k, spec in enumerate(specs):
            turn.task_features[k] = self._task_features(turn, reading, artifacts, spec)
            turn.slots[spec.name] = {
                name: self._slot(turn, name, head, artifacts, encoded, named, numbers)
                for name, head in _media_inputs(spec)
            }
        return turn

    def _slot(self, turn, name, head, artifacts, encoded, named, numbers) -> SlotFeatures:
        kind = "video" if head in ("video", "first", "second") else "image"
        candidates = [Candidate(a.index) for a in artifacts if a.kind == kind]
        if kind == "image":
            clips = [a for a in artifacts if a.kind == "video"]
            candidates += [Candidate(a.index, frame) for a in clips for frame in ("first", "last")]
        if head == "optional_image":
            candidates.append(Candidate(None))
        size = len(candidates)
        match = np.zeros((len(turn.pieces), size), np.float32)
        said = np.zeros((len(turn.pieces), size), np.float32)
        sentence, covered = np.zeros(size, np.float32), np.zeros(size, np.float32)
        numeral = np.zeros((len(turn.pieces), size, COUNTINGS), np.float32)
        by_index = {a.index: a for a in artifacts}
        for j, candidate in enumerate(candidates):
            if candidate.artifact is None:
                continue
            counted = places(by_index[candidate.artifact], artifacts)
            for at, value in numbers:
                numeral[at, j] = [float(value == place) for place in counted]
            pieces, _, vector = encoded[candidate.artifact]
            if len(pieces) and len(turn.pieces):
                cosines = turn.pieces @ pieces.T
                match[:, j] = cosines.max(axis=1)
                covered[j] = cosines.max(axis=0).mean()
            said[:, j] = named[candidate.artifact]
            sentence[j] = float(vector @ turn.sentence)
        rows = np.stack([attributes(c, artifacts) for c in candidates]) if candidates else np.zeros((0, ATTRIBUTES))
        return SlotFeatures(name, head, candidates, rows.astype(np.float32), match, said, sentence, covered, numeral)

    def _task_features(self, turn, reading, artifacts, spec: SopSpec) -> np.ndarray:
        phrases = [*spec.examples, spec.description]
        vectors = np.stack([v for _, _, v in self.encoded(phrases)])
        cosines = vectors[:-1] @ turn.sentence if spec.examples else np.zeros(1)
        by_index = {a.index: a for a in artifacts}
        videos = sum(a.kind == "video" for a in artifacts)
        images = sum(a.kind == "image" for a in artifacts)
        said_videos = sum(by_index[m.artifact].kind == "video" for m in reading.mentions)
        said_images = sum(by_index[m.artifact].kind == "image" for m in reading.mentions)
        path_images = sum(p.kind == "image" for p in reading.paths)
        path_videos = sum(p.kind == "video" for p in reading.paths)
        need_videos = sum(i.type == "video" and i.required for i in spec.inputs.values())
        need_image = float(any(i.type == "image" and i.required for i in spec.inputs.values()))
        may_image = float(any(i.type == "image" and not i.required for i in spec.inputs.values()))
        have_videos = videos + path_videos
        impossible = need_videos > have_videos or (need_image and not (images + path_images + videos))
        return np.array(
            [
                float(cosines.max()),
                float(np.sort(cosines)[-2:].mean()),
                float(vectors[-1] @ turn.sentence),
                float(need_videos >= 1),
                float(need_videos >= 2),
                need_image,
                may_image,
                float(need_videos >= 1) * float(said_videos + path_videos >= 1),
                float(need_videos >= 2) * float(said_videos + path_videos >= 2),
                need_image * float(said_images + path_images >= 1),
                may_image * float(said_images + path_images >= 1),
                float(need_videos == 0 and not need_image) * float(said_videos + said_images + path_videos > 0),
                float(need_videos >= 1) * float(said_videos == 0 and said_images >= 1),
                need_image * float(images == 0 and path_images == 0),
                float(need_videos >= 1) * float(videos >= 1),
                float(impossible),
                1.0,
            ],
            dtype=np.float32,
        )


class PlanRanker(nn.Module):
    """The trained head (a few hundred thousand weights); see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.task_weights = nn.Parameter(torch.zeros(TASK_FEATURES))
        self.task_projection = nn.Parameter(torch.zeros(len(BUILTIN_TASKS), WIDTH))
        self.task_attention = nn.Parameter(torch.zeros(WIDTH))
        self.strength_attention = nn.Parameter(torch.zeros(WIDTH))
        self.strength_weights = nn.Parameter(torch.zeros(TASK_FEATURES))
        self.place_attention = nn.Parameter(torch.zeros(len(HEADS), WIDTH))
        self.place_query = nn.Parameter(torch.zeros(len(HEADS), WIDTH, ATTRIBUTES))
        self.place_bias = nn.Parameter(torch.zeros(len(HEADS), ATTRIBUTES))
        self.content_attention = nn.Parameter(torch.zeros(len(HEADS), WIDTH))
        self.place_context = nn.Parameter(torch.zeros(len(HEADS), WIDTH))
        self.content_context = nn.Parameter(torch.zeros(len(HEADS), WIDTH))
        self.content_where = nn.Parameter(torch.full((len(HEADS),), 4.0))
        self.place_where = nn.Parameter(torch.full((len(HEADS),), 4.0))
        self.order_weight = nn.Parameter(torch.tensor(4.0))
        self.content_weights = nn.Parameter(torch.tensor([[4.0, 4.0, 4.0, 4.0, 4.0]] * len(HEADS)))
        self.match_slope = nn.Parameter(torch.full((len(HEADS), 3), 15.0))
        self.match_centre = nn.Parameter(torch.tensor([[0.6, 0.3, 0.4]] * len(HEADS)))
        self.gate_weights = nn.Parameter(torch.zeros(len(HEADS), 4))
        self.gate_bias = nn.Parameter(torch.full((len(HEADS),), 2.0))
        self.role_before = nn.Parameter(torch.zeros(WIDTH))
        self.role_after = nn.Parameter(torch.zeros(WIDTH))
        self.order_bias = nn.Parameter(torch.tensor(1.0))
        self.mention_sharpness = nn.Parameter(torch.tensor(10.0))
        self.numeral_context = nn.Parameter(torch.zeros(len(HEADS), WIDTH, COUNTINGS))
        self.numeral_bias = nn.Parameter(torch.ones(len(HEADS), COUNTINGS))
        self.session_lean = nn.Parameter(torch.tensor(1.0))
        self.session_lean_plain = nn.Parameter(torch.tensor(3.0))
        self.order_gate = nn.Parameter(torch.zeros(WIDTH))
        self.order_gate_bias = nn.Parameter(torch.tensor(0.0))

    # -- task ----------------------------------------------------------------------------------------------
    def task_logits(self, turn: TurnFeatures, unseen: frozenset[str] = frozenset()) -> torch.Tensor:
        """``[K]`` logits of the turn's tasks. A task in ``unseen`` is scored as a user SOP is, by its examples and
        inputs alone: training does so now and then, so that those alone can win."""
        features = torch.as_tensor(turn.task_features, dtype=torch.float32)
        logits = features @ self.task_weights
        sentence = torch.as_tensor(turn.sentence, dtype=torch.float32)
        pieces = torch.as_tensor(turn.pieces, dtype=torch.float32)
        if len(pieces):
            # Which words say what to do, pooled; and how strongly the turn names something already made.
            pooled = torch.softmax(pieces @ self.task_attention, dim=0) @ pieces
            sentence = sentence + pooled
            if turn.match is not None and turn.match.shape[1]:
                focus = torch.softmax(pieces @ self.strength_attention, dim=0)
                strength = (focus @ torch.as_tensor(turn.match, dtype=torch.float32)).max()
                logits = logits + strength * (features @ self.strength_weights)
        projected = self.task_projection @ sentence
        bonus = [
            projected[BUILTIN_TASKS.index(t)] if t in BUILTIN_TASKS and t not in unseen else logits.new_zeros(())
            for t in turn.tasks
        ]
        return logits + torch.stack(bonus)

    # -- inputs --------------------------------------------------------------------------------------------
    def slot_scores(self, turn: TurnFeatures, slot: SlotFeatures) -> torch.Tensor:
        """``[A]`` scores of the slot's candidates in its role."""
        h = HEADS.index(slot.head)
        pieces = torch.as_tensor(turn.pieces, dtype=torch.float32)
        where = torch.as_tensor(turn.where, dtype=torch.float32)
        attrs = torch.as_tensor(slot.attributes, dtype=torch.float32)
        place = self.place_bias[h]
        # The first clip's words come early when the mention order is the clip order, late when it is turned round.
        leaning = self.mention_order() * (where - 0.5) * {"first": -1.0, "second": 1.0}.get(slot.head, 0.0)
        if len(pieces):
            around = _around(pieces)  # the words next to each: "forest first", "after the kitten"
            logits = pieces @ self.place_attention[h] + around @ self.place_context[h] + self.place_where[h] * leaning
            weights = torch.softmax(logits, dim=0)
            place = place + (weights @ pieces) @ self.place_query[h]
        score = attrs @ place
        real = torch.as_tensor([c.artifact is not None for c in slot.candidates])
        match = torch.as_tensor(np.maximum(slot.match, slot.named), dtype=torch.float32)
        if len(pieces):
            logits = pieces @ self.content_attention[h] + around @ self.content_context[h]
            focus = torch.softmax(logits + self.content_where[h] * leaning, dim=0)
            said = focus @ match
            named = torch.as_tensor(slot.named.max(axis=0), dtype=torch.float32)
        else:
            said = named = torch.zeros(len(slot.candidates))
        sentence = torch.as_tensor(slot.sentence, dtype=torch.float32)
        covered = torch.as_tensor(slot.covered, dtype=torch.float32)
        # Saturated: two clips that both show a dolphin match "the dolphin clip" alike, whatever the decimals say.
        said, sentence, covered = (
            torch.sigmoid(self.match_slope[h, i] * (value - self.match_centre[h, i]))
            for i, value in enumerate((said, sentence, covered))
        )
        columns = [
            said,
            said - _best(said, real),
            sentence - _best(sentence, real),
            covered - _best(covered, real),
            named,
        ]
        content_part = torch.stack(columns, dim=1) @ self.content_weights[h]
        # Words that name content well make place matter less: two dolphin clips are a question, not the latest.
        strength = torch.stack(
            [
                _best(said, real),
                _best(sentence, real),
                _best(covered, real),
                named.max() if len(named) else said.new_zeros(()),
            ]
        )
        gate = torch.sigmoid(strength @ self.gate_weights[h] + self.gate_bias[h])
        score = gate * score + torch.where(real, content_part, torch.zeros_like(content_part))
        if len(pieces) and slot.numeral.any():
            # A number says a place; the words around it say how it counts ("third from the end", "photo two").
            counting = around @ self.numeral_context[h] + self.numeral_bias[h]  # [L, COUNTINGS]
            numeral = torch.as_tensor(slot.numeral, dtype=torch.float32)
            score = score + (numeral * counting[:, None, :]).sum(dim=(0, 2))
        return score

    def mention_order(self) -> torch.Tensor:
        """In (-1, 1): how strongly clips are joined in the order they are mentioned, unless the words around a
        mention say otherwise (``role_before`` / ``role_after`` in :meth:`pair_scores`). One learned number: a
        sign read from the whole turn was tried, and measured no better on the validation files."""
        return torch.tanh(self.order_bias)

    def pair_scores(self, turn: TurnFeatures, first: SlotFeatures, second: SlotFeatures) -> torch.Tensor:
        """``[A, A]`` scores of (first, second) clip pairs; a clip joined to itself scores -inf.

        Which two clips is read the same for either place (each clip's score in both roles, averaged). Which goes
        first: a learned gate says whether the turn speaks of order at all (its strongest word piece against a
        learned direction: "first", "after", "then", "backwards"); where it does not ("join the last two"), a
        strong lean towards the session's order decides; where it does, the order of mention and the words
        around each mention decide, with a weaker lean. Scoring the two places apart let the second place learn
        to prefer later clips, and "#3 then #1" came out turned round (validation, one model: 9 silently wrong
        against 4); with no gate, plain joins were asked about (a single lean, pulled down by the turned-round
        cases, left "join both" at p 0.6)."""
        a, b = self.slot_scores(turn, first), self.slot_scores(turn, second)
        which = (a + b) / 2
        scores = which[:, None] + which[None, :]
        made = torch.as_tensor([float(c.artifact or 0) for c in first.candidates])
        later = torch.sign(made[None, :] - made[:, None])  # +1 where the first clip was made before the second
        pieces = torch.as_tensor(turn.pieces, dtype=torch.float32)
        if not len(pieces):
            scores = scores + self.session_lean_plain * later
        else:
            spoken = torch.sigmoid((pieces @ self.order_gate).max() + self.order_gate_bias)
            lean = spoken * self.session_lean + (1 - spoken) * self.session_lean_plain
            where = torch.as_tensor(turn.where, dtype=torch.float32)
            said = np.maximum(np.maximum(first.match, first.named), first.numeral.max(axis=2, initial=0.0))
            match = torch.as_tensor(said, dtype=torch.float32)
            said_at = torch.softmax(self.mention_sharpness * match, dim=0).T  # [A, L]: where each clip is said
            mentioned = said_at @ where
            told = self.order_weight * self.mention_order() * (mentioned[None, :] - mentioned[:, None])
            # The words just before and just after each clip's mention say its role: "forest first", "#1 should
            # come after", "after the kitten", "4 goes before 2". Positive: it goes first.
            before, after = _sides(len(pieces))
            role = (said_at @ (before @ pieces)) @ self.role_before + (said_at @ (after @ pieces)) @ self.role_after
            scores = scores + lean * later + spoken * (told + role[:, None] - role[None, :])
        same = torch.eye(len(first.candidates), dtype=torch.bool)
        return scores.masked_fill(same, float("-inf"))


def _first_piece(spans: np.ndarray, start: int, end: int) -> int | None:
    """The first word piece inside characters ``start:end`` (``None``: none, e.g. past the encoder's length)."""
    inside = np.flatnonzero((spans[:, 0] < end) & (spans[:, 1] > start)) if len(spans) else []
    return int(inside[0]) if len(inside) else None


def _sides(length: int, reach: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``[L, L]`` weights of the pieces before (after) each piece, fading with distance."""
    positions = torch.arange(length, dtype=torch.float32)
    distance = positions[:, None] - positions[None, :]  # row t, column u: t - u
    fade = torch.exp(-distance.abs() / reach)
    return fade * (distance > 0), fade * (distance < 0)


def _around(pieces: torch.Tensor, reach: int = 2) -> torch.Tensor:
    """Per word piece, the mean of its neighbours' vectors up to ``reach`` either side (itself left out)."""
    padded = torch.nn.functional.pad(pieces.T[None], (reach, reach))[0].T
    total = sum(padded[i : i + len(pieces)] for i in range(2 * reach + 1)) - pieces
    counts = torch.nn.functional.pad(torch.ones(len(pieces)), (reach, reach))
    number = sum(counts[i : i + len(pieces)] for i in range(2 * reach + 1)) - 1
    return total / number.clamp(min=1)[:, None]


def _best(values: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The largest of ``values`` over real candidates (0 when none is real)."""
    if not bool(real.any()):
        return values.new_zeros(())
    return values[real].max()


class RankerEnsemble(nn.Module):
    """Several :class:`PlanRanker` trained from different seeds, their probabilities averaged: one model's
    overconfident pick is tempered by the others', which makes the asking threshold mean more."""

    def __init__(self, members: Sequence[PlanRanker]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def _mean_log(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        shape = outputs[0].shape
        probabilities = torch.stack([torch.softmax(o.flatten(), dim=0) for o in outputs]).mean(dim=0)
        return torch.log(probabilities).reshape(shape)

    def task_logits(self, turn: TurnFeatures) -> torch.Tensor:
        return self._mean_log([m.task_logits(turn) for m in self.members])

    def slot_scores(self, turn: TurnFeatures, slot: SlotFeatures) -> torch.Tensor:
        return self._mean_log([m.slot_scores(turn, slot) for m in self.members])

    def pair_scores(self, turn: TurnFeatures, first: SlotFeatures, second: SlotFeatures) -> torch.Tensor:
        return self._mean_log([m.pair_scores(turn, first, second) for m in self.members])
