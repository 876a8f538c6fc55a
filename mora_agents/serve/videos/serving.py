"""The Videos API in mora's terms: which SOP a request becomes, and how a job reads back as an OpenAI ``Video``.

- create: ``text_to_video``; with ``input_reference`` (an upload, or ``image_url`` as a data URL)
  ``image_to_video``.
- extensions: ``extend_video`` of a completed video (the result is the input plus the new seconds).
- edits and ``{id}/remix``: ``edit_video`` of a completed video with the new prompt (a remix names its source).
- ``model``: a mora profile name picks that profile; ``sora-2``, ``sora-2-pro`` and any other name get the
  server's profile, which the response names.
- ``size``: honoured as far as the profile goes (:func:`mora_tools.loading.profiles.fit_frame_size`: kept within
  the profile's pixel count, scaled down to it keeping the aspect ratio otherwise); the response's ``size`` is the
  size made. Extensions and edits keep their source video's size.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
from pathlib import Path
from typing import Literal

from mora_agents.errors import MoraError
from mora_agents.serve.videos.protocol import VIDEO_STATUS, VideoDeleted, VideoError, VideoForm, VideoList, VideoObject
from mora_agents.serve.videos.variants import spritesheet, thumbnail
from mora_agents.services.errors import VideoNotFound, VideoNotReady
from mora_agents.services.jobs import JobService
from mora_agents.services.records import FINISHED, JobRecord

DEFAULT_SECONDS = "4"
MAX_SECONDS = 60.0
_DATA_URL = re.compile(r"data:image/(?P<type>png|jpeg|jpg|webp);base64,(?P<data>[A-Za-z0-9+/=\s]+)", re.IGNORECASE)

Variant = Literal["video", "thumbnail", "spritesheet"]
"""What ``GET /v1/videos/{id}/content`` sends: the MP4, one frame, or a grid of frames."""


def new_video_id() -> str:
    """A new video's id: ``video_`` and 32 hex digits."""
    return "video_" + secrets.token_hex(16)


def frame_size(profile: str, size: str | tuple[int, int] | None = None) -> str:
    """The ``WIDTHxHEIGHT`` a job on ``profile`` makes for the asked ``size`` (``None``: the profile's own)."""
    from mora_tools.loading.profiles import fit_frame_size, load_profile, parse_frame_size

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
    """The number of seconds a ``seconds`` field asks for.

    Raises:
        MoraError: not a number, or not within 0 and :data:`MAX_SECONDS`.
    """
    text = str(value or DEFAULT_SECONDS).strip()
    try:
        seconds = float(text)
    except ValueError:
        raise MoraError(f"{field} must be a number of seconds, e.g. '4', not '{text}'") from None
    if not 0 < seconds <= MAX_SECONDS:
        raise MoraError(f"{field} must be between 0 and {MAX_SECONDS:g} seconds, not {text}")
    return seconds


def video_object(job: JobRecord) -> VideoObject:
    """A video job as the API shows it (``openai.types.Video``)."""
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


