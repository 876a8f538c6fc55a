"""The one way media files come in: every image and video that a user, a session, an upload or a DATA folder names
is checked here before anything decodes it, and every failure is one :class:`MoraError` sentence naming the file.

The checks, in order:

1. The path: it exists; symbolic links are followed and the target must be a regular file (not a folder, FIFO,
   socket or device: opening a FIFO would block); it is not empty and not larger than the size cap.
2. The type, by content (magic bytes; the extension does not count): PNG, JPEG, WebP, GIF, BMP, TIFF images;
   MP4/MOV (``ftyp`` box), WebM/MKV (EBML), AVI (``RIFF....AVI ``) and GIF videos. ffmpeg is then told the demuxer
   (``-f mov`` ...), so it cannot be talked into another format by what it finds inside.
3. The header, before a pixel is decoded: an image's width x height (Pillow's lazy open); a video's frame size,
   duration and frame count (fps x duration), from the container as ffmpeg reports it.
4. Decoding: whatever a decoder raises on damaged or truncated data becomes one sentence; while a video streams, the
   frame and duration caps hold again, in case the header lied.

Caps (module constants are the defaults; each can be changed with the environment variable in brackets, read at
every check, a whole number above 0):

* :data:`MAX_IMAGE_BYTES` 64 MiB (``MORA_MAX_IMAGE_BYTES``), :data:`MAX_IMAGE_PIXELS` 40 megapixels
  (``MORA_MAX_IMAGE_PIXELS``; Pillow's own hard limit, 2 x ``PIL.Image.MAX_IMAGE_PIXELS`` = 179 megapixels, still
  applies above it).
* :data:`MAX_VIDEO_BYTES` 2 GiB (``MORA_MAX_VIDEO_BYTES``), :data:`MAX_VIDEO_SECONDS` 600 s
  (``MORA_MAX_VIDEO_SECONDS``), :data:`MAX_VIDEO_FRAMES` 20,000 (``MORA_MAX_VIDEO_FRAMES``), :data:`MAX_FRAME_SIDE`
  4096 pixels for each side of a frame (``MORA_MAX_FRAME_SIDE``).
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from mora_agents.errors import MoraError

MAX_IMAGE_BYTES = 64 * 2**20
"""Largest image file read (64 MiB); ``MORA_MAX_IMAGE_BYTES`` overrides it."""
MAX_IMAGE_PIXELS = 40_000_000
"""Most pixels an image's header may claim (40 megapixels, e.g. 8000x5000); ``MORA_MAX_IMAGE_PIXELS``."""
MAX_VIDEO_BYTES = 2 * 2**30
"""Largest video file read (2 GiB); ``MORA_MAX_VIDEO_BYTES``."""
MAX_VIDEO_SECONDS = 600
"""Longest video read (10 minutes); ``MORA_MAX_VIDEO_SECONDS``."""
MAX_VIDEO_FRAMES = 20_000
"""Most frames a video may have; ``MORA_MAX_VIDEO_FRAMES``."""
MAX_FRAME_SIDE = 4096
"""Widest and tallest video frame, in pixels; ``MORA_MAX_FRAME_SIDE``."""

