"""Seams of chained videos: does the picture jump where one segment hands over to the next?

A4 makes a long video from segments of ``frames_per_segment`` frames, each started from the previous segment's last
frame, whose re-rendered copy is dropped (:mod:`mora_tools.pipelines.image_to_video`). A seam that works is invisible:
the pair of frames across it differs no more than any ordinary pair of consecutive frames. ``seam_drift`` measures
that pair against the ordinary ones, with two signals:

* colour: the Bhattacharyya distance (OpenCV ``HISTCMP_BHATTACHARYYA``, i.e. the Hellinger distance, in [0, 1])
  between the frames' joint HSV histograms (16 hue x 8 saturation x 8 value bins, each normalised to sum 1);
* structure: ``1 - SSIM`` of the grey frames (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01,
  K2 0.03, reflected borders, the 5-pixel rim left out of the mean; matches
  ``skimage.metrics.structural_similarity(gaussian_weights=True, use_sample_covariance=False, data_range=255)``).

A pair is an outlier in a signal when its value exceeds ``median + max(k * 1.4826 * MAD, min_jump)`` of the
ordinary pairs (the robust z-score rule; 1.4826 * MAD estimates a standard deviation; ``k = 5``; ``min_jump`` =
0.1 in both signals keeps a near-constant video from flagging codec noise). A seam is flagged when either signal
is an outlier: a colour shift with the same layout is drift too. With the boundaries unknown every consecutive
pair is scanned against all pairs, which finds hard cuts. Everything runs on frames shrunk to a 256-pixel long side
(:mod:`mora_agents.evaluation.metrics.frames`), streamed: the metric keeps one frame and a few numbers per pair.

``frame_consistency`` (mean SSIM of consecutive frames) comes from the same pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from mora_agents.evaluation.metrics.frames import ANALYSIS_MAX_SIDE, Frame, iter_frames, to_grey
from mora_agents.evaluation.metrics.result import MetricResult

HIST_BINS = (16, 8, 8)
"""Hue x saturation x value bins of the colour histogram."""
OUTLIER_K = 5.0
"""How many robust standard deviations (1.4826 * MAD) above the ordinary pairs' median makes a jump."""
MIN_JUMP = 0.1
"""The least excess over the median, in either signal, that counts as a jump (for videos with almost no spread)."""
MIN_BASELINE_PAIRS = 3
"""Ordinary pairs needed before a seam can be judged against them."""


def seam_method(scan: bool, k: float = OUTLIER_K, min_jump: float = MIN_JUMP) -> str:
    """The ``method`` sentence of ``seam_drift`` for the rule's parameters."""
    rule = f"HSV-histogram Bhattacharyya distance or 1 - SSIM above median + max({k:g} * 1.4826 * MAD, {min_jump:g})"
    if scan:
        return (
            "share of consecutive frame pairs that jump (boundaries unknown: every pair scanned against all pairs): "
            f"{rule} (weight-free, OpenCV)"
        )
    return f"share of seams whose frame pair jumps: {rule} of the ordinary consecutive pairs (weight-free, OpenCV)"


FRAME_CONSISTENCY_METHOD = "mean SSIM of consecutive grey frames (Gaussian window 11x11, sigma 1.5; weight-free)"


