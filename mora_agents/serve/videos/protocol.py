"""The OpenAI Videos API's wire format, as the ``openai`` SDK (3.x) parses it: ``client.videos.create / retrieve``
read a :class:`VideoObject` (``openai.types.Video``), ``list`` a :class:`VideoList` (``SyncConversationCursorPage``),
``delete`` a :class:`VideoDeleted` (``openai.types.VideoDeleteResponse``); every error is an
:class:`~mora_agents.serve.errors.ErrorResponse`. Requests are multipart forms (:class:`VideoForm`), but a remix's
JSON body (:class:`RemixBody`).

Where mora differs from Sora, the types are wider than the SDK's own, never narrower:

- ``model`` is a mora profile name (``tiny``, ``paper`` ...); the SDK types it ``str`` (the Sora names are examples).
- ``size`` is the size made: the request's, fitted to the profile (``1280x720`` on ``tiny`` is ``"80x48"``).
  The SDK types it as a Literal of the four Sora sizes; its response parser is lenient (``construct``, unless a
  client opts into ``_strict_response_validation``), so
  ``client.videos.retrieve`` returns such a size as it is, while ``openai.types.Video.model_validate`` refuses it.
- ``seconds`` is any whole or decimal number of seconds as text (the SDK: ``str``, with ``"4" | "8" | "12"`` named).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.requests import Request

from mora_agents.errors import MoraError
from mora_agents.serve.protocol import Text
from mora_agents.services.records import storable_text

ApiStatus = Literal["queued", "in_progress", "completed", "failed"]
"""A video's status as the API says it."""

VIDEO_STATUS: dict[str, ApiStatus] = {
    "queued": "queued",
    "running": "in_progress",
    "awaiting_review": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
}
"""A mora job's status -> the API's: a job waiting for a human or judge review is still ``in_progress`` (it goes
on once reviewed); a cancelled job is ``failed``, with ``error.code`` ``"cancelled"``."""

MEDIA_TYPES: dict[str, str] = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
"""The ``Content-Type`` of each ``GET /v1/videos/{id}/content?variant=...`` download (the SDK's ``variant``)."""


class VideoError(BaseModel):
    """Why a video failed (``openai.types.VideoCreateError``; its optional fields are left out)."""

    code: str
    """Machine-readable: mora sends the job's final status, ``"failed"`` or ``"cancelled"``."""
    message: str
    """The :class:`~mora_agents.errors.MoraError` sentence that stopped the job (what, where, what to do)."""


class VideoObject(BaseModel):
    """One video job (``openai.types.Video``): a mora job of kind ``video``, made through this API."""

    id: str
    """The job's id, ``"video_" + 32 hex chars``; the same id names it in mora's own job API."""
    object: Literal["video"] = "video"
    """Always ``"video"``."""
    created_at: int
    """Unix seconds when the job was queued."""
    completed_at: int | None = None
    """Unix seconds when the job finished (completed, failed or cancelled); ``None`` while it runs."""
    expires_at: int | None = None
    """Unix seconds when the files go; mora keeps them until the video is deleted, so always ``None``."""
    error: VideoError | None = None
    """Why the job failed or was cancelled; ``None`` otherwise."""
    model: str
    """The mora profile that makes the video (``tiny``, ``paper`` ...): the one asked for when ``model`` names a
    profile, else the server's (a Sora name such as ``sora-2`` gets the server's profile)."""
    progress: int = Field(default=0, ge=0, le=100)
    """Percent done, 0-100 (100 once completed)."""
    prompt: str | None = None
    """The prompt the video was made from (for an edit or a remix: the new prompt)."""
    remixed_from_video_id: str | None = None
    """For a remix: the id of the completed video it edits."""
    seconds: str
    """The duration asked for, in seconds, as text (``"4"``); for an extension, the seconds asked to add (Sora
    reports the stitched total there)."""
    size: str
    """The frame size made, ``"WIDTHxHEIGHT"``: the request's, fitted to what the profile makes."""
    status: ApiStatus
    """``queued`` | ``in_progress`` | ``completed`` | ``failed``, from the job's status by :data:`VIDEO_STATUS`."""


class VideoList(BaseModel):
    """One page of videos (the SDK's ``SyncConversationCursorPage[Video]``).

    The SDK pages on ``last_id``: it asks for the next page with ``after=last_id`` until ``has_more`` is false
    (or a page comes back empty), so the last page must say ``has_more: false``.
    """

    object: Literal["list"] = "list"
    """Always ``"list"`` (the SDK ignores it)."""
    data: list[VideoObject]
    """The videos, newest first unless ``order=asc`` was asked for."""
    first_id: str | None = None
    """The first video's id on this page; ``None`` when the page is empty (the SDK ignores it)."""
    last_id: str | None = None
    """The last video's id on this page: the ``after`` for the next one; ``None`` when the page is empty."""
    has_more: bool = False
    """Whether videos follow this page."""


class VideoDeleted(BaseModel):
    """The answer to ``DELETE /v1/videos/{id}`` (``openai.types.VideoDeleteResponse``)."""

    id: str
    """The deleted video's id; its job record and its run's files are gone."""
    object: Literal["video.deleted"] = "video.deleted"
    """Always ``"video.deleted"``."""
    deleted: bool = True
    """Always ``True``: a video that cannot be deleted gets an error response instead."""


MAX_TEXT_CHARS = 4000
"""The longest text field (a prompt) a request may send."""


class VideoForm:
    """A Videos API request's multipart (or urlencoded) form, with the SDK's nested fields flattened:
    ``video[id]`` -> ``video.id``, ``input_reference[image_url]`` -> ``input_reference.image_url``."""

    def __init__(self, fields: dict) -> None:
        self.fields = fields

    @classmethod
    async def read(cls, request: Request) -> VideoForm:
        """The request's form."""
        form = await request.form()
        return cls({key.replace("[", ".").replace("]", ""): value for key, value in form.multi_items()})

    def text(self, name: str, required: bool = False) -> str | None:
        """The text field ``name``, stripped; ``None`` when absent.

        Raises:
            MoraError: a file where text belongs, a required field missing or blank, text past
                :data:`MAX_TEXT_CHARS` (a data URL excepted), or text that cannot be stored.
        """
        value = self.fields.get(name)
        if isinstance(value, UploadFile):
            raise MoraError(f"{name} must be text, not a file")
        if required and not (value and str(value).strip()):
            raise MoraError(f"{name} is required")
        if value is None:
            return None
        if len(value) > MAX_TEXT_CHARS and name != "input_reference.image_url":
            raise MoraError(f"{name} is {len(value)} characters; the limit is {MAX_TEXT_CHARS}")
        return storable_text(str(value).strip(), name)

    def file(self, name: str) -> UploadFile | None:
        """The file field ``name``, or ``None`` when it is absent or text."""
        value = self.fields.get(name)
        return value if isinstance(value, UploadFile) else None

    def has(self, name: str) -> bool:
        """Whether the field ``name`` was sent with a value."""
        return bool(self.fields.get(name))


class RemixBody(BaseModel):
    """``POST /v1/videos/{id}/remix``: the new prompt."""

    prompt: Text = Field(min_length=1, max_length=4000, description="The new prompt: what to change in the video.")


__all__ = [
    "MAX_TEXT_CHARS",
    "MEDIA_TYPES",
    "VIDEO_STATUS",
    "ApiStatus",
    "RemixBody",
    "VideoDeleted",
    "VideoError",
    "VideoForm",
    "VideoList",
    "VideoObject",
]
