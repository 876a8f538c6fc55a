"""``/v1/videos``: the OpenAI Videos API, as the ``openai`` SDK's ``client.videos`` calls it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from mora_agents.containment import servable_file
from mora_agents.errors import MoraError, NotFoundError
from mora_agents.serve.protocol import Text, storable_text
from mora_agents.serve.queue import UPLOADS_DIR, JobQueue, save_upload
from mora_agents.serve.store import FINISHED
from mora_agents.serve.videos import serving
from mora_agents.serve.videos.protocol import MEDIA_TYPES, VideoDeleted, VideoList, VideoObject
from mora_agents.serve.videos.serving import ConflictError
from mora_agents.serve.videos.variants import spritesheet, thumbnail

router = APIRouter(prefix="/v1/videos", tags=["OpenAI Videos API"])


def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


async def _form(request: Request) -> dict:
    """The multipart (or urlencoded) form, with the SDK's nested fields flattened: ``video[id]`` -> ``video.id``."""
    form = await request.form()
    return {key.replace("[", ".").replace("]", ""): value for key, value in form.multi_items()}


MAX_TEXT_CHARS = 4000
"""The longest text field (a prompt) a request may send."""


def _text(form: dict, name: str, required: bool = False) -> str | None:
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise MoraError(f"{name} must be text, not a file")
    if required and not (value and str(value).strip()):
        raise MoraError(f"{name} is required")
    if value is None:
        return None
    if len(value) > MAX_TEXT_CHARS and name != "input_reference.image_url":
        raise MoraError(f"{name} is {len(value)} characters; the limit is {MAX_TEXT_CHARS}")
    return storable_text(str(value).strip(), name)


@contextmanager
def _no_uploads_left_on_error(queue: JobQueue, video_id: str) -> Iterator[None]:
    """A request refused after its files were saved leaves none of them behind."""
    try:
        yield
    except BaseException:
        shutil.rmtree(queue.workspace / UPLOADS_DIR / video_id, ignore_errors=True)
        raise


@router.post("", response_model=VideoObject, summary="Create a video (text_to_video, or image_to_video)")
async def create_video(request: Request) -> VideoObject:
    """``prompt`` (required), ``model``, ``seconds``, ``size``, and ``input_reference``: an image file, or
    ``input_reference[image_url]`` as a data URL; with a reference the image is animated (``image_to_video``)."""
    queue = _queue(request)
    form = await _form(request)
    prompt = _text(form, "prompt", required=True)
    seconds = _text(form, "seconds") or serving.DEFAULT_SECONDS
    inputs: dict = {"prompt": prompt, "duration": serving.seconds_of(seconds)}
    video_id = serving.new_video_id()
    model, size = _text(form, "model"), _text(form, "size")
    serving.frame_size(serving.profile_for(queue, model), size)  # a bad size is named before any file is saved
    reference = form.get("input_reference")
    with _no_uploads_left_on_error(queue, video_id):
        if isinstance(reference, UploadFile):
            data = await reference.read()
            inputs["image"] = await asyncio.to_thread(
                serving.save_reference, queue, video_id, reference.filename or "", data
            )
        elif form.get("input_reference.image_url"):
            data = serving.decode_image_url(_text(form, "input_reference.image_url") or "")
            inputs["image"] = await asyncio.to_thread(serving.save_reference, queue, video_id, "reference.png", data)
        sop = "image_to_video" if "image" in inputs else "text_to_video"
        job = serving.queue_video(queue, video_id, sop, inputs, prompt=prompt, model=model, seconds=seconds, size=size)
    return serving.video_object(job)


async def _source_video(queue: JobQueue, form: dict, video_id: str, what: str) -> str:
    upload = form.get("video")
    if isinstance(upload, UploadFile):
        path = queue.workspace / UPLOADS_DIR / video_id / "video.mp4"
        # Off the event loop: reading a long video's header and counting its frames takes seconds.
        return str(await asyncio.to_thread(save_upload, path, await upload.read(), "video", "video"))
    source = _text(form, "video.id") or _text(form, "video")
    if not source:
        raise MoraError("video is required: {'id': '<a completed video's id>'} or a video file")
    return str(serving.completed_video(queue, source, what))