def segment_boundaries(num_frames: int, frames_per_segment: int) -> list[int]:
    """Frame indices where a new segment of an A4-chained video starts.

    The first segment gives frames ``0 .. F-1``; every later segment re-renders the seam frame first and drops that
    copy, so it adds ``F - 1`` frames. New segments therefore start at ``F, 2F - 1, 3F - 2, ...``, which matches
    :func:`mora_tools.pipelines.image_to_video.segments_needed` (one boundary fewer than segments).

    Args:
        num_frames (`int`): frames in the video.
        frames_per_segment (`int`): ``F``, the frames one pipeline call makes (at least 2).

    Returns:
        `list[int]`: the boundary indices below ``num_frames``, ascending; the pair ``(b - 1, b)`` straddles
        the seam.
    """
    if frames_per_segment < 2:
        raise ValueError(f"`frames_per_segment` must be at least 2 for a chained video, got {frames_per_segment}")
    if num_frames < 0:
        raise ValueError(f"`num_frames` must be at least 0, got {num_frames}")
    return list(range(frames_per_segment, num_frames, frames_per_segment - 1))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two grey ``uint8`` (or float, 0-255) images of the same shape, in [-1, 1]."""
    import cv2

    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    # Leave out the rim where the window reaches past the image, as skimage does.
    rim = 5 if min(a.shape[:2]) > 2 * 5 else 0
    if rim:
        ssim_map = ssim_map[rim:-rim, rim:-rim]
    return float(ssim_map.mean())


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """The normalised joint HSV histogram (:data:`HIST_BINS`) of an RGB ``uint8`` image, as float32."""
    import cv2

    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256])
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def histogram_distance(h1: np.ndarray, h2: np.ndarray) -> float:
    """Bhattacharyya (Hellinger) distance of two normalised histograms, in [0, 1]."""
    import cv2

    return float(min(max(cv2.compareHist(h1, h2, cv2.HISTCMP_BHATTACHARYYA), 0.0), 1.0))


class PairDrift:
    """Streaming accumulator: per consecutive frame pair, the colour-histogram distance and SSIM.

    Holds the previous frame's grey image and histogram only; keeps two floats per pair. Feed frames in order
    with :meth:`update` (every frame: seams sit at exact indices), then ask for :meth:`seam_drift` or
    :meth:`frame_consistency`.

    Args:
        boundaries (`Iterable[int]`, *optional*): frame indices where a new segment starts.
        frames_per_segment (`int`, *optional*): instead of ``boundaries``: A4's segment length, boundaries
            follow from :func:`segment_boundaries`. With neither, every pair is scanned (hard-cut search).
        colour (`bool`, *optional*, defaults to `True`): compute the histogram distance (``seam_drift`` needs it;
            ``frame_consistency`` alone does not).
    """

    def __init__(
        self,
        boundaries: Iterable[int] | None = None,
        frames_per_segment: int | None = None,
        *,
        colour: bool = True,
    ) -> None:
        if boundaries is not None and frames_per_segment is not None:
            raise ValueError("give `boundaries` or `frames_per_segment`, not both")
        if frames_per_segment is not None:
            segment_boundaries(0, frames_per_segment)  # validates it
        self.boundaries = None if boundaries is None else sorted({int(b) for b in boundaries})
        self.frames_per_segment = frames_per_segment
        self.colour = colour
        self.num_frames = 0
        self.hist_distance: list[float] = []
        """``hist_distance[i - 1]`` belongs to the pair ``(i - 1, i)``."""
        self.ssim: list[float] = []
        self._previous: tuple[np.ndarray, np.ndarray | None] | None = None

    def update(self, frame: Frame) -> None:
        """Add the next frame (frames must come in order, none skipped)."""
        if frame.index != self.num_frames:
            raise ValueError(
                f"PairDrift needs every frame in order: expected frame {self.num_frames}, got {frame.index}"
            )
        grey = to_grey(frame.image)
        hist = colour_histogram(frame.image) if self.colour else None
        if self._previous is not None:
            previous_grey, previous_hist = self._previous
            self.ssim.append(ssim(previous_grey, grey))
            if hist is not None and previous_hist is not None:
                self.hist_distance.append(histogram_distance(previous_hist, hist))
        self._previous = (grey, hist)
        self.num_frames += 1

    def known_boundaries(self) -> list[int] | None:
        """The boundaries inside the video seen so far (``None`` when they are unknown)."""
        if self.frames_per_segment is not None:
            return segment_boundaries(self.num_frames, self.frames_per_segment)
        if self.boundaries is None:
            return None
        return [b for b in self.boundaries if 1 <= b < self.num_frames]

    def frame_consistency(self) -> MetricResult:
        """Mean SSIM of consecutive frames, in [-1, 1] (1: nothing changes)."""
        name, bounds = "frame_consistency", (-1.0, 1.0)
        if not self.ssim:
            return MetricResult.unavailable(name, bounds, FRAME_CONSISTENCY_METHOD, "the video has a single frame")
        values = np.asarray(self.ssim)
        return MetricResult(
            name=name,
            value=float(values.mean()),
            range=bounds,
            method=FRAME_CONSISTENCY_METHOD,
            details={"pairs": len(values), "min": float(values.min()), "min_pair_frame": int(values.argmin()) + 1},
        )

    def seam_drift(self, k: float = OUTLIER_K, min_jump: float = MIN_JUMP) -> MetricResult:
        """Score the seams (or scan every pair when the boundaries are unknown); see the module docstring.

        Returns:
            `MetricResult`: ``value`` is the share of seams flagged (given boundaries) or of consecutive pairs
            flagged (scan), in [0, 1]; ``details`` lists each seam (or each flagged pair) with its numbers and the
            ordinary pairs' statistics.
        """
        if not self.colour:
            raise ValueError("seam_drift needs the colour histograms: build PairDrift with colour=True")
        name, bounds = "seam_drift", (0.0, 1.0)
        boundaries = self.known_boundaries()
        scan = boundaries is None
        method = seam_method(scan, k, min_jump)
        pairs = len(self.ssim)
        if pairs == 0:
            return MetricResult.unavailable(name, bounds, method, "the video has a single frame")
        outside = (
            [] if scan or self.boundaries is None else [b for b in self.boundaries if not 1 <= b < self.num_frames]
        )
        examined = list(range(1, self.num_frames)) if scan else boundaries
        if not examined:
            reason = (
                f"none of the boundaries {outside} falls inside the video's {self.num_frames} frames"
                if outside
                else "the video is a single segment: it has no seams to check"
            )
            return MetricResult.unavailable(name, bounds, method, reason, outside_video=outside)
        hist = np.asarray(self.hist_distance)
        dissimilarity = 1.0 - np.asarray(self.ssim)
        ordinary = np.ones(pairs, dtype=bool)
        if not scan:
            ordinary[[b - 1 for b in examined]] = False
        if ordinary.sum() < MIN_BASELINE_PAIRS:
            return MetricResult.unavailable(
                name,
                bounds,
                method,
                f"only {int(ordinary.sum())} ordinary frame pairs to judge the seams against (need "
                f"{MIN_BASELINE_PAIRS}): the segments are too short",
            )
        hist_rule = _OutlierRule.fit(hist[ordinary], k, min_jump)
        ssim_rule = _OutlierRule.fit(dissimilarity[ordinary], k, min_jump)
        seams, flagged = [], []
        for b in examined:
            d, s = float(hist[b - 1]), float(dissimilarity[b - 1])
            colour_jump, structure_jump = hist_rule.is_outlier(d), ssim_rule.is_outlier(s)
            if colour_jump or structure_jump:
                flagged.append(b)
            if not scan or colour_jump or structure_jump:
                seams.append(
                    {
                        "frame": b,
                        "hist_distance": round(d, 6),
                        "ssim": round(1.0 - s, 6),
                        "hist_z": round(hist_rule.z(d), 3),
                        "ssim_z": round(ssim_rule.z(s), 3),
                        "flagged": colour_jump or structure_jump,
                        "jump": [w for w, j in (("colour", colour_jump), ("structure", structure_jump)) if j],
                    }
                )
        details = {
            "mode": "scan" if scan else "boundaries",
            "boundaries": None if scan else examined,
            "flagged": flagged,
            "seams": seams,
            "pairs": pairs,
            "baseline": {
                "pairs": int(ordinary.sum()),
                "hist_distance": hist_rule.summary(),
                "ssim_dissimilarity": ssim_rule.summary(),
                "k": k,
                "min_jump": min_jump,
            },
        }
        if outside:
            details["outside_video"] = outside
        return MetricResult(name=name, value=len(flagged) / len(examined), range=bounds, method=method, details=details)


class _OutlierRule:
    """``x`` is an outlier when ``x > median + max(k * 1.4826 * MAD, min_jump)`` of the baseline values."""

    def __init__(self, median: float, sigma: float, k: float, min_jump: float) -> None:
        self.median, self.sigma, self.k, self.min_jump = median, sigma, k, min_jump
        self.threshold = median + max(k * sigma, min_jump)

    @classmethod
    def fit(cls, values: Sequence[float] | np.ndarray, k: float, min_jump: float) -> _OutlierRule:
        values = np.asarray(values, dtype=np.float64)
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median)))
        return cls(median, 1.4826 * mad, k, min_jump)

    def is_outlier(self, x: float) -> bool:
        return x > self.threshold

    def z(self, x: float) -> float:
        # The robust z-score; a spread of zero would divide by zero, so the floor is min_jump / k.
        return (x - self.median) / max(self.sigma, self.min_jump / self.k, 1e-12)

    def summary(self) -> dict[str, float]:
        return {
            "median": round(self.median, 6),
            "robust_sigma": round(self.sigma, 6),
            "threshold": round(self.threshold, 6),
        }


def seam_drift(
    path: str | os.PathLike,
    *,
    boundaries: Iterable[int] | None = None,
    frames_per_segment: int | None = None,
    max_side: int | None = ANALYSIS_MAX_SIDE,
) -> MetricResult:
    """Check the seams of a chained video (or find hard cuts when the boundaries are unknown).

    Args:
        path (`str` or `os.PathLike`): the video.
        boundaries (`Iterable[int]`, *optional*): frame indices where new segments start.
        frames_per_segment (`int`, *optional*): A4's segment length instead of ``boundaries``
            (:func:`segment_boundaries`). With neither, every consecutive pair is scanned.
        max_side (`int`, *optional*, defaults to 256): long side of the analysed frames.

    Returns:
        `MetricResult`: ``seam_drift`` in [0, 1], the share of seams (or of scanned pairs) that jump.

    Raises:
        MoraError: the video is missing or unreadable.
    """
    drift = PairDrift(boundaries, frames_per_segment)
    for frame in iter_frames(path, max_side=max_side):
        drift.update(frame)
    return drift.seam_drift()


def frame_consistency(path: str | os.PathLike, *, max_side: int | None = ANALYSIS_MAX_SIDE) -> MetricResult:
    """Mean SSIM between consecutive frames, in [-1, 1]; a weight-free cousin of VBench's consistency scores.

    Raises:
        MoraError: the video is missing or unreadable.
    """
    drift = PairDrift(colour=False)
    for frame in iter_frames(path, max_side=max_side):
        drift.update(frame)
    return drift.frame_consistency()


__all__ = [
    "PairDrift",
    "colour_histogram",
    "frame_consistency",
    "histogram_distance",
    "seam_drift",
    "seam_method",
    "segment_boundaries",
    "ssim",
]
