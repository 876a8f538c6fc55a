"""The tools on the tiny profile: real diffusers pipelines loaded with from_pretrained, random weights."""

import numpy as np
import pytest

from mora_tools.builders.tiny import TINY_VERSION
from mora_tools.pipelines.image_to_video import segments_needed
from mora_tools.pipelines.progress import CancelToken, StageCancelled


def test_tiny_models_are_saved_and_loaded_from_the_cache(mora_cache, text_to_image_tool, image_to_video_tool):
    for name in ("sdxl-base", "sdxl-refiner", "svd"):
        assert (mora_cache / "tiny" / TINY_VERSION / name / "model_index.json").is_file()
    assert type(text_to_image_tool.base).__name__ == "StableDiffusionXLPipeline"
    assert type(text_to_image_tool.refiner).__name__ == "StableDiffusionXLImg2ImgPipeline"
    # The refiner shares the base's second text encoder and VAE, as SDXL's own docs load them.
    assert text_to_image_tool.refiner.text_encoder_2 is text_to_image_tool.base.text_encoder_2
    assert text_to_image_tool.refiner.vae is text_to_image_tool.base.vae
    assert type(image_to_video_tool.pipe).__name__ == "StableVideoDiffusionPipeline"


def test_text_to_image_is_seeded(text_to_image_tool):
    first = np.asarray(text_to_image_tool("a red car", seed=7).image)
    again = np.asarray(text_to_image_tool("a red car", seed=7).image)
    other = np.asarray(text_to_image_tool("a red car", seed=8).image)
    assert first.shape == (64, 64, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_text_to_image_reports_every_step(text_to_image_tool, sink):
    output = text_to_image_tool("a red car", seed=0, progress=sink, stage="ff")
    steps = [e for e in sink.events if e[0] == "advance"]
    # Base and refiner split one schedule: together they run the profile's step count.
    assert len(steps) == output.parameters["denoising_steps_run"] == text_to_image_tool.settings.steps
    assert sink.events[0] == ("start", "ff", 4) and sink.events[-1] == ("finish", "ff")


@pytest.mark.parametrize(
    ("frames", "per_segment", "expected"), [(1, 8, 1), (8, 8, 1), (9, 8, 2), (15, 8, 2), (16, 8, 3), (32, 8, 5)]
)
def test_segments_needed(frames, per_segment, expected):
    assert segments_needed(frames, per_segment) == expected
    # The segments really hold enough frames: the first gives all, every later one all but the seam.
    assert per_segment + (expected - 1) * (per_segment - 1) >= frames


def test_video_streams_frames_segment_by_segment(image_to_video_tool, text_to_image_tool, sink):
    image = text_to_image_tool("a red car", seed=0).image
    frames_seen_at_step = []
    delivered = []
    original_advance = sink.advance

    def advance(stage, steps=1):
        frames_seen_at_step.append(len(delivered))
        original_advance(stage, steps)

    sink.advance = advance
    output = image_to_video_tool(image, num_frames=20, seed=0, on_frame=delivered.append, progress=sink)
    assert output.num_frames == len(delivered) == 20
    assert output.segments == 3
    assert all(frame.size == (64, 64) for frame in delivered)
    # Frames reach the writer while later segments are still denoising: never all held at once.
    steps_per_segment = image_to_video_tool.settings.steps
    assert frames_seen_at_step[steps_per_segment] == 8
    assert frames_seen_at_step[2 * steps_per_segment] == 15


def test_video_is_seeded(image_to_video_tool, text_to_image_tool):
    image = text_to_image_tool("a red car", seed=0).image
    runs = []
    for seed in (3, 3, 4):
        frames = []
        image_to_video_tool(image, num_frames=4, seed=seed, on_frame=frames.append)
        runs.append(np.stack([np.asarray(f) for f in frames]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_cancel_stops_at_the_next_step(image_to_video_tool, text_to_image_tool):
    image = text_to_image_tool("a red car", seed=0).image
    cancel = CancelToken()
    cancel.cancel()
    delivered = []
    with pytest.raises(StageCancelled):
        image_to_video_tool(image, num_frames=16, seed=0, on_frame=delivered.append, cancel=cancel)
    assert delivered == []
