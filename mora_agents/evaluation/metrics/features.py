"""Frame features from image models (DINO, CLIP) and VBench's consistency formula over them.

``subject_consistency`` (DINO ViT features) and ``background_consistency`` (CLIP image features) are VBench's
(Huang et al., 2024; ``vbench/subject_consistency.py``, ``vbench/background_consistency.py``): for the sampled
frames ``f_1 .. f_N`` with L2-normalised features,

    score = 1 / (N - 1) * sum_{i=2..N} (max(0, cos(f_1, f_i)) + max(0, cos(f_{i-1}, f_i))) / 2

so each frame is compared with the first frame and with the previous sampled frame, negative similarities count
as 0, and the score is in [0, 1]; identical frames score exactly 1 whatever the weights. Frames stream through
the model in small batches and only the first and previous features are kept, never the video.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mora_agents.evaluation.metrics.frames import iter_frames, probe_video, vbench_interval
from mora_agents.evaluation.metrics.models import LoadedModel, MetricModels
from mora_agents.evaluation.metrics.profiles import FrameSampling
from mora_agents.evaluation.metrics.result import MetricResult

BATCH_SIZE = 8
"""Frames encoded per forward pass: bounds memory at a few frames, whatever the video's length."""


# --- sampling ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingPlan:
    """How :func:`sample_frames` reads one video under a :class:`FrameSampling` rule."""

    sample: str
    """``"every_n"`` or ``"uniform_k"`` (see :func:`mora_agents.evaluation.metrics.frames.iter_frames`)."""
    n: int = 1
    k: int | None = None

    def describe(self) -> str:
        if self.sample == "uniform_k":
            return f"{self.k} frames spread evenly over the video"
        return "every frame" if self.n == 1 else f"1 frame in {self.n}, from the first"


def plan_sampling(video: str | os.PathLike, sampling: FrameSampling) -> SamplingPlan:
    """Apply a :class:`FrameSampling` rule to one video (from its header: nothing is decoded).

    About ``sampling.fps`` frames per second (every ``max(1, round(video fps / sampling.fps))``-th frame, VBench's
    step rule); when that would exceed ``sampling.max_frames``, ``max_frames`` frames spread evenly over the whole
    video instead.
    """
    info = probe_video(video)
    step = 1 if sampling.fps is None else vbench_interval(info.fps, sampling.fps)
    expected = math.ceil(info.num_frames / step) if info.num_frames else 0
    if expected > sampling.max_frames:
        return SamplingPlan("uniform_k", k=sampling.max_frames)
    return SamplingPlan("every_n", n=step)


def sample_frames(video: str | os.PathLike, plan: SamplingPlan) -> Iterator[np.ndarray]:
    """The planned frames of ``video``, one ``(H, W, 3)`` uint8 array at a time, at the source resolution (the
    models' processors resize; shrinking first would blur what they see)."""
    for frame in iter_frames(video, max_side=None, sample=plan.sample, n=plan.n, k=plan.k):  # type: ignore[arg-type]
        yield frame.image


