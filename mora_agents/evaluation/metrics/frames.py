"""Streaming frame reader for the metrics: one decoded frame in memory at a time, a fixed sampling rule.

Frames come from ffmpeg (``imageio-ffmpeg``, the same binary that writes mora's videos) through a pipe, one at a
time, as ``uint8`` RGB arrays; nothing here ever holds a whole video, so a 60 s clip costs the memory of a frame.
Files are opened through the guarded reader (:mod:`mora_agents.media_guard`), as every media input is.

The sampling rule, fixed so numbers are comparable between runs:

* Space: every frame is shrunk with area averaging (``cv2.INTER_AREA``) so its long side is at most ``max_side``
  (:data:`ANALYSIS_MAX_SIDE` = 256 px for the weight-free metrics; never enlarged, aspect ratio kept). Classical
  optical flow is both faster and steadier at that size, and VBench's motion thresholds scale with resolution.
* Time: ``sample="all"`` yields every frame; ``"every_n"`` every ``n``-th frame starting at frame 0;
  ``"uniform_k"`` ``k`` frames spread evenly from the first to the last (``numpy.linspace`` rounded; this one
  counts the frames first, with one extra ffmpeg pass that decodes but moves no pixels).
  :func:`vbench_interval` gives VBench's "about 8 frames per second" step for motion magnitude.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from mora_agents.errors import MoraError
from mora_agents.media_guard import check_media_file, check_video, open_video, unreadable_video

ANALYSIS_MAX_SIDE = 256
"""Long side, in pixels, of the frames the weight-free metrics analyse."""

Sample = Literal["all", "every_n", "uniform_k"]


class Frame(NamedTuple):
    """One decoded frame and its index in the source video (0-based, counting every frame)."""

    index: int
    image: np.ndarray
    """``(H, W, 3)`` uint8 RGB, already resized to the requested ``max_side``."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, read from its header (no frames decoded unless an exact count was asked for)."""

    path: Path
    fps: float
    """Frames per second; 0.0 when the container does not say."""
    num_frames: int
    """Frame count: exact when ``num_frames_exact``, otherwise ``round(duration * fps)`` from the header."""
    duration: float
    """Seconds."""
    width: int
    height: int
    num_frames_exact: bool


def probe_video(path: str | os.PathLike, *, exact_count: bool = False) -> VideoInfo:
    """Read a video's fps, size, duration and frame count without decoding its frames.

    The file goes through the guarded reader (:func:`mora_agents.media_guard.check_video`): path, type by content
    and the size, duration and frame-count caps.

    Args:
        path (`str` or `os.PathLike`): the video file.
        exact_count (`bool`, *optional*, defaults to `False`): count the frames exactly; ffmpeg then runs through
            the file once (decoding, but passing no pixels back), which costs about a second per minute of video.

    Returns:
        `VideoInfo`: the header's facts.

    Raises:
        MoraError: the file is missing, not a video by its content, beyond a cap, or ffmpeg cannot read it.
    """
    import imageio_ffmpeg

    facts = check_video(path)
    count, exact = facts.num_frames, False
    if exact_count:
        try:
            count, _ = imageio_ffmpeg.count_frames_and_secs(str(facts.file.resolved))
        except (OSError, RuntimeError) as error:
            raise unreadable_video(facts.file.path, error) from None
        exact = True
    return VideoInfo(Path(path), facts.fps, int(count), facts.duration, facts.width, facts.height, exact)


def iter_frames(
    path: str | os.PathLike,
    *,
    max_side: int | None = ANALYSIS_MAX_SIDE,
    sample: Sample = "all",
    n: int = 1,
    k: int | None = None,
) -> Iterator[Frame]:
    """Yield the sampled frames of a video one at a time, each resized so its long side is at most ``max_side``.

    Args:
        path (`str` or `os.PathLike`): the video file.
        max_side (`int`, *optional*, defaults to 256): long side of the yielded frames; ``None`` keeps the
            source size. Frames are only ever shrunk (``cv2.INTER_AREA``), never enlarged.
        sample (`str`, *optional*, defaults to `"all"`): ``"all"``, ``"every_n"`` (frames 0, n, 2n, ...) or
            ``"uniform_k"`` (``k`` frames evenly spread over the whole video, first and last included).
        n (`int`, *optional*, defaults to 1): the step for ``"every_n"``.
        k (`int`, *optional*): how many frames ``"uniform_k"`` yields (fewer if the video is shorter).

    Returns:
        `Iterator[Frame]`: ``(index, image)`` in order, decoded as the iterator advances; ``index`` counts every
        frame of the source. Closing the iterator (or dropping it) stops ffmpeg.

    Raises:
        MoraError: the file is missing, unreadable, corrupt part-way through, or has no frames.
        ValueError: ``sample``, ``n``, ``k`` or ``max_side`` make no sense.
    """
    if max_side is not None and max_side < 8:
        raise ValueError(f"`max_side` must be at least 8 pixels or None, got {max_side}")
    wanted: set[int] | None = None
    if sample == "all":
        step = 1
    elif sample == "every_n":
        if n < 1:
            raise ValueError(f"`n` must be at least 1 for sample='every_n', got {n}")
        step = n
    elif sample == "uniform_k":
        if k is None or k < 1:
            raise ValueError(f"`k` must be at least 1 for sample='uniform_k', got {k}")
        total = probe_video(path, exact_count=True).num_frames
        wanted = {int(i) for i in np.linspace(0, max(total - 1, 0), num=min(k, max(total, 1))).round()}
        step = 1
    else:
        raise ValueError(f"`sample` must be 'all', 'every_n' or 'uniform_k', got {sample!r}")

    # Checked here, not on the first next(): a missing file fails where the caller asked for it.
    check_media_file(path, "video")
    return _stream(path, max_side, step, wanted)


def _stream(path: str | os.PathLike, max_side: int | None, step: int, wanted: set[int] | None) -> Iterator[Frame]:
    with open_video(path) as reader:
        width, height = reader.facts.width, reader.facts.height
        target = fitted_size(width, height, max_side)
        index, last = -1, max(wanted) if wanted else None
        for index, frame in enumerate(reader):
            if index % step or (wanted is not None and index not in wanted):
                continue
            yield Frame(index, _to_image(frame, target))
            if index == last:
                break  # the rest would be decoded only to be skipped
        if index < 0:
            raise MoraError(f"{path} has no video frames: check that it is a finished video file")


def fitted_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled down so the long side is at most ``max_side`` (unchanged if already small)."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def vbench_interval(fps: float, target_fps: float = 8.0) -> int:
    """VBench's frame step for motion magnitude: ``max(1, round(fps / 8))``, i.e. about 8 sampled frames a second.

    (VBench ``dynamic_degree.get_frames``: ``interval = max(1, round(fps/8))``.) An unknown fps (0) gives 1.
    """
    if not fps or not math.isfinite(fps):
        return 1
    return max(1, round(fps / target_fps))


def to_grey(image: np.ndarray) -> np.ndarray:
    """The grey ``uint8`` version of an RGB ``uint8`` frame (ITU-R BT.601 weights, as OpenCV)."""
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _to_image(frame: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    if target == (frame.shape[1], frame.shape[0]):
        # Copy: the buffer is read-only and would otherwise pin the pipe's bytes object.
        return frame.copy()
    import cv2

    return cv2.resize(frame, target, interpolation=cv2.INTER_AREA)
