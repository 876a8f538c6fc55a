"""``/v1/videos``: the OpenAI Videos API, as the ``openai`` SDK's ``client.videos`` calls it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from mora_agents.serve.videos.protocol import MEDIA_TYPES, RemixBody, VideoDeleted, VideoForm, VideoList, VideoObject
from mora_agents.serve.videos.serving import Variant, VideoServing

router = APIRouter(prefix="/v1/videos", tags=["OpenAI Videos API"])


def _serving(request: Request) -> VideoServing:
    return request.app.state.video_serving


@router.post("", response_model=VideoObject, summary="Create a video (text_to_video, or image_to_video)")
async def create_video(request: Request) -> VideoObject:
    """``prompt`` (required), ``model``, ``seconds``, ``size``, and ``input_reference``: an image file, or
    ``input_reference[image_url]`` as a data URL; with a reference the image is animated (``image_to_video``)."""
    return await _serving(request).create(await VideoForm.read(request))


@router.post("/extensions", response_model=VideoObject, summary="Extend a completed video (extend_video)")
async def extend_video(request: Request) -> VideoObject:
    return await _serving(request).extend(await VideoForm.read(request))


@router.post("/edits", response_model=VideoObject, summary="Edit a completed video (edit_video)")
async def edit_video(request: Request) -> VideoObject:
    return await _serving(request).edit(await VideoForm.read(request))


@router.post("/{video_id}/remix", response_model=VideoObject, summary="Remix a completed video (edit_video)")
async def remix_video(video_id: str, body: RemixBody, request: Request) -> VideoObject:
    return await _serving(request).remix(video_id, body.prompt)


@router.get("", response_model=VideoList, summary="List videos")
async def list_videos(
    request: Request,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
) -> VideoList:
    return _serving(request).page(after, limit, order)


@router.get("/{video_id}", response_model=VideoObject, summary="Retrieve a video")
async def retrieve_video(video_id: str, request: Request) -> VideoObject:
    return _serving(request).retrieve(video_id)


@router.delete("/{video_id}", response_model=VideoDeleted, summary="Delete a video and its files")
async def delete_video(video_id: str, request: Request) -> VideoDeleted:
    return await _serving(request).delete(video_id)


@router.get("/{video_id}/content", summary="Download the video, a thumbnail or a spritesheet")
async def video_content(video_id: str, request: Request, variant: Variant = "video") -> Response:
    serving = _serving(request)
    path = serving.content_file(video_id)
    if variant == "video":
        return FileResponse(path, media_type=MEDIA_TYPES["video"], filename=f"{video_id}.mp4")
    return Response(await serving.preview(path, variant), media_type=MEDIA_TYPES[variant])
