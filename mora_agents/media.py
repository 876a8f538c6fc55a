"""Frames to and from files: PNG stills and streamed MP4 video.

Video frames are written one at a time as they are produced, so a long video never sits in memory whole. Every file
read goes through :mod:`mora_agents.media_guard` (checks by content, caps before decoding, one-sentence errors).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from contextlib import suppress
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from mora_agents.atomic_files import write_atomically
from mora_agents.errors import DISK_FULL_ERRNOS, DiskFullError, MoraError, disk_full_as_error, disk_full_error
from mora_agents.media_guard import open_video, read_image


def to_uint8_frame(frame: Image.Image | np.ndarray) -> np.ndarray:
    """Return ``frame`` as an ``(H, W, 3)`` uint8 array (floats are taken to be in [0, 1])."""
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a frame must have shape (H, W, 3), got {array.shape}")
    return array


class VideoFileWriter:
    """Stream frames into an MP4 (H.264, yuv420p) that appears at ``path`` only once it is complete.

    Frames go through a pipe to ffmpeg (imageio-ffmpeg's binary, with the very command imageio's writer runs), which
    writes a temporary sibling file; :meth:`close` waits for ffmpeg, checks that it succeeded, fsyncs and renames the
    file into place, so a reader never sees a half-written video. ffmpeg's own messages are kept, not printed: a
    failure is raised as one error (:class:`~mora_agents.errors.DiskFullError` for a full disk). Use as a context
    manager; on an exception the partial file is removed.
    """

    def __init__(self, path: str | os.PathLike, fps: float, quality: int = 8) -> None:
        self.path = Path(path)
        self.fps = fps
        self.quality = quality
        self.num_frames = 0
        self.size: tuple[int, int] | None = None
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._process: subprocess.Popen | None = None
        self._stderr = bytearray()
        self._stderr_reader: threading.Thread | None = None

    def append(self, frame: Image.Image | np.ndarray) -> None:
        """Encode one frame; every frame must have the size of the first.

        Raises:
            DiskFullError: the disk of the video's folder is full (the partial file is removed).
            OSError: ffmpeg failed for another reason (its last message says which).
        """
        array = to_uint8_frame(frame)
        size = (array.shape[1], array.shape[0])
        if self.size is None:
            if size[0] % 2 or size[1] % 2:
                raise ValueError(f"H.264 needs even frame sizes, got {size[0]}x{size[1]}")
            self.size = size
        elif size != self.size:
            raise ValueError(f"frame {self.num_frames} is {size[0]}x{size[1]}, expected {self.size[0]}x{self.size[1]}")
        if self._process is None:
            self._start(size)
        try:
            self._process.stdin.write(np.ascontiguousarray(array).tobytes())
        except OSError:  # ffmpeg has exited (a broken pipe): its messages say why
            self._process.kill()
            raise self._failure() from None
        self.num_frames += 1

    def close(self) -> None:
        """Finish the file and move it into place atomically.

        Raises:
            DiskFullError: the disk of the video's folder is full (the partial file is removed, ``path`` untouched).
            OSError: ffmpeg failed for another reason.
        """
        if self.num_frames == 0:
            self.abort()
            raise ValueError(f"no frames were written to {self.path}")
        with disk_full_as_error(self.path.parent, partial=self._tmp):
            if self._finish() != 0:
                raise self._failure()
            _fsync_file(self._tmp)
            os.replace(self._tmp, self.path)
            _fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Stop ffmpeg and drop the partial file."""
        try:
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
            self._finish()
        finally:
            self._tmp.unlink(missing_ok=True)

    def _start(self, size: tuple[int, int]) -> None:
        from imageio_ffmpeg import get_ffmpeg_exe

        # imageio's FFMPEG writer's command for these settings, so the bytes are those it wrote: crf from quality as
        # imageio-ffmpeg maps it, no rescaling (sizes are checked above), messages at level "error".
        crf = int((1 - self.quality / 10.0) * 51)
        command = [
            get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{size[0]:d}x{size[1]:d}",
            "-pix_fmt", "rgb24", "-r", str(Fraction(self.fps).limit_denominator()), "-i", "-", "-an",
            "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-v", "error", str(self._tmp),
        ]  # fmt: skip
        # A process group of its own (as imageio-ffmpeg starts it): Ctrl-C cancels the stage, which aborts the writer.
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, process_group=0)  # fmt: skip
        self._stderr_reader = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._stderr_reader.start()

    def _read_stderr(self) -> None:
        for line in self._process.stderr:
            self._stderr.extend(line)

    def _finish(self) -> int:
        """Close ffmpeg's input and wait for it; returns its exit status (0 when it never started)."""
        if self._process is None:
            return 0
        with suppress(OSError):  # a pipe ffmpeg already closed: its exit status tells what happened
            self._process.stdin.close()
        returncode = self._process.wait()
        if self._stderr_reader is not None:
            self._stderr_reader.join()
        return returncode

    def _failure(self) -> OSError | DiskFullError:
        """The error for an ffmpeg that failed (after it exited): a full disk, or its last message."""
        self._finish()
        self._tmp.unlink(missing_ok=True)
        message = self._stderr.decode("utf-8", "replace")
        for number in DISK_FULL_ERRNOS:
            if os.strerror(number) in message:
                return disk_full_error(OSError(number, os.strerror(number)), self.path.parent)
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {self._process.returncode}"
        return OSError(f"ffmpeg could not write {self.path}: {last}")

    def __enter__(self) -> VideoFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    """Write ``image`` as PNG atomically (temporary file, fsync, rename: :func:`write_atomically`).

    Raises:
        DiskFullError: the disk of ``path``'s folder is full (the temporary file is removed, ``path`` untouched).
    """
    write_atomically(path, lambda staging: image.convert("RGB").save(staging, format="PNG"))


