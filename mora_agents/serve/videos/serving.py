"""The Videos API in mora's terms: which SOP a request becomes, and how a job reads back as an OpenAI ``Video``.

- create: ``text_to_video``; with ``input_reference`` (an upload, or ``image_url`` as a data URL)
  ``image_to_video``.
- extensions: ``extend_video`` of a completed video (the result is the input plus the new seconds).
- edits and ``{id}/remix``: ``edit_video`` of a completed video with the new prompt (a remix names its source).
- ``model``: a mora profile name picks that profile; ``sora-2``, ``sora-2-pro`` and any other name get the
  server's profile, which the response names.
- ``size``: honoured as far as the profile goes (:func:`mora_tools.profiles.fit_frame_size`: kept within the
  profile's pixel count, scaled down to it keeping the aspect ratio otherwise); the response's ``size`` is the
  size made. Extensions and edits keep their source video's size.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from pathlib import Path

from mora_agents.errors import MoraError, NotFoundError
from mora_agents.messages import VideoRequest
from mora_agents.serve.queue import UPLOADS_DIR, JobQueue, save_upload
from mora_agents.serve.store import JobRecord
from mora_agents.serve.videos.protocol import VIDEO_STATUS, VideoError, VideoObject

DEFAULT_SECONDS = "4"
MAX_SECONDS = 60.0
_DATA_URL = re.compile(r"data:image/(?P<type>png|jpeg|jpg|webp);base64,(?P<data>[A-Za-z0-9+/=\s]+)", re.IGNORECASE)


def new_video_id() -> str:
    return "video_" + secrets.token_hex(16)


def profile_for(queue: JobQueue, model: str | None) -> str:
    """The profile a ``model`` name selects: a profile's own name, else the server's."""
    from mora_tools.profiles import available_profiles

    return model if model and model in available_profiles() else queue.config.profile


def frame_size(profile: str, size: str | tuple[int, int] | None = None) -> str:
    """The ``WIDTHxHEIGHT`` a job on ``profile`` makes for the asked ``size`` (``None``: the profile's own)."""
    from mora_tools.profiles import fit_frame_size, load_profile, parse_frame_size

    settings = load_profile(profile)
    if size is None:
        width, height = settings.text_to_image.width, settings.text_to_image.height
    else:
        width, height = fit_frame_size(settings, *(parse_frame_size(size) if isinstance(size, str) else size))
    return f"{width}x{height}"


def size_of_video(path: str | Path) -> tuple[int, int]:
    """An input video's frame size, from its header (no frame is decoded): extensions and edits keep it."""
    from mora_agents.media_guard import check_video

    facts = check_video(Path(path))
    return facts.width, facts.height


def seconds_of(value: str | None, field: str = "seconds") -> float:
    text = str(value or DEFAULT_SECONDS).strip()
    try:
        seconds = float(text)
    except ValueError:
        raise MoraError(f"{field} must be a number of seconds, e.g. '4', not '{text}'") from None
    if not 0 < seconds <= MAX_SECONDS:
        raise MoraError(f"{field} must be between 0 and {MAX_SECONDS:g} seconds, not {text}")
    return seconds


def video_object(job: JobRecord) -> VideoObject:
    reason = job.error or f"the job was {job.status}"
    error = VideoError(code=job.status, message=reason) if job.status in ("failed", "cancelled") else None
    return VideoObject(
        id=job.id,
        created_at=job.created_at,
        completed_at=job.completed_at,
        error=error,
        model=job.profile,
        progress=job.progress if job.status != "completed" else 100,
        prompt=job.prompt,
        remixed_from_video_id=job.remixed_from,
        seconds=job.seconds,
        size=job.size,
        status=VIDEO_STATUS[job.status],
    )


def queue_video(queue: JobQueue, job_id: str, sop: str, inputs: dict, *, prompt: str, model: str | None,
                seconds: str, size: str | tuple[int, int] | None = None,
                remixed_from: str | None = None) -> JobRecord:  # fmt: skip
    profile = profile_for(queue, model)
    request = VideoRequest(task=sop, inputs=inputs, seed=secrets.randbelow(2**31))
    job = JobRecord(
        id=job_id, kind="video", sop=sop, request=request, created_at=int(time.time()), review=queue.config.review,
        profile=profile, model=model or "", prompt=prompt, seconds=seconds, size=frame_size(profile, size),
        remixed_from=remixed_from,
    )  # fmt: skip
    return queue.submit(job)


def save_reference(queue: JobQueue, job_id: str, name: str, data: bytes) -> str:
    """An uploaded reference image, checked by content before anything else sees it; its path."""
    suffix = Path(name or "reference.png").suffix.lower()
    name = f"input_reference{suffix if suffix in ('.png', '.jpg', '.jpeg', '.webp') else '.png'}"
    return str(save_upload(queue.workspace / UPLOADS_DIR / job_id / name, data, "image", "input_reference"))


def decode_image_url(url: str) -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL (no other URL is fetched: the server reaches nothing)."""
    match = _DATA_URL.fullmatch(url.strip())
    if match is None:
        raise MoraError("input_reference.image_url must be a data URL (data:image/png;base64,...): the server fetches "
                        "nothing from the network")  # fmt: skip
    try:
        return base64.b64decode(match["data"], validate=False)
    except (binascii.Error, ValueError):
        raise MoraError("input_reference.image_url: the base64 data does not decode") from None


def completed_video(queue: JobQueue, video_id: str, what: str) -> Path:
    """The MP4 of a completed video job, for an extension, an edit or a remix."""
    job = queue.store.get(video_id)
    if job is None:
        raise NotFoundError(f"no video {video_id}")
    if job.status != "completed" or not job.run_dir:
        raise ConflictError(f"video {video_id} is {VIDEO_STATUS[job.status]}: only a completed video can be {what}")
    return queue.workspace / job.run_dir / "video.mp4"


class ConflictError(MoraError):
    """The request is valid but the video is not in a state for it (409)."""