class VideoServing:
    """``/v1/videos`` over ``jobs``: video jobs (kind ``video``), each made by one SOP.

    Args:
        jobs: the server's job service.
    """

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def profile_for(self, model: str | None) -> str:
        """The profile a ``model`` name selects: a profile's own name, else the server's."""
        from mora_tools.loading.profiles import available_profiles

        return model if model and model in available_profiles() else self.jobs.default_profile

    async def create(self, form: VideoForm) -> VideoObject:
        """``text_to_video`` of the prompt, or ``image_to_video`` of its ``input_reference``."""
        prompt = form.text("prompt", required=True)
        seconds = form.text("seconds") or DEFAULT_SECONDS
        inputs: dict = {"prompt": prompt, "duration": seconds_of(seconds)}
        video_id = new_video_id()
        model, size = form.text("model"), form.text("size")
        frame_size(self.profile_for(model), size)  # a bad size is named before any file is saved
        reference = form.file("input_reference")
        with self.jobs.uploads_discarded_on_error(video_id):
            if reference is not None:
                data = await reference.read()
                inputs["image"] = await self.jobs.upload_reference(video_id, reference.filename or "", data)
            elif form.has("input_reference.image_url"):
                data = decode_image_url(form.text("input_reference.image_url") or "")
                inputs["image"] = await self.jobs.upload_reference(video_id, "reference.png", data)
            sop = "image_to_video" if "image" in inputs else "text_to_video"
            job = self._submit(video_id, sop, inputs, prompt=prompt, model=model, seconds=seconds, size=size)
        return video_object(job)

    async def extend(self, form: VideoForm) -> VideoObject:
        """``extend_video`` of the form's source video by ``seconds``."""
        seconds = form.text("seconds") or DEFAULT_SECONDS
        inputs = {"duration": seconds_of(seconds)}
        return await self._from_source(form, "extend_video", inputs, form.text("prompt") or "", seconds, "extended")

    async def edit(self, form: VideoForm) -> VideoObject:
        """``edit_video`` of the form's source video with the prompt."""
        prompt = form.text("prompt", required=True)
        return await self._from_source(form, "edit_video", {"prompt": prompt}, prompt, DEFAULT_SECONDS, "edited")

    async def remix(self, video_id: str, prompt: str) -> VideoObject:
        """``edit_video`` of a completed video with a new prompt, at its size, profile and seconds."""
        source = self.completed_video(video_id, "remixed")
        original = self.jobs.record(video_id)
        size = await asyncio.to_thread(size_of_video, source)
        job = self._submit(
            new_video_id(), "edit_video", {"video": str(source), "prompt": prompt}, prompt=prompt,
            model=original.profile, seconds=original.seconds, size=size, remixed_from=video_id,
        )  # fmt: skip
        return video_object(job)

    def page(self, after: str | None, limit: int, order: Literal["asc", "desc"]) -> VideoList:
        """One page of videos; ``last_id`` is the next page's ``after``."""
        jobs, has_more = self.jobs.page("video", after=after, limit=limit, order=order)
        data = [video_object(job) for job in jobs]
        return VideoList(data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None,
                         has_more=has_more)  # fmt: skip

    def retrieve(self, video_id: str) -> VideoObject:
        """The video job."""
        return video_object(self.jobs.record(video_id, "video"))

    async def delete(self, video_id: str) -> VideoDeleted:
        """Delete the video job and its files."""
        self.jobs.record(video_id, "video")
        await self.jobs.delete(video_id)
        return VideoDeleted(id=video_id)

    def content_file(self, video_id: str) -> Path:
        """The completed video's MP4.

        Raises:
            VideoNotFound: no such video.
            VideoNotReady: the video has not completed (or failed).
        """
        job = self.jobs.record(video_id, "video")
        if job.status != "completed" or not job.run_dir:
            state = "finished without a video" if job.status in FINISHED else "not finished yet"
            raise VideoNotReady(f"video {video_id} is {state} ({job.status}): it has no content")
        return self.jobs.run_file(job, "video.mp4", what=f"video {video_id}")

    @staticmethod
    async def preview(path: Path, variant: Variant) -> bytes:
        """A thumbnail or a spritesheet of the MP4 at ``path``, made off the event loop."""
        return await asyncio.to_thread(thumbnail if variant == "thumbnail" else spritesheet, path)

    def completed_video(self, video_id: str, what: str) -> Path:
        """The MP4 of a completed video job, for an extension, an edit or a remix.

        Raises:
            VideoNotFound: no such job.
            VideoNotReady: it has not completed.
        """
        job = self.jobs.find(video_id)
        if job is None:
            raise VideoNotFound(f"no video {video_id}")
        if job.status != "completed" or not job.run_dir:
            raise VideoNotReady(f"video {video_id} is {VIDEO_STATUS[job.status]}: only a completed video can be {what}")
        return self.jobs.run_folder(job) / "video.mp4"

    async def _from_source(
        self, form: VideoForm, sop: str, inputs: dict, prompt: str, seconds: str, what: str
    ) -> VideoObject:
        """Queue ``sop`` on the form's source video (an upload, or a completed video's id), at that video's size. A
        source that is not finished is a :class:`~mora_agents.services.errors.VideoNotReady`."""
        video_id = new_video_id()
        model = form.text("model")
        with self.jobs.uploads_discarded_on_error(video_id):
            source = await self._source_video(form, video_id, what)
            size = await asyncio.to_thread(size_of_video, source)
            job = self._submit(video_id, sop, {"video": source, **inputs}, prompt=prompt, model=model,
                               seconds=seconds, size=size)  # fmt: skip
        return video_object(job)

    async def _source_video(self, form: VideoForm, video_id: str, what: str) -> str:
        upload = form.file("video")
        if upload is not None:
            return await self.jobs.upload_source_video(video_id, await upload.read())
        source = form.text("video.id") or form.text("video")
        if not source:
            raise MoraError("video is required: {'id': '<a completed video's id>'} or a video file")
        return str(self.completed_video(source, what))

    def _submit(self, video_id: str, sop: str, inputs: dict, *, prompt: str, model: str | None, seconds: str,
                size: str | tuple[int, int] | None = None, remixed_from: str | None = None) -> JobRecord:  # fmt: skip
        profile = self.profile_for(model)
        return self.jobs.submit_video(video_id, sop, inputs, profile=profile, model=model or "", prompt=prompt,
                                      seconds=seconds, size=frame_size(profile, size),
                                      remixed_from=remixed_from)  # fmt: skip


__all__ = ["DEFAULT_SECONDS", "MAX_SECONDS", "VideoServing", "decode_image_url", "frame_size", "video_object"]
