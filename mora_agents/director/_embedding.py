"""The director's robust signal: sentence-embedding similarity of a turn to each SOP's examples and description.

The encoder is all-MiniLM-L6-v2 (:mod:`tools.sentence_embedding`, offline, loaded once per process); phrase
vectors are cached, so each SOP's examples are embedded once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mora_agents.errors import MoraError
from mora_agents.sop import SopSpec
from tools.sentence_embedding import MODEL_NAME, minilm_encoder

Encoder = Callable[[list[str]], np.ndarray]
"""Texts -> one L2-normalised row vector per text."""


@dataclass(frozen=True)
class Ranking:
    """Tasks by similarity to a turn, best first."""

    scores: tuple[tuple[str, float], ...]
    """``(task, cosine similarity)``: the best of the task's examples and description."""

    @property
    def top(self) -> str:
        return self.scores[0][0]

    @property
    def margin(self) -> float:
        """Top-1 score minus top-2 score (1.0 when there is a single candidate)."""
        if len(self.scores) < 2:
            return 1.0
        return self.scores[0][1] - self.scores[1][1]

    def names(self, n: int) -> list[str]:
        return [name for name, _ in self.scores[:n]]

    def score(self, task: str) -> float:
        return dict(self.scores).get(task, float("-inf"))


_SHARED_CACHE: dict[str, np.ndarray] = {}
"""Phrase -> vector for the default encoder, shared by every router of the process."""


class EmbeddingRouter:
    """Ranks tasks by cosine similarity of a turn to each task's examples and description.

    Args:
        encoder: texts -> L2-normalised vectors; defaults to all-MiniLM-L6-v2 (loaded lazily, once per process).

    Example:
        >>> router = EmbeddingRouter()
        >>> router.rank("make this clip 4 seconds longer", sops).top
        'extend_video'
    """

    def __init__(self, encoder: Encoder | None = None) -> None:
        self._encoder = encoder or minilm_encoder
        self._cache = _SHARED_CACHE if encoder is None else {}
        self.model_name = MODEL_NAME if encoder is None else getattr(encoder, "__name__", "custom")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``; phrases seen before come from the cache."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._encoder(missing)
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts])

    def warm_up(self, sops: Iterable[SopSpec]) -> None:
        """Load the model and embed every task's phrases now rather than at the first turn."""
        self.encode([phrase for spec in sops for phrase in phrases(spec)])

    def rank(self, text: str, sops: Iterable[SopSpec]) -> Ranking:
        """Every task in ``sops`` scored against ``text``, best first (ties by name, so the order is stable)."""
        specs = list(sops)
        if not specs:
            raise MoraError("there are no tasks to route to: check the SOP folders (mora sop list)")
        query = self.encode([text])[0]
        scored = []
        for spec in specs:
            vectors = self.encode(phrases(spec))
            scored.append((spec.name, round(float(np.max(vectors @ query)), 4)))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return Ranking(tuple(scored))


def phrases(spec: SopSpec) -> list[str]:
    """What a task is matched by: its examples and its description."""
    return [*spec.examples, spec.description]