MediaKind = Literal["image", "video"]
IMAGE_FORMATS = ("PNG", "JPEG", "WebP", "GIF", "BMP", "TIFF")
"""Image formats read, by their content."""
VIDEO_FORMATS = ("MP4", "MOV", "WebM", "MKV", "AVI", "GIF")
"""Video formats read, by their content."""
_PIL_FORMAT = {"PNG": "PNG", "JPEG": "JPEG", "WebP": "WEBP", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF"}
_DEMUXER = {"MP4": "mov", "MOV": "mov", "WebM": "matroska", "MKV": "matroska", "AVI": "avi", "GIF": "gif"}
_SNIFF_BYTES = 64
_UNREADABLE = {"image": "a readable image", "video": "a readable video"}


@dataclass(frozen=True)
class MediaFile:
    """A media file that passed the path and type checks; nothing in it has been decoded yet."""

    path: Path
    """The path as given (what messages name)."""
    resolved: Path
    """The regular file it names, symbolic links followed (what is opened)."""
    kind: MediaKind
    format: str
    """One of :data:`IMAGE_FORMATS` or :data:`VIDEO_FORMATS`, from the file's first bytes."""
    bytes: int


@dataclass(frozen=True)
class VideoFacts:
    """What a video's container says, read before any frame is decoded."""

    file: MediaFile
    width: int
    """Width of the frames a reader yields (after ffmpeg applies any rotation)."""
    height: int
    fps: float
    """Frames per second; 0.0 when the container does not say."""
    duration: float
    """Seconds; 0.0 when the container does not say."""
    num_frames: int
    """``round(duration * fps)``: an estimate (0 when either is unknown); :class:`VideoReader` counts for real."""


def limit(name: str) -> int:
    """The cap ``name`` (``"MAX_IMAGE_PIXELS"`` ...): ``MORA_<name>`` from the environment, else the default.

    Raises:
        MoraError: the variable is set but is not a whole number above 0.
    """
    default = globals()[name]
    variable = f"MORA_{name}"
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise MoraError(f"{variable} must be a whole number above 0 (the default is {default}), got '{text}'")
    return value


def check_media_file(path: str | os.PathLike, kind: MediaKind) -> MediaFile:
    """Check that ``path`` names a non-empty regular file, within the size cap, whose content is a ``kind``.

    Reads only the first bytes: cheap enough to call before anything else happens.

    Args:
        path (`str` or `os.PathLike`): the file, as the user named it; a symbolic link is followed.
        kind (`str`): ``"image"`` or ``"video"``.

    Returns:
        `MediaFile`: the resolved file and its format.

    Raises:
        MoraError: one sentence naming ``path``: missing, a broken link, a folder, not a regular file, empty, too
            large, unreadable, or another kind of file (e.g. "photo.mp4 is an image (PNG), not a video").
    """
    path = Path(path)
    resolved = _resolved(path, kind)
    try:
        info = resolved.stat()
    except OSError as error:
        raise MoraError(f"cannot read {path}: {_os_reason(error)}") from None
    if stat.S_ISDIR(info.st_mode):
        where = f"links to the folder {resolved}" if path.is_symlink() else "is a folder"
        raise MoraError(f"{path} {where}, not {_a(kind)} file: give the path of {_a(kind)} file")
    if not stat.S_ISREG(info.st_mode):
        raise MoraError(f"{path} is {_special(info.st_mode)}, not a regular file: give the path of {_a(kind)} file")
    if info.st_size == 0:
        raise MoraError(f"{path} is empty (0 bytes): it holds no {kind}")
    cap = limit(f"MAX_{kind.upper()}_BYTES")
    if info.st_size > cap:
        raise MoraError(
            f"{path} is {_size(info.st_size)}; the limit for {_a(kind)} is {_size(cap)} (MORA_MAX_{kind.upper()}_BYTES)"
        )
    try:
        with open(resolved, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise MoraError(f"cannot read {path}: {_os_reason(error)}") from None
    found = sniff(head)
    formats = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
    if found is None:
        raise MoraError(f"{path} is not {_UNREADABLE[kind]}: its content is none of {', '.join(formats)}")
    other, fmt = found
    if fmt not in formats and other == kind:
        raise MoraError(
            f"{path} is a {fmt} {kind}, which mora does not read: convert it to {formats[0]} or {formats[1]}"
        )
    if fmt not in formats:
        raise MoraError(f"{path} is {_a(other)} ({fmt}), not {_a(kind)}: give {_a(kind)} file ({', '.join(formats)})")
    return MediaFile(path, resolved, kind, fmt, info.st_size)


def sniff(head: bytes) -> tuple[MediaKind, str] | None:
    """The kind and format that a file's first bytes (64 are enough) announce, or ``None`` when none is known.

    GIF counts as an image; it is also a video format. HEIF/AVIF stills (an ``ftyp`` box with an image brand) are
    named, so a message can say what the file is, though nothing here reads them.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "AVI"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image", "TIFF"
    if head.startswith(b"BM") and len(head) >= 26:
        return "image", "BMP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"):
            return "image", "HEIF/AVIF"
        return "video", "MOV" if brand == b"qt  " else "MP4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "video", "MOV"  # QuickTime files from before the ftyp box
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "WebM" if b"webm" in head else "MKV"
    return None


def read_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file as RGB, after the path, type and pixel-count checks (animations: the first frame).

    The file is read into memory once (it is at most :data:`MAX_IMAGE_BYTES`), so what was checked is what is
    decoded, even if the file changes meanwhile.

    Args:
        path (`str` or `os.PathLike`): the image file; a symbolic link is followed.

    Returns:
        `PIL.Image.Image`: the decoded image, mode ``RGB``.

    Raises:
        MoraError: one sentence naming ``path`` (see :func:`check_media_file`), or its header claims more pixels
            than :data:`MAX_IMAGE_PIXELS`, or its data is damaged or truncated.
    """
    file = check_media_file(path, "image")
    cap = limit("MAX_IMAGE_BYTES")
    try:
        with open(file.resolved, "rb") as handle:
            data = handle.read(cap + 1)
    except OSError as error:
        raise MoraError(f"cannot read {file.path}: {_os_reason(error)}") from None
    if len(data) > cap:
        raise MoraError(f"{file.path} grew past {_size(cap)} while it was read (MORA_MAX_IMAGE_BYTES)")
    image = _open_image(file, data)
    try:
        image.load()
        return image.convert("RGB")
    except Exception as error:  # noqa: BLE001
        # Pillow's decoders raise OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError ... on
        # damaged data; the header and size are already checked, so any of them means the bytes are bad.
        raise MoraError(f"{file.path} is not a readable image: its {file.format} data is {_damage(error)}") from None
    finally:
        image.close()


def _open_image(file: MediaFile, data: bytes) -> Image.Image:
    """Pillow's lazy open (the header only), restricted to the sniffed format, with the pixel cap applied."""
    cap = limit("MAX_IMAGE_PIXELS")
    pil_hard = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own soft limit; the cap below is ours to apply, so the warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[file.format]])
    except Image.DecompressionBombError:
        width, height = _header_size(file, data)
        raise _too_many_pixels(file, width, height, min(cap, pil_hard or cap)) from None
    except Exception as error:  # noqa: BLE001
        # As in decoding: any failure to parse the header means a damaged file, never a bug to report.
        raise MoraError(f"{file.path} is not a readable image: its {file.format} header is {_damage(error)}") from None
    width, height = image.size
    if width < 1 or height < 1 or width * height > cap:
        image.close()
        if width < 1 or height < 1:
            raise MoraError(f"{file.path} is not a readable image: its header says {width}x{height} pixels")
        raise _too_many_pixels(file, width, height, cap)
    return image


