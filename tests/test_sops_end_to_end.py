"""Every built-in task end to end on the tiny profile, with real input media made here: a photo that
scikit-image ships, and short MP4s written by the test."""

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import skimage.data
from PIL import Image

from mora_agents.media import VideoFileWriter, video_info
from mora_agents.messages import VideoRequest
from mora_agents.sop import SopSpec, find_sop
from mora_agents.studio import StudioConfig, run_task
from mora_tools.loading.profiles import PROFILE_DIR

FPS = 8  # the tiny profile's frame rate: input clips made at it keep their frame counts


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    photo = folder / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    cat = skimage.data.chelsea()
    clips = {}
    for name, offset in (("clip1", 0), ("clip2", 120)):
        path = folder / f"{name}.mp4"
        with VideoFileWriter(path, fps=FPS) as writer:
            for i in range(FPS):  # one second: a slow pan across the cat photo, 96x64 (not the profile's 64x64)
                crop = cat[40 : 40 + 192, offset + 8 * i : offset + 8 * i + 288]
                writer.append(np.asarray(Image.fromarray(crop).resize((96, 64))))
        clips[name] = path
    return {"photo": photo, **clips}


def run(task: str | SopSpec, tmp_path: Path, profile: str = "tiny", **inputs):
    spec = task if isinstance(task, SopSpec) else find_sop(task)
    request = VideoRequest(task=spec.name, inputs={k: str(v) if isinstance(v, Path) else v for k, v in inputs.items()})
    workspace, manifest = run_task(spec, request, tmp_path, StudioConfig(profile=profile, review="auto"))
    assert manifest.status == "completed"
    video = workspace.path("video.mp4")
    info = video_info(video)  # decodes every frame: the file is playable
    assert info["num_frames"] == manifest.output.num_frames
    assert info["size"] == (64, 64) and info["fps"] == FPS
    return workspace, manifest, info["num_frames"]


def stage(manifest, name):
    return next(s for s in manifest.stages if s.id == name)


@pytest.mark.slow
def test_text_to_video(tmp_path):
    _, manifest, frames = run("text_to_video", tmp_path, prompt="a red kite over a green hill", duration=1)
    assert frames == 8


@pytest.mark.slow
def test_image_to_video_keeps_the_photo_as_first_frame(tmp_path, media):
    workspace, manifest, frames = run("image_to_video", tmp_path, prompt="she waves", image=media["photo"], duration=1)
    assert frames == 8
    assert stage(manifest, "fitted").status == "skipped"
    photo = manifest.inputs["image"]
    assert (photo.width, photo.height) == (64, 64) and photo.parameters["source_size"] == [512, 512]
    assert stage(manifest, "animate").iterations[0].output.parameters["first_frame"] == photo.path


@pytest.mark.slow
def test_image_to_video_can_edit_the_photo_first(tmp_path, media):
    _, manifest, frames = run(
        "image_to_video", tmp_path, prompt="make it winter", image=media["photo"], fit="edit", duration=1
    )
    fitted = stage(manifest, "fitted").iterations[0].output
    assert fitted.parameters["instruction"] == "make it winter"
    assert stage(manifest, "animate").iterations[0].output.parameters["first_frame"] == fitted.path
    assert frames == 8


@pytest.mark.slow
def test_extend_video_appends_new_frames_to_the_input(tmp_path, media):
    workspace, manifest, frames = run("extend_video", tmp_path, video=media["clip1"], duration=1)
    assert frames == 8 + 8
    continuation = stage(manifest, "continuation").iterations[0].output
    assert continuation.parameters["first_frame"].endswith("last_frame.png")
    assert continuation.parameters["skip_first_frame"] is True
    # The result starts with the input itself (re-encoded at the run's size: close, not bit-equal).
    reader = imageio.get_reader(workspace.path("video.mp4"), format="FFMPEG")
    first_out = np.asarray(reader.get_data(0), dtype=float)
    reader.close()
    reader = imageio.get_reader(workspace.path(manifest.inputs["video"].path), format="FFMPEG")
    first_in = np.asarray(reader.get_data(0), dtype=float)
    reader.close()
    assert np.abs(first_out - first_in).mean() < 8


@pytest.mark.slow
def test_edit_video_reanimates_the_edited_first_frame_for_the_input_length(tmp_path, media):
    _, manifest, frames = run("edit_video", tmp_path, video=media["clip1"], prompt="make it snowy")
    edited = stage(manifest, "edited_frame").iterations[0].output
    assert edited.parameters["source"].endswith("first_frame.png")
    assert stage(manifest, "animate").iterations[0].output.parameters["first_frame"] == edited.path
    assert frames == 8  # the input's length


@pytest.mark.slow
def test_connect_videos_with_a_first_last_frame_model(tmp_path, media):
    _, manifest, frames = run("connect_videos", tmp_path, video=media["clip1"], video2=media["clip2"])
    transition = stage(manifest, "transition").iterations[0].output
    assert transition.parameters["method"] == "first_last_frame"
    assert transition.num_frames == 8
    assert frames == 8 + 8 + 8
    assert manifest.output.parameters["frames_per_part"] == [8, 8, 8]


@pytest.mark.slow
def test_connect_videos_falls_back_to_a4_blend_and_says_so(tmp_path, media):
    text = (
        (PROFILE_DIR / "tiny.yaml")
        .read_text()
        .replace("method: first_last_frame\n  model: tiny/wan-flf2v", "method: a4_blend")
    )
    assert "a4_blend" in text
    blend_profile = tmp_path / "tiny_blend.yaml"
    blend_profile.write_text(text.replace("name: tiny", "name: tiny_blend"))
    _, manifest, frames = run(
        "connect_videos", tmp_path / "runs", profile=str(blend_profile), video=media["clip1"], video2=media["clip2"]
    )
    assert stage(manifest, "transition").iterations[0].output.parameters["method"] == "a4_blend"
    assert frames == 24


@pytest.mark.slow
def test_digital_world_by_prompt_suffix(tmp_path):
    _, manifest, frames = run("digital_world", tmp_path, prompt="a village at sunrise", duration=1)
    # Code adds the style words unless the LLM's answer has them already (then they may sit anywhere in it).
    assert "in digital world style" in manifest.enhanced_prompt.prompt.lower()
    assert stage(manifest, "first_frame").status == "completed"
    assert stage(manifest, "stylized").status == "skipped"
    assert frames == 8


@pytest.mark.slow
def test_digital_world_by_style_transfer_of_a_photo(tmp_path, media):
    _, manifest, frames = run("digital_world", tmp_path, prompt="an astronaut", image=media["photo"], duration=1)
    assert stage(manifest, "first_frame").status == "skipped"
    stylized = stage(manifest, "stylized").iterations[0].output
    assert stylized.parameters["source"] == manifest.inputs["image"].path
    assert stage(manifest, "animate").iterations[0].output.parameters["first_frame"] == stylized.path
    assert frames == 8
