"""Weight-free motion metrics: ``dynamic_degree``, ``motion_smoothness``, ``flicker``, from classical optical flow.

VBench (Huang et al. 2024; the Mora paper's App. A.2 uses its definitions) measures motion with two networks,
RAFT and AMT, whose weights are not always at hand. These are the always-available defaults: the same rules, with
OpenCV's DIS optical flow (Kroeger et al. 2016; Farneback on request) in place of the networks. Each metric says in
its ``method`` which flow produced it. All run on frames shrunk to a 256-pixel long side
(:mod:`mora_agents.evaluation.metrics.frames`), streamed: at most three frames are alive at a time.

Definitions (VBench source: ``vbench/dynamic_degree.py``, ``vbench/motion_smoothness.py``,
``vbench/temporal_flickering.py`` in Vchitect/VBench):

``dynamic_degree`` (range [0, 1]; 1 = dynamic)
    Frames are taken every ``max(1, round(fps / 8))`` frames (about 8 a second). For each pair of consecutive
    taken frames, the flow magnitude's top 5% (``int(h * w * 0.05)`` largest values) is averaged. A pair moves when
    that mean exceeds ``6.0 * min(h, w) / 256 * max(1, 8 / fps)`` pixels (so the threshold follows the analysed
    resolution, and the decision does not depend on the 256-pixel shrink). VBench calls the video dynamic when at
    least ``round(4 * taken / 16)`` pairs move (4 per 16 frames) and scores a video 1 or 0; a benchmark's
    dynamic degree is the share of dynamic videos. ``value`` is that per-video 0/1. Here the count is at least 1
    (VBench's ``round`` gives 0 for clips of fewer than 3 taken frames, calling every such clip dynamic).
    The continuous variant, ``details["moving_pair_fraction"]`` in [0, 1], is the share of pairs that move.

``motion_smoothness`` (range [0, 1]; 1 = perfectly predictable motion)
    Every odd frame ``2j + 1`` is rebuilt from its neighbours ``2j`` and ``2j + 2`` (VBench: AMT frame
    interpolation at t = 1/2). Here: forward and backward DIS flow between the neighbours, the flow from the middle
    to each neighbour approximated as in Super SloMo (Jiang et al. 2018: ``F_t0 = (F_10 - F_01) / 4``,
    ``F_t1 = (F_01 - F_10) / 4``), both neighbours warped halfway (bilinear ``cv2.remap``, border replicated) and
    averaged. Score: ``(255 - mean absolute error) / 255`` over the rebuilt frames, on 0-255 RGB values.

``flicker`` (range [0, 1]; 0 = no change)
    The mean absolute difference between consecutive frames, pixel values scaled to [0, 1], over all pairs and
    channels. VBench's ``temporal_flickering`` is ``1 - flicker`` (at native resolution, on static-scene videos).

:func:`weight_free_metrics` computes any of them, plus :mod:`mora_agents.evaluation.metrics.drift`'s ``seam_drift`` and
``frame_consistency``, in one pass over the video.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from mora_agents.evaluation.metrics.drift import PairDrift
from mora_agents.evaluation.metrics.frames import (
    ANALYSIS_MAX_SIDE,
    Frame,
    iter_frames,
    probe_video,
    to_grey,
    vbench_interval,
)
from mora_agents.evaluation.metrics.result import MetricResult

FlowAlgorithm = Literal["dis", "farneback"]

WEIGHT_FREE_METRICS = ("dynamic_degree", "motion_smoothness", "flicker", "frame_consistency", "seam_drift")
"""The metric names (JSON keys) :func:`weight_free_metrics` knows."""

VBENCH_TOP_FRACTION = 0.05
"""VBench ``DynamicDegree.get_score``: the mean of the top 5% flow magnitudes."""
VBENCH_THRESHOLD_PX = 6.0
"""VBench ``DynamicDegree.set_params``: ``thres = max(1, 8 / fps) * 6.0 * (min(h, w) / 256)``."""

_FLOW_NAMES = {"dis": "OpenCV DIS optical flow (medium preset)", "farneback": "OpenCV Farneback optical flow"}


class OpticalFlow:
    """Dense optical flow between two grey ``uint8`` frames: ``a(x) ~ b(x + flow(x))``.

    Args:
        algorithm (`str`, *optional*, defaults to `"dis"`): ``"dis"`` (OpenCV DIS, medium preset: fast and
            accurate on small frames) or ``"farneback"``.
    """

    def __init__(self, algorithm: FlowAlgorithm = "dis") -> None:
        import cv2

        if algorithm not in _FLOW_NAMES:
            raise ValueError(f"`flow` must be 'dis' or 'farneback', got {algorithm!r}")
        self.algorithm = algorithm
        self.name = _FLOW_NAMES[algorithm]
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if algorithm == "dis" else None

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The ``(H, W, 2)`` float32 flow (x, y) from ``a`` to ``b``, in pixels."""
        import cv2

        if self._dis is not None:
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _warp(image: np.ndarray, flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Backward warp: ``out(x) = image(x + flow(x))`` (bilinear, edges replicated), as float32."""
    import cv2

    map_x = grid[0] + flow[..., 0]
    map_y = grid[1] + flow[..., 1]
    return cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def interpolate_midframe(
    before: np.ndarray, after: np.ndarray, flow: OpticalFlow, grid: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """The frame halfway between two RGB ``uint8`` frames, by flow warping from both sides and averaging.

    Args:
        before, after (`np.ndarray`): ``(H, W, 3)`` uint8 RGB frames.
        flow (`OpticalFlow`): the flow estimator.
        grid (`tuple`, *optional*): ``(x, y)`` float32 pixel-coordinate grids of the frame size (saves rebuilding).

    Returns:
        `np.ndarray`: the interpolated ``(H, W, 3)`` uint8 frame.
    """
    if grid is None:
        grid = _pixel_grid(before.shape[0], before.shape[1])
    grey_before, grey_after = to_grey(before), to_grey(after)
    f01 = flow(grey_before, grey_after)
    f10 = flow(grey_after, grey_before)
    # Super SloMo's t = 1/2 approximation of the flows from the (unknown) middle frame to each neighbour.
    ft0 = 0.25 * (f10 - f01)
    ft1 = -ft0
    middle = 0.5 * _warp(before, ft0, grid) + 0.5 * _warp(after, ft1, grid)
    return np.clip(np.rint(middle), 0, 255).astype(np.uint8)


def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs, ys


def top_flow_magnitude(flow: np.ndarray, fraction: float = VBENCH_TOP_FRACTION) -> float:
    """Mean of the largest ``fraction`` of flow magnitudes (VBench: ``int(h * w * 0.05)`` values, at least one)."""
    magnitude = np.hypot(flow[..., 0], flow[..., 1]).ravel()
    count = max(1, int(magnitude.size * fraction))
    return float(np.partition(magnitude, magnitude.size - count)[-count:].mean())


class DynamicDegree:
    """Streaming ``dynamic_degree``: keeps the last taken grey frame and one number per taken pair.

    Args:
        fps (`float`): the video's frame rate (sets the frame step and the threshold factor; 0 = unknown).
        flow (`OpticalFlow`): the flow estimator.
    """

    name = "dynamic_degree"

    def __init__(self, fps: float, flow: OpticalFlow) -> None:
        self.fps = fps
        self.flow = flow
        self.step = vbench_interval(fps)
        self.factor = max(1.0, 8.0 / fps) if fps else 1.0
        self.scores: list[float] = []
        self.taken = 0
        self.size: tuple[int, int] | None = None
        self._previous: np.ndarray | None = None

    def update(self, frame: Frame) -> None:
        """Add the next frame; frames off the ~8 fps grid are ignored."""
        if frame.index % self.step:
            return
        grey = to_grey(frame.image)
        if self._previous is not None:
            self.scores.append(top_flow_magnitude(self.flow(self._previous, grey)))
        self._previous = grey
        self.size = (grey.shape[1], grey.shape[0])
        self.taken += 1

    def result(self) -> MetricResult:
        method = (
            f"{self.flow.name} (VBench dynamic_degree rule with a classical flow in place of RAFT): pairs of frames "
            "about 1/8 s apart, mean of the top 5% flow magnitudes against 6 px x min side / 256 x max(1, 8 / fps); "
            "1 = dynamic when at least 4 pairs per 16 frames exceed it"
        )
        if not self.scores:
            return MetricResult.unavailable(self.name, (0.0, 1.0), method, "the video has fewer than 2 sampled frames")
        width, height = self.size
        threshold = self.factor * VBENCH_THRESHOLD_PX * min(width, height) / 256.0
        needed = max(1, round(4 * self.taken / 16.0))
        above = sum(score > threshold for score in self.scores)
        scores = np.asarray(self.scores)
        return MetricResult(
            name=self.name,
            value=1.0 if above >= needed else 0.0,
            range=(0.0, 1.0),
            method=method,
            details={
                "dynamic": above >= needed,
                "moving_pair_fraction": above / len(self.scores),
                "pairs": len(self.scores),
                "pairs_moving": int(above),
                "pairs_needed": needed,
                "threshold_px": threshold,
                "top5_flow_px_mean": float(scores.mean()),
                "top5_flow_px_max": float(scores.max()),
                "frame_step": self.step,
                "fps": self.fps,
                "analysis_size": [width, height],
            },
        )


class MotionSmoothness:
    """Streaming ``motion_smoothness``: keeps the two frames before the current one.

    Args:
        flow (`OpticalFlow`): the flow estimator.
    """

    name = "motion_smoothness"

    def __init__(self, flow: OpticalFlow) -> None:
        self.flow = flow
        self.errors: list[float] = []
        self._window: list[np.ndarray] = []
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._expected = 0

    def update(self, frame: Frame) -> None:
        """Add the next frame (every frame, in order: the neighbours must be true neighbours)."""
        import cv2

        if frame.index != self._expected:
            raise ValueError(f"motion_smoothness needs every frame: expected frame {self._expected}, got {frame.index}")
        self._expected += 1
        # Frames i - 2, i - 1, i: never more.
        self._window = [*self._window[-2:], frame.image]
        # Rebuild odd frames only (VBench: the even frames are the interpolation inputs).
        if frame.index >= 2 and frame.index % 2 == 0:
            before, middle = self._window[0], self._window[1]
            if self._grid is None or self._grid[0].shape != before.shape[:2]:
                self._grid = _pixel_grid(before.shape[0], before.shape[1])
            predicted = interpolate_midframe(before, frame.image, self.flow, self._grid)
            self.errors.append(float(cv2.absdiff(predicted, middle).mean()))

    def result(self) -> MetricResult:
        method = (
            f"{self.flow.name}, every odd frame rebuilt by warping both neighbours halfway and blending (VBench "
            "motion_smoothness rule with flow warping in place of AMT): (255 - mean abs error) / 255"
        )
        if not self.errors:
            return MetricResult.unavailable(self.name, (0.0, 1.0), method, "the video has fewer than 3 frames")
        errors = np.asarray(self.errors)
        return MetricResult(
            name=self.name,
            value=(255.0 - float(errors.mean())) / 255.0,
            range=(0.0, 1.0),
            method=method,
            details={
                "frames_rebuilt": len(errors),
                "mean_abs_error": float(errors.mean()),
                "worst_frame": 2 * int(errors.argmax()) + 1,
                "worst_abs_error": float(errors.max()),
            },
        )


class Flicker:
    """Streaming ``flicker``: keeps the previous frame and one number per pair."""

    name = "flicker"
    method = (
        "mean absolute change between consecutive frames, pixel values in [0, 1] "
        "(VBench temporal_flickering = 1 - flicker; weight-free)"
    )

    def __init__(self) -> None:
        self.changes: list[float] = []
        self._previous: np.ndarray | None = None

    def update(self, frame: Frame) -> None:
        """Add the next frame."""
        import cv2

        if self._previous is not None:
            self.changes.append(float(cv2.absdiff(self._previous, frame.image).mean()) / 255.0)
        self._previous = frame.image

    def result(self) -> MetricResult:
        if not self.changes:
            return MetricResult.unavailable(self.name, (0.0, 1.0), self.method, "the video has a single frame")
        changes = np.asarray(self.changes)
        return MetricResult(
            name=self.name,
            value=float(changes.mean()),
            range=(0.0, 1.0),
            method=self.method,
            details={"pairs": len(changes), "max": float(changes.max()), "max_pair_frame": int(changes.argmax()) + 1},
        )


def weight_free_metrics(
    path: str | os.PathLike,
    names: Sequence[str] | None = None,
    *,
    boundaries: Iterable[int] | None = None,
    frames_per_segment: int | None = None,
    max_side: int | None = ANALYSIS_MAX_SIDE,
    flow: FlowAlgorithm = "dis",
) -> dict[str, MetricResult]:
    """Compute several weight-free metrics in a single streamed pass over a video.

    Args:
        path (`str` or `os.PathLike`): the video.
        names (`Sequence[str]`, *optional*): metric names, from :data:`WEIGHT_FREE_METRICS` (default: all).
        boundaries (`Iterable[int]`, *optional*): for ``seam_drift``: frame indices where segments start.
        frames_per_segment (`int`, *optional*): for ``seam_drift``: A4's segment length instead of
            ``boundaries``. With neither, ``seam_drift`` scans every pair for hard cuts.
        max_side (`int`, *optional*, defaults to 256): long side of the analysed frames.
        flow (`str`, *optional*, defaults to `"dis"`): ``"dis"`` or ``"farneback"``.

    Returns:
        `dict[str, MetricResult]`: one result per name, in the order asked.

    Raises:
        MoraError: the video is missing or unreadable.
        ValueError: an unknown metric name.

    Example:
        >>> results = weight_free_metrics("clip.mp4", ["flicker", "seam_drift"], frames_per_segment=25)
        >>> {name: r.value for name, r in results.items()}  # doctest: +SKIP
    """
    names = list(dict.fromkeys(WEIGHT_FREE_METRICS if names is None else names))
    if not names:
        return {}
    unknown = [name for name in names if name not in WEIGHT_FREE_METRICS]
    if unknown:
        raise ValueError(f"unknown weight-free metric(s) {unknown}; known: {', '.join(WEIGHT_FREE_METRICS)}")
    estimator = OpticalFlow(flow) if {"dynamic_degree", "motion_smoothness"} & set(names) else None
    accumulators: list = []
    if "dynamic_degree" in names:
        accumulators.append(DynamicDegree(probe_video(path).fps, estimator))
    if "motion_smoothness" in names:
        accumulators.append(MotionSmoothness(estimator))
    if "flicker" in names:
        accumulators.append(Flicker())
    drift = None
    if "seam_drift" in names or "frame_consistency" in names:
        drift = PairDrift(boundaries, frames_per_segment, colour="seam_drift" in names)
        accumulators.append(drift)
    for frame in iter_frames(path, max_side=max_side):
        for accumulator in accumulators:
            accumulator.update(frame)
    results = {a.name: a.result() for a in accumulators if not isinstance(a, PairDrift)}
    if drift is not None:
        if "seam_drift" in names:
            results["seam_drift"] = drift.seam_drift()
        if "frame_consistency" in names:
            results["frame_consistency"] = drift.frame_consistency()
    return {name: results[name] for name in names}


def dynamic_degree(
    path: str | os.PathLike, *, max_side: int | None = ANALYSIS_MAX_SIDE, flow: FlowAlgorithm = "dis"
) -> MetricResult:
    """VBench's ``dynamic_degree`` for one video with classical flow: 1.0 if dynamic, else 0.0 (module docstring).

    Raises:
        MoraError: the video is missing or unreadable.
    """
    return weight_free_metrics(path, ["dynamic_degree"], max_side=max_side, flow=flow)["dynamic_degree"]


def motion_smoothness(
    path: str | os.PathLike, *, max_side: int | None = ANALYSIS_MAX_SIDE, flow: FlowAlgorithm = "dis"
) -> MetricResult:
    """VBench's ``motion_smoothness`` with flow-warped interpolation in place of AMT, in [0, 1] (module docstring).

    Raises:
        MoraError: the video is missing or unreadable.
    """
    return weight_free_metrics(path, ["motion_smoothness"], max_side=max_side, flow=flow)["motion_smoothness"]


def flicker(path: str | os.PathLike, *, max_side: int | None = ANALYSIS_MAX_SIDE) -> MetricResult:
    """Mean absolute change between consecutive frames, pixel values in [0, 1] (module docstring).

    Raises:
        MoraError: the video is missing or unreadable.
    """
    return weight_free_metrics(path, ["flicker"], max_side=max_side)["flicker"]


__all__ = [
    "WEIGHT_FREE_METRICS",
    "DynamicDegree",
    "Flicker",
    "MotionSmoothness",
    "OpticalFlow",
    "dynamic_degree",
    "flicker",
    "interpolate_midframe",
    "motion_smoothness",
    "top_flow_magnitude",
    "weight_free_metrics",
]