def _header_size(file: MediaFile, data: bytes) -> tuple[int, int]:
    """The size a header claims, past Pillow's own bomb check (its plugin's factory skips it); (0, 0) if unknown."""
    try:
        factory, _ = Image.OPEN[_PIL_FORMAT[file.format]]
        with factory(io.BytesIO(data), "") as image:
            return image.size
    except Exception:  # noqa: BLE001
        return 0, 0


def _too_many_pixels(file: MediaFile, width: int, height: int, cap: int) -> MoraError:
    claims = f"{width}x{height} pixels ({width * height / 1e6:,.0f} megapixels)" if width else "too many pixels"
    return MoraError(
        f"{file.path} claims {claims}; the limit is {cap / 1e6:g} megapixels (MORA_MAX_IMAGE_PIXELS): "
        "give a smaller image"
    )


def check_video(path: str | os.PathLike) -> VideoFacts:
    """Check a video file and its container header (frame size, duration, frame count) against the caps.

    Decodes no frames (ffmpeg is started, reads the header and is stopped).

    Raises:
        MoraError: one sentence naming ``path`` (see :func:`check_media_file`), or ffmpeg cannot read it, or it
            breaks a cap.
    """
    with open_video(path) as reader:
        return reader.facts


def open_video(path: str | os.PathLike) -> VideoReader:
    """Open a video for streaming, after the path, type and header checks: iterate the reader for its frames.

    Args:
        path (`str` or `os.PathLike`): the video file; a symbolic link is followed.

    Returns:
        `VideoReader`: use it as a context manager (``with open_video(p) as reader: for frame in reader: ...``);
        closing it stops ffmpeg.

    Raises:
        MoraError: as :func:`check_video`; iterating raises it too, when the data is damaged part-way or the video
            turns out longer than the caps allow.
    """
    import imageio_ffmpeg

    file = check_media_file(path, "video")
    # An absolute path: ffmpeg would read "name:rest" as a protocol; the demuxer pinned to the sniffed format.
    frames = imageio_ffmpeg.read_frames(str(file.resolved), pix_fmt="rgb24", input_params=["-f", _DEMUXER[file.format]])
    try:
        meta = next(frames)
        width, height = (int(side) for side in meta["size"])
        source = tuple(int(side) for side in meta["source_size"])
        fps, duration = float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0)
    except StopIteration:
        frames.close()
        raise MoraError(f"{file.path} is not a readable video: ffmpeg found no video stream in it") from None
    except Exception as error:  # noqa: BLE001
        # imageio-ffmpeg raises OSError/RuntimeError from ffmpeg, and IndexError/ValueError/AttributeError when its
        # header parser meets a stream it does not expect (no video stream, a size it cannot read).
        frames.close()
        raise unreadable_video(file.path, error) from None
    facts = VideoFacts(file, width, height, fps, duration, round(duration * fps) if fps and duration else 0)
    try:
        if not facts.num_frames:
            # The header's rate or duration is unusable (ffmpeg writes 1000 fps as "1k", which reads as 0): the
            # frames are counted from the stream instead, stopping just past the cap.
            facts = _with_counted_frames(facts)
        _check_header(facts, source)
    except MoraError:
        frames.close()
        raise
    return VideoReader(facts, frames)


