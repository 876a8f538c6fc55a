"""The Videos API's wire format and preview variants: what ``mora serve`` sends is what the ``openai`` SDK reads.

The models are checked against the SDK's own types (``openai.types.Video``, ``VideoDeleteResponse``) and through a
real ``openai.OpenAI`` client whose transport answers in process with the models' JSON (retrieve, list across pages,
delete, download, errors). The variants are made from real MP4s written by mora's own writer: every frame a flat
grey of its own level, so each cell of a thumbnail or spritesheet says which frame it shows.
"""

from __future__ import annotations

import io
import subprocess
import typing
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import imageio_ffmpeg
import numpy as np
import openai
import pytest
from openai.types import Video, VideoDeleteResponse
from PIL import Image

from mora_agents.errors import MoraError
from mora_agents.media import VideoFileWriter
from mora_agents.media_guard import check_video
from mora_agents.serve.errors import ErrorResponse, error_body
from mora_agents.serve.videos.protocol import (
    MEDIA_TYPES,
    VIDEO_STATUS,
    VideoDeleted,
    VideoError,
    VideoList,
    VideoObject,
)
from mora_agents.serve.videos.variants import SPRITESHEET_MAX_WIDTH, spritesheet, thumbnail
from mora_agents.services.records import JobStatus

WIDTH, HEIGHT, FRAMES, FPS = 320, 64, 20, 10  # 2 s; 4 columns of 320 px are wider than a sheet may be


def level(index: int) -> int:
    """Frame ``index``'s grey level: 12 apart, so a frame is told from its neighbours through H.264 and JPEG."""
    return 10 + 12 * index


def write_video(path: Path, width: int = WIDTH, height: int = HEIGHT, frames: int = FRAMES) -> Path:
    with VideoFileWriter(path, fps=FPS) as writer:
        for index in range(frames):
            writer.append(np.full((height, width, 3), level(index), dtype=np.uint8))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("variants") / "clip.mp4")


def decode(data: bytes, fmt: str) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == fmt
    image.load()
    return image.convert("RGB")