@router.post("/extensions", response_model=VideoObject, summary="Extend a completed video (extend_video)")
async def extend_video(request: Request) -> VideoObject:
    form = await _form(request)
    seconds = _text(form, "seconds") or serving.DEFAULT_SECONDS
    inputs = {"duration": serving.seconds_of(seconds)}
    return await _from_source(request, form, "extend_video", inputs, _text(form, "prompt") or "", seconds, "extended")


@router.post("/edits", response_model=VideoObject, summary="Edit a completed video (edit_video)")
async def edit_video(request: Request) -> VideoObject:
    form = await _form(request)
    prompt = _text(form, "prompt", required=True)
    return await _from_source(
        request, form, "edit_video", {"prompt": prompt}, prompt, serving.DEFAULT_SECONDS, "edited"
    )


async def _from_source(
    request: Request, form: dict, sop: str, inputs: dict, prompt: str, seconds: str, what: str
) -> VideoObject:
    """Queue ``sop`` on the form's source video (an upload, or a completed video's id), at that video's size. A
    source that is not finished is a 409 (:class:`~mora_agents.serve.videos.serving.ConflictError`)."""
    queue = _queue(request)
    video_id = serving.new_video_id()
    model = _text(form, "model")
    with _no_uploads_left_on_error(queue, video_id):
        source = await _source_video(queue, form, video_id, what)
        size = await asyncio.to_thread(serving.size_of_video, source)
        job = serving.queue_video(queue, video_id, sop, {"video": source, **inputs}, prompt=prompt, model=model,
                                  seconds=seconds, size=size)  # fmt: skip
    return serving.video_object(job)


class RemixBody(BaseModel):
    prompt: Text = Field(min_length=1, max_length=4000, description="The new prompt: what to change in the video.")


@router.post("/{video_id}/remix", response_model=VideoObject, summary="Remix a completed video (edit_video)")
async def remix_video(video_id: str, body: RemixBody, request: Request) -> VideoObject:
    queue = _queue(request)
    source = serving.completed_video(queue, video_id, "remixed")
    original = queue.store.get(video_id)
    size = await asyncio.to_thread(serving.size_of_video, source)
    job = serving.queue_video(
        queue, serving.new_video_id(), "edit_video", {"video": str(source), "prompt": body.prompt},
        prompt=body.prompt, model=original.profile, seconds=original.seconds, size=size, remixed_from=video_id,
    )  # fmt: skip
    return serving.video_object(job)


@router.get("", response_model=VideoList, summary="List videos")
async def list_videos(
    request: Request,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
) -> VideoList:
    jobs, has_more = _queue(request).store.list(kind="video", after=after, limit=limit, order=order)
    data = [serving.video_object(job) for job in jobs]
    return VideoList(
        data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None, has_more=has_more
    )


@router.get("/{video_id}", response_model=VideoObject, summary="Retrieve a video")
async def retrieve_video(video_id: str, request: Request) -> VideoObject:
    job = _queue(request).store.get(video_id)
    if job is None or job.kind != "video":
        raise NotFoundError(f"no video {video_id}")
    return serving.video_object(job)


@router.delete("/{video_id}", response_model=VideoDeleted, summary="Delete a video and its files")
async def delete_video(video_id: str, request: Request) -> VideoDeleted:
    queue = _queue(request)
    job = queue.store.get(video_id)
    if job is None or job.kind != "video":
        raise NotFoundError(f"no video {video_id}")
    await queue.delete(video_id)
    return VideoDeleted(id=video_id)


@router.get("/{video_id}/content", summary="Download the video, a thumbnail or a spritesheet")
async def video_content(
    video_id: str, request: Request, variant: Literal["video", "thumbnail", "spritesheet"] = "video"
) -> Response:
    queue = _queue(request)
    job = queue.store.get(video_id)
    if job is None or job.kind != "video":
        raise NotFoundError(f"no video {video_id}")
    if job.status != "completed" or not job.run_dir:
        state = "finished without a video" if job.status in FINISHED else "not finished yet"
        raise ConflictError(f"video {video_id} is {state} ({job.status}): it has no content")
    path = servable_file(queue.workspace / job.run_dir, "video.mp4", what=f"video {video_id}", folder="its run folder")
    if variant == "video":
        return FileResponse(path, media_type=MEDIA_TYPES["video"], filename=f"{video_id}.mp4")
    make = thumbnail if variant == "thumbnail" else spritesheet
    return Response(await asyncio.to_thread(make, path), media_type=MEDIA_TYPES[variant])