def _check_header(facts: VideoFacts, source: tuple[int, ...]) -> None:
    path, side = facts.file.path, limit("MAX_FRAME_SIDE")
    if min(facts.width, facts.height, *source) < 1:
        raise MoraError(f"{path} is not a readable video: its header says {facts.width}x{facts.height} frames")
    if max(facts.width, facts.height, *source) > side:
        width, height = max(facts.width, source[0]), max(facts.height, source[1])
        raise MoraError(f"{path} has {width}x{height} frames; the limit is {side} pixels a side (MORA_MAX_FRAME_SIDE)")
    seconds = limit("MAX_VIDEO_SECONDS")
    if facts.duration > seconds:
        raise MoraError(f"{path} lasts {facts.duration:,.1f} s; the limit is {seconds} s (MORA_MAX_VIDEO_SECONDS)")
    most = limit("MAX_VIDEO_FRAMES")
    if facts.num_frames > most:
        raise MoraError(
            f"{path} has about {facts.num_frames:,} frames ({facts.fps:g} fps for {facts.duration:g} s); "
            f"the limit is {most:,} (MORA_MAX_VIDEO_FRAMES)"
        )


def _with_counted_frames(facts: VideoFacts) -> VideoFacts:
    """``facts`` with ``num_frames`` counted from the video stream's packets (no frame is decoded), and ``fps``
    from that count where the duration is known. Counting stops at :data:`MAX_VIDEO_FRAMES` + 1."""
    import subprocess

    import imageio_ffmpeg

    most = limit("MAX_VIDEO_FRAMES")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", _DEMUXER[facts.file.format],
               "-i", str(facts.file.resolved), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]  # fmt: skip
    count = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        try:
            for line in process.stdout:
                count += not line.startswith(b"#")  # one line per packet, after '#' comment lines
                if count > most:
                    break
        finally:
            process.kill()
    if count > most:
        raise MoraError(
            f"{facts.file.path} has more than {most:,} frames (counted in its stream: its header gives no usable "
            f"frame rate); the limit is {most:,} (MORA_MAX_VIDEO_FRAMES)"
        )
    fps = facts.fps or (count / facts.duration if facts.duration else 0.0)
    return VideoFacts(facts.file, facts.width, facts.height, fps, facts.duration, count)


