"""The preview variants of ``GET /v1/videos/{id}/content``: a ``thumbnail`` (one WebP frame) and a ``spritesheet``
(a JPEG grid of frames), made from the finished MP4 on request.

Frames come through the guarded reader (:func:`mora_agents.media_guard.open_video`), one at a time: only the frames
kept are held, and a damaged, truncated or foreign file is one :class:`~mora_agents.errors.MoraError` sentence.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

from mora_agents.errors import MoraError
from mora_agents.media_guard import open_video

__all__ = ["SPRITESHEET_MAX_WIDTH", "spritesheet", "thumbnail"]

SPRITESHEET_MAX_WIDTH = 1024
"""Widest spritesheet, in pixels: frames are downscaled (never upscaled) so the grid fits."""
_SPRITESHEET_MAX_HEIGHT = 16384
"""Tallest spritesheet (tall frames in many rows), well inside JPEG's 65,535."""
_THUMBNAIL_QUALITY = 80
_SPRITESHEET_QUALITY = 85


def thumbnail(video: str | os.PathLike) -> bytes:
    """The frame in the middle of ``video``, at the video's own size, encoded as WebP.

    Args:
        video (`str` or `os.PathLike`): an MP4 (or any video the guarded reader reads).

    Returns:
        `bytes`: a WebP image (``image/webp``).

    Raises:
        MoraError: one sentence naming the file: missing, not a video by its content, beyond a cap, damaged, or
            without frames.
    """
    (frame,) = _frames_at(video, lambda count: [count // 2])
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="WEBP", quality=_THUMBNAIL_QUALITY)
    return buffer.getvalue()


def spritesheet(video: str | os.PathLike, columns: int = 4, rows: int = 4) -> bytes:
    """Up to ``columns * rows`` frames of ``video``, evenly spaced over it, in a grid, encoded as JPEG.

    Frame ``i`` of ``n`` is the one at the middle of the ``i``-th of ``n`` equal stretches of the video, so the
    first and last frames are near, not at, its ends. The frames fill the grid row by row, left to right. A video
    with fewer frames than cells gets a smaller grid: ``min(columns, n)`` columns and ``ceil(n / columns)`` rows
    (the last row's remaining cells are black). Each frame keeps its aspect ratio and is downscaled (never
    upscaled) so the sheet is at most :data:`SPRITESHEET_MAX_WIDTH` pixels wide; every cell has the same size.

    Args:
        video (`str` or `os.PathLike`): an MP4 (or any video the guarded reader reads).
        columns (`int`): frames per row, 1 or more.
        rows (`int`): rows, 1 or more.

    Returns:
        `bytes`: a JPEG image (``image/jpeg``).

    Raises:
        MoraError: ``columns`` or ``rows`` is not a whole number from 1 to 1024, or, naming the file, the video is
            missing, not a video by its content, beyond a cap, damaged, or without frames.
    """
    for name, value in (("columns", columns), ("rows", rows)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SPRITESHEET_MAX_WIDTH:
            raise MoraError(f"a spritesheet's {name} must be a whole number from 1 to {SPRITESHEET_MAX_WIDTH}, "
                            f"got {value!r}")  # fmt: skip
    cells = columns * rows
    frames = _frames_at(video, lambda count: _spaced(count, cells))
    used_columns = min(columns, len(frames))
    used_rows = math.ceil(len(frames) / used_columns)
    height, width = frames[0].shape[:2]
    scale = min(1.0, SPRITESHEET_MAX_WIDTH / (used_columns * width), _SPRITESHEET_MAX_HEIGHT / (used_rows * height))
    cell_width, cell_height = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    sheet = Image.new("RGB", (cell_width * used_columns, cell_height * used_rows))
    for index, frame in enumerate(frames):
        image = Image.fromarray(frame)
        if image.size != (cell_width, cell_height):
            image = image.resize((cell_width, cell_height), Image.Resampling.LANCZOS)
        row, column = divmod(index, used_columns)
        sheet.paste(image, (column * cell_width, row * cell_height))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=_SPRITESHEET_QUALITY)
    return buffer.getvalue()


def _spaced(count: int, most: int) -> list[int]:
    """``min(count, most)`` distinct frame indices of ``count``, each the middle of one of as many equal stretches."""
    taken = min(count, most)
    return [math.floor((i + 0.5) * count / taken) for i in range(taken)]


def _frames_at(video: str | os.PathLike, pick: Callable[[int], Sequence[int]]) -> list[np.ndarray]:
    """The frames at the indices ``pick(frame_count)`` names (sorted, distinct), as writable ``(H, W, 3)`` arrays.

    One pass when the container's frame count (fps x duration) holds; when it is unknown or too high (the stream
    ends before the last index), the frames are counted and a second pass takes them.
    """
    with open_video(video) as reader:
        estimate, path = reader.facts.num_frames, reader.facts.file.path
        if estimate > 0:
            wanted: Sequence[int] = pick(estimate)
            kept, count = _take(reader, wanted)
            if len(kept) == len(wanted):
                return kept
        else:
            count = sum(1 for _ in reader)
    if count == 0:
        raise MoraError(f"{path} is not a readable video: it has no frames")
    with open_video(video) as reader:
        wanted = pick(count)
        kept, _ = _take(reader, wanted)
    if len(kept) != len(wanted):  # the file changed between the passes
        raise MoraError(f"{path} changed while it was read: it now has fewer than {count} frames")
    return kept


def _take(frames: Iterable[np.ndarray], wanted: Sequence[int]) -> tuple[list[np.ndarray], int]:
    """The frames at ``wanted`` (sorted indices) and how many frames were read: reading stops at the last index
    wanted, or at the stream's end (then the count is the video's frame count)."""
    targets, last = set(wanted), max(wanted)
    kept: list[np.ndarray] = []
    count = 0
    for frame in frames:
        if count in targets:
            kept.append(frame.copy())
        count += 1
        if count > last:
            break
    return kept, count