def cell_levels(sheet: Image.Image, columns: int, rows: int) -> list[float]:
    """The mean grey of each cell, row by row (the middle of each cell, away from JPEG's ringing at the seams)."""
    pixels = np.asarray(sheet, dtype=np.float64)
    cell_h, cell_w = sheet.height // rows, sheet.width // columns
    levels = []
    for row in range(rows):
        for column in range(columns):
            top, left = row * cell_h, column * cell_w
            core = pixels[top + cell_h // 4 : top + 3 * cell_h // 4, left + cell_w // 4 : left + 3 * cell_w // 4]
            levels.append(float(core.mean()))
    return levels


# --- variants -----------------------------------------------------------------------------------------------------


def test_media_types_are_the_variants_formats() -> None:
    assert MEDIA_TYPES == {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
    # The same names as the SDK's `variant` parameter.
    from openai.types.video_download_content_params import VideoDownloadContentParams

    variant = typing.get_type_hints(VideoDownloadContentParams)["variant"]
    assert set(typing.get_args(variant)) == set(MEDIA_TYPES)


def test_thumbnail_is_a_webp_of_the_middle_frame_at_the_videos_size(clip: Path) -> None:
    image = decode(thumbnail(clip), "WEBP")
    assert image.size == (WIDTH, HEIGHT)
    assert np.asarray(image, dtype=np.float64).mean() == pytest.approx(level(FRAMES // 2), abs=5)


def test_thumbnail_of_a_video_whose_header_has_no_length(clip: Path, tmp_path: Path) -> None:
    # Matroska written to a pipe has no duration in its header: the frames are counted in the stream, then the
    # middle one taken.
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(clip), "-c", "copy", "-f", "matroska", "-"]
    piped = tmp_path / "piped.mkv"
    piped.write_bytes(subprocess.run(command, capture_output=True, check=True).stdout)
    facts = check_video(piped)
    assert facts.duration == 0.0 and facts.num_frames == FRAMES
    image = decode(thumbnail(piped), "WEBP")
    assert image.size == (WIDTH, HEIGHT)
    assert np.asarray(image, dtype=np.float64).mean() == pytest.approx(level(FRAMES // 2), abs=5)


def test_spritesheet_is_a_jpeg_grid_of_evenly_spaced_frames_at_most_1024_wide(clip: Path) -> None:
    sheet = decode(spritesheet(clip), "JPEG")
    # 4 x 320 px is 1280: every frame is scaled by 1024 / 1280 = 0.8, to 256 x 51.
    assert sheet.size == (4 * 256, 4 * 51)
    assert sheet.width <= SPRITESHEET_MAX_WIDTH
    # 16 of 20 frames, each the middle of one of 16 equal stretches: 0, 1, 3, 4, 5, 6, 8 ... 19.
    expected = [level(int((i + 0.5) * FRAMES / 16)) for i in range(16)]
    assert expected[0] == level(0) and expected[-1] == level(FRAMES - 1)
    assert cell_levels(sheet, 4, 4) == pytest.approx(expected, abs=5)


def test_spritesheet_of_fewer_frames_than_cells_has_fewer_rows(tmp_path: Path) -> None:
    short = write_video(tmp_path / "short.mp4", width=64, height=48, frames=6)
    sheet = decode(spritesheet(short, columns=4, rows=4), "JPEG")
    # 6 frames: 4 columns and 2 rows of 64 x 48 (small frames are never upscaled); the last 2 cells are black.
    assert sheet.size == (4 * 64, 2 * 48)
    assert cell_levels(sheet, 4, 2) == pytest.approx([level(i) for i in range(6)] + [0, 0], abs=5)


def test_spritesheet_columns_and_rows_are_checked(clip: Path) -> None:
    sheet = decode(spritesheet(clip, columns=2, rows=1), "JPEG")
    assert sheet.size == (2 * WIDTH, HEIGHT)
    assert cell_levels(sheet, 2, 1) == pytest.approx([level(5), level(15)], abs=5)
    for columns, rows in [(0, 4), (4, -1), (2.5, 2)]:
        with pytest.raises(MoraError, match="must be a whole number from 1 to 1024"):
            spritesheet(clip, columns=columns, rows=rows)


@pytest.mark.parametrize("variant", [thumbnail, spritesheet], ids=["thumbnail", "spritesheet"])
def test_a_damaged_video_is_one_sentence_naming_it(
    variant: Callable[[Path], bytes], clip: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    for path in (truncated, text, tmp_path / "missing.mp4"):
        with pytest.raises(MoraError) as caught:
            variant(path)
        message = str(caught.value)
        assert path.name in message and "\n" not in message and "Traceback" not in message


# --- the wire format, read by the SDK ------------------------------------------------------------------------------


def sora_shaped(**changes) -> VideoObject:
    fields = dict(id="video_" + "a" * 32, created_at=1_760_000_000, model="sora-2", seconds="4", size="1280x720",
                  status="queued")  # fmt: skip
    return VideoObject(**{**fields, **changes})


def test_video_object_validates_as_the_sdks_video() -> None:
    done = sora_shaped(status="completed", progress=100, completed_at=1_760_000_060, prompt="a red fox in snow")
    dumped = done.model_dump()
    video = Video.model_validate(dumped)
    assert video.model_dump(include=set(dumped)) == dumped
    assert set(dumped) == set(Video.model_fields), "the same fields as the SDK's Video, no more, no fewer"
    assert dumped["object"] == "video" and dumped["expires_at"] is None

    failed = sora_shaped(status="failed", error=VideoError(code="cancelled", message="the job was cancelled"))
    video = Video.model_validate(failed.model_dump(mode="json"))
    assert (video.status, video.error.code, video.error.message) == ("failed", "cancelled", "the job was cancelled")


def test_video_object_refuses_what_the_sdk_cannot_read() -> None:
    with pytest.raises(ValueError):
        sora_shaped(status="running")  # a mora status: VIDEO_STATUS turns it into the API's
    with pytest.raises(ValueError):
        sora_shaped(progress=101)


def test_every_mora_status_has_an_api_status() -> None:
    assert set(VIDEO_STATUS) == set(typing.get_args(JobStatus))
    api_statuses = set(typing.get_args(Video.model_fields["status"].annotation))
    assert set(VIDEO_STATUS.values()) == api_statuses
    assert (VIDEO_STATUS["awaiting_review"], VIDEO_STATUS["cancelled"]) == ("in_progress", "failed")


def test_an_empty_video_list_tells_the_sdk_to_stop() -> None:
    from openai.pagination import SyncConversationCursorPage

    dumped = VideoList(data=[]).model_dump()
    assert dumped == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    assert set(SyncConversationCursorPage.model_fields) <= set(dumped), "every field the SDK's page reads"


def test_video_deleted_validates_as_the_sdks_delete_response() -> None:
    dumped = VideoDeleted(id="video_1").model_dump()
    assert dumped == {"id": "video_1", "object": "video.deleted", "deleted": True}
    assert VideoDeleteResponse.model_validate(dumped).model_dump() == dumped


def test_error_body_is_openais_error_shape() -> None:
    body = error_body("no video video_1", code="not_found")
    assert body == {"error": {"message": "no video video_1", "type": "invalid_request_error", "param": None,
                              "code": "not_found"}}  # fmt: skip
    assert error_body("bad key", "authentication_error")["error"]["type"] == "authentication_error"
    assert error_body("too long", param="seconds")["error"]["param"] == "seconds"
    assert ErrorResponse.model_validate(body).error.code == "not_found"


class FakeMora:
    """A ``mora serve`` stand-in for the SDK: a store of VideoObjects answered with the protocol's models."""

    def __init__(self, videos: list[VideoObject], page: int) -> None:
        self.videos, self.page, self.requests = videos, page, []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/v1/videos").strip("/")
        by_id = {video.id: video for video in self.videos}
        if not path:
            after = request.url.params.get("after")
            start = [video.id for video in self.videos].index(after) + 1 if after else 0
            data = self.videos[start : start + self.page]
            listed = VideoList(data=data, first_id=data[0].id if data else None,
                               last_id=data[-1].id if data else None,
                               has_more=start + self.page < len(self.videos))  # fmt: skip
            return httpx2.Response(200, json=listed.model_dump(mode="json"))
        video_id, _, rest = path.partition("/")
        if video_id not in by_id:
            return httpx2.Response(404, json=error_body(f"no video {video_id}", code="not_found"))
        if rest == "content":
            variant = request.url.params.get("variant", "video")
            return httpx2.Response(200, content=variant.encode(), headers={"content-type": MEDIA_TYPES[variant]})
        if request.method == "DELETE":
            return httpx2.Response(200, json=VideoDeleted(id=video_id).model_dump(mode="json"))
        return httpx2.Response(200, json=by_id[video_id].model_dump(mode="json"))


@pytest.fixture
def sdk() -> Iterator[tuple[openai.OpenAI, FakeMora]]:
    videos = [sora_shaped(id=f"video_{i}", model="tiny", size="64x64", seconds="2") for i in range(5)]
    mora = FakeMora(videos, page=2)
    http = httpx2.Client(transport=httpx2.MockTransport(mora))
    with warnings.catch_warnings():
        # The SDK marks every videos method deprecated (the Sora API's announced shutdown); it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        yield openai.OpenAI(api_key="k", base_url="http://mora.test/v1", http_client=http, max_retries=0), mora
    http.close()


def test_the_sdk_reads_a_mora_video_with_a_profile_as_model_and_its_frame_size(sdk) -> None:
    client, _ = sdk
    video = client.videos.retrieve("video_3")
    assert isinstance(video, Video)
    assert (video.id, video.model, video.size, video.seconds, video.status) == ("video_3", "tiny", "64x64", "2",
                                                                                "queued")  # fmt: skip


def test_the_sdks_list_pages_through_every_video(sdk) -> None:
    client, mora = sdk
    assert [video.id for video in client.videos.list(limit=2)] == [f"video_{i}" for i in range(5)]
    # Three pages: the SDK asked for the next one with after=last_id and stopped at has_more false.
    assert [request.url.params.get("after") for request in mora.requests] == [None, "video_1", "video_3"]


def test_the_sdk_deletes_downloads_and_raises_openais_errors(sdk) -> None:
    client, _ = sdk
    deleted = client.videos.delete("video_0")
    assert isinstance(deleted, VideoDeleteResponse) and (deleted.id, deleted.deleted) == ("video_0", True)
    assert client.videos.download_content("video_0", variant="spritesheet").content == b"spritesheet"
    with pytest.raises(openai.NotFoundError) as caught:
        client.videos.retrieve("video_9")
    assert (caught.value.code, caught.value.type, caught.value.param) == ("not_found", "invalid_request_error", None)
    assert "no video video_9" in caught.value.message