class VideoReader:
    """A checked video, streamed: iterating yields ``(H, W, 3)`` uint8 RGB frames, one decoded at a time.

    The arrays are read-only views of ffmpeg's output (copy one to change it). The frame and duration caps are
    applied again while streaming, so a header that understates the length cannot get past them.
    """

    def __init__(self, facts: VideoFacts, frames: Iterator[bytes]) -> None:
        self.facts = facts
        self._frames = frames

    def __iter__(self) -> Iterator[np.ndarray]:
        facts, path = self.facts, self.facts.file.path
        most, seconds = limit("MAX_VIDEO_FRAMES"), limit("MAX_VIDEO_SECONDS")
        index = 0
        while True:
            try:
                raw = next(self._frames)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001
                # Damaged or truncated data: ffmpeg stops early or imageio-ffmpeg finds a partial frame.
                raise unreadable_video(path, error) from None
            if index >= most:
                raise MoraError(f"{path} has more than {most:,} frames; the limit is {most:,} (MORA_MAX_VIDEO_FRAMES)")
            if facts.fps and index / facts.fps > seconds:
                raise MoraError(f"{path} lasts over {seconds} s; the limit is {seconds} s (MORA_MAX_VIDEO_SECONDS)")
            index += 1
            yield np.frombuffer(raw, dtype=np.uint8).reshape(facts.height, facts.width, 3)

    def close(self) -> None:
        """Stop ffmpeg (also when the frames were not all read)."""
        self._frames.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def unreadable_video(path: Path, error: BaseException) -> MoraError:
    """The sentence for a video ffmpeg cannot read: its last meaningful stderr line, never the banner."""
    text = str(error)
    if "Input #0" in text and " Video: " not in text:
        # ffmpeg opened the container and found streams, none of them video (e.g. an audio-only MP4).
        return MoraError(f"{path} is not a readable video: it holds no video stream (audio or data only)")
    return MoraError(f"{path} is not a readable video (ffmpeg: {ffmpeg_reason(error)}); check it is a complete video")


def ffmpeg_reason(error: BaseException) -> str:
    """The line of ffmpeg's stderr (inside ``error``) that names the failure; its banner and configuration come
    first and are skipped."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("===", "ffmpeg version", "configuration:")):
            continue
        if line.startswith("[") and "] " in line:
            line = line.split("] ", 1)[1]
        return line.rstrip(".")[:160]
    return type(error).__name__


def _resolved(path: Path, kind: MediaKind) -> Path:
    try:
        return path.resolve(strict=True)
    except FileNotFoundError:
        if path.is_symlink():
            raise MoraError(f"{path} is a link to {os.readlink(path)}, which does not exist") from None
        raise MoraError(f"{kind} file not found: {path}") from None
    except RuntimeError:  # Python 3.11 reports a symbolic link loop so
        raise MoraError(f"{path} is a loop of symbolic links, not {_a(kind)} file") from None
    except OSError as error:
        raise MoraError(f"cannot read {path}: {_os_reason(error)}") from None


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value, unit = count / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.3g} {unit}"


def _os_reason(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _damage(error: BaseException) -> str:
    # A decoder's message may hold an object's repr ("cannot identify image file <_io.BytesIO object at 0x7f..>"):
    # an address means nothing to the person, so it goes.
    text = " ".join(_OBJECT_REPR.sub("", str(error)).split())[:120]
    return f"damaged or truncated ({text or type(error).__name__})"