def copy_atomic(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy a file so that ``target`` appears only complete (temporary file, fsync, rename).

    Raises:
        DiskFullError: the disk of ``target``'s folder is full (the temporary file is removed).
    """
    write_atomically(target, lambda staging: shutil.copyfile(source, staging))


def link_atomic(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """``target`` as a hard link to ``source`` (a copy where links fail: another file system), appearing only
    complete: it is made under a temporary name and renamed into place.

    Raises:
        DiskFullError: the copy found the disk of ``target``'s folder full (the staging file is removed).
        OSError: neither a link nor a copy could be made (the staging file is removed).
    """

    def link_or_copy(staging: Path) -> None:
        try:
            os.link(source, staging)
        except OSError:
            shutil.copyfile(source, staging)

    write_atomically(target, link_or_copy)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file as RGB through the guarded reader (:func:`mora_agents.media_guard.read_image`).

    Raises:
        MoraError: one sentence naming the file: missing, a folder, empty, not an image by its content, a header
            claiming too many pixels, or damaged data.
    """
    return read_image(path)


def fit_frame(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` centre-cropped to the aspect ratio of ``size`` and resized to it (no distortion)."""
    image = image.convert("RGB")
    if image.size == size:
        return image
    width, height = size
    scale = max(width / image.width, height / image.height)
    resized = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                           Image.Resampling.LANCZOS)  # fmt: skip
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def iter_frames(path: str | os.PathLike):
    """Yield ``(fps, frame)`` for every frame of a video, decoding one at a time (``frame``: ``(H, W, 3)`` uint8).

    The file goes through the guarded reader (:func:`mora_agents.media_guard.open_video`): path, type by content,
    and the frame-size, duration and frame-count caps, before the first frame is decoded.

    Raises:
        MoraError: the file is missing, not a video by its content, beyond a cap, or not decodable.
    """
    with open_video(path) as reader:
        for frame in reader:
            # A writable copy, as callers had from imageio: ffmpeg's buffer is read-only.
            yield reader.facts.fps, frame.copy()


def video_frame(path: str | os.PathLike, which: str) -> Image.Image:
    """The ``first`` or ``last`` frame of a video (the last one is found by streaming through it)."""
    frame = None
    for _, decoded in iter_frames(path):
        frame = decoded
        if which == "first":
            break
    if frame is None:
        raise MoraError(f"{path} has no frames")
    return Image.fromarray(frame)


def append_video(writer: VideoFileWriter, path: str | os.PathLike) -> int:
    """Append every frame of the video at ``path`` to ``writer``, resampled to the writer's fps and fitted
    to its size (the first frame written fixes the size when the writer has none). Returns frames written."""
    written, time_step, next_time = 0, 1.0 / writer.fps, 0.0
    for index, (fps, frame) in enumerate(iter_frames(path)):
        # Keep the source frame nearest to each output tick, so a clip lasts as long at any fps.
        frame_time = index / (fps or writer.fps)
        while next_time <= frame_time + 1e-9:
            image = Image.fromarray(frame)
            writer.append(fit_frame(image, writer.size) if writer.size else image)
            written += 1
            next_time = written * time_step
    return written


def video_info(path: str | os.PathLike) -> dict:
    """Return ``fps``, ``size`` (w, h) and ``num_frames`` of a video, counted by decoding it.

    Raises:
        MoraError: the file is missing or not a decodable video.
    """
    fps, size, count = 0.0, (0, 0), 0
    for frame_fps, frame in iter_frames(path):
        fps, size, count = frame_fps, (frame.shape[1], frame.shape[0]), count + 1
    return {"fps": fps, "size": size, "num_frames": count}


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every platform allows opening a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