def batched(frames: Iterable[np.ndarray], size: int = BATCH_SIZE) -> Iterator[list[np.ndarray]]:
    """Groups of at most ``size`` frames, in order."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- features ---------------------------------------------------------------------------------------------------


def _pooled(output: Any) -> Any:
    # transformers 5 returns a model output whose pooler_output holds the projected features; 4.x a tensor.
    return getattr(output, "pooler_output", output)


def dino_features(loaded: LoadedModel, frames: list[np.ndarray]) -> Any:
    """L2-normalised DINO features (the final class token) of ``frames``, as a ``(len(frames), dim)`` tensor.

    As VBench's ``dino_transform``: the shorter side is resized to the model's input size (bilinear, aspect ratio
    kept, no crop) and ImageNet-normalised; the position embeddings are interpolated to the resulting grid.
    """
    import torch
    from PIL import Image

    size = loaded.processor.size
    side = int(size.get("shortest_edge") or size.get("height") or 224)
    resized = []
    for frame in frames:
        height, width = frame.shape[:2]
        scale = side / min(height, width)
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized.append(np.asarray(Image.fromarray(frame).resize(target, Image.Resampling.BILINEAR)))
    inputs = loaded.processor(resized, do_resize=False, do_center_crop=False, return_tensors="pt")
    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        output = loaded.model(pixel_values=inputs["pixel_values"].to(device), interpolate_pos_encoding=True)
        features = output.last_hidden_state[:, 0].float()
    return torch.nn.functional.normalize(features, dim=-1)


def clip_image_features(loaded: LoadedModel, frames: list[np.ndarray]) -> Any:
    """L2-normalised CLIP image embeddings (the projected features ``encode_image`` gives) of ``frames``.

    CLIP's own preprocessing, as VBench's ``clip_transform``: shorter side to 224 (bicubic), centre crop 224,
    CLIP mean/std.
    """
    import torch

    inputs = loaded.processor(frames, return_tensors="pt")
    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        features = _pooled(loaded.model.get_image_features(pixel_values=inputs["pixel_values"].to(device))).float()
    return torch.nn.functional.normalize(features, dim=-1)


def clip_text_features(loaded: LoadedModel, texts: list[str]) -> Any:
    """L2-normalised CLIP text embeddings of ``texts`` (truncated to CLIP's 77 tokens, as ``clip.tokenize``
    would refuse longer ones)."""
    import torch

    limit = min(loaded.tokenizer.model_max_length, loaded.model.config.text_config.max_position_embeddings)
    tokens = loaded.tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        features = _pooled(loaded.model.get_text_features(**{k: v.to(device) for k, v in tokens.items()})).float()
    return torch.nn.functional.normalize(features, dim=-1)


# --- the consistency formula ------------------------------------------------------------------------------------


@dataclass
class ConsistencyAccumulator:
    """VBench's consistency score, fed features in frame order, batch by batch (rows L2-normalised)."""

    total: float = 0.0
    frames: int = 0
    pairs: int = 0
    lowest: float = 1.0
    """The lowest per-frame score seen: where a video breaks, it shows here first."""
    _first: Any = field(default=None, repr=False)
    _previous: Any = field(default=None, repr=False)

    def add(self, features: Any) -> None:
        """Add the features of the next frames (a ``(frames, dim)`` tensor or array)."""
        for row in features:
            self.frames += 1
            if self._first is None:
                self._first = row
            else:
                # max(0, .): VBench clamps each similarity, so a score is never below 0.
                to_first = max(0.0, float((self._first * row).sum()))
                to_previous = max(0.0, float((self._previous * row).sum()))
                score = min(1.0, (to_first + to_previous) / 2)
                self.total += score
                self.pairs += 1
                self.lowest = min(self.lowest, score)
            self._previous = row

    @property
    def value(self) -> float | None:
        """The score in [0, 1], or ``None`` before there are two frames."""
        return self.total / self.pairs if self.pairs else None


def consistency_score(features: Iterable[Any]) -> float | None:
    """VBench's consistency of a sequence of L2-normalised feature rows (``None`` for fewer than two)."""
    accumulator = ConsistencyAccumulator()
    for batch in features:
        accumulator.add(batch)
    return accumulator.value


def _consistency(
    name: str, video: str | os.PathLike, loaded: LoadedModel, encode: Any, sampling: FrameSampling, method: str
) -> MetricResult:
    plan = plan_sampling(video, sampling)
    accumulator = ConsistencyAccumulator()
    for batch in batched(sample_frames(video, plan)):
        accumulator.add(encode(loaded, batch))
    details = {"frames": accumulator.frames, "sampling": plan.describe()}
    if accumulator.value is None:
        return MetricResult.unavailable(
            name, (0.0, 1.0), method, "the video has a single sampled frame, so there is nothing to compare", **details
        )
    details["lowest_frame_score"] = round(accumulator.lowest, 6)
    return MetricResult(name=name, value=accumulator.value, range=(0.0, 1.0), method=method, details=details)


def subject_consistency(video: str | os.PathLike, models: MetricModels) -> MetricResult:
    """VBench ``subject_consistency``: does the subject look the same throughout? DINO ViT features.

    Args:
        video (`str` or `os.PathLike`): the video file.
        models (`MetricModels`): the metrics profile's models (``consistency.subject_model``).

    Returns:
        `MetricResult`: value in [0, 1] (1: every sampled frame's DINO feature equals the first's and the previous
        one's); ``None`` with a reason for a single-frame video.
    """
    loaded = models.dino()
    method = (
        f"DINO ViT features ({loaded.reference}): mean over sampled frames 2..N of "
        "(max(0, cos to first frame) + max(0, cos to previous frame)) / 2, as VBench subject_consistency"
    )
    return _consistency(
        "subject_consistency", video, loaded, dino_features, models.profile.consistency.sampling, method
    )


def background_consistency(video: str | os.PathLike, models: MetricModels) -> MetricResult:
    """VBench ``background_consistency``: does the scene stay the same throughout? CLIP image features.

    Args:
        video (`str` or `os.PathLike`): the video file.
        models (`MetricModels`): the metrics profile's models (``consistency.background_model``).

    Returns:
        `MetricResult`: value in [0, 1]; ``None`` with a reason for a single-frame video.
    """
    loaded = models.clip("background_consistency")
    method = (
        f"CLIP image features ({loaded.reference}): mean over sampled frames 2..N of "
        "(max(0, cos to first frame) + max(0, cos to previous frame)) / 2, as VBench background_consistency"
    )
    return _consistency(
        "background_consistency", video, loaded, clip_image_features, models.profile.consistency.sampling, method
    )
