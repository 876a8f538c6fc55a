"""The `modern` profile's families (FLUX.1, FLUX.1 Kontext, Wan2.2 I2V, Wan2.1 FLF2V) on `tiny-modern`: real
diffusers pipelines loaded with from_pretrained, random weights, the same tools and agents as every profile."""

import json

import numpy as np
import pytest
from PIL import Image

from mora_agents.errors import MoraError
from mora_tools.builders.tiny import TINY_VERSION
from mora_tools.pipelines.progress import CancelToken, StageCancelled

WIDTH, HEIGHT = 96, 64  # tiny-modern's frame: not square, so a swapped width and height shows


def _pixels(image):
    return np.asarray(image, dtype=np.float64)


@pytest.fixture(scope="module")
def profile():
    from mora_tools.loading.profiles import load_profile

    return load_profile("tiny-modern")


@pytest.fixture(scope="module")
def flux_tool(profile):
    from mora_tools.pipelines.text_to_image import TextToImageTool

    return TextToImageTool.from_profile(profile, device="cpu")


@pytest.fixture(scope="module")
def kontext_tool(profile):
    from mora_tools.pipelines.image_to_image import ImageToImageTool

    return ImageToImageTool.from_profile(profile, device="cpu")


@pytest.fixture(scope="module")
def wan_tool(profile):
    from mora_tools.pipelines.image_to_video import ImageToVideoTool

    return ImageToVideoTool.from_profile(profile, device="cpu")


@pytest.fixture(scope="module")
def flf2v_tool(profile):
    from mora_tools.pipelines.video_connection import VideoConnectionTool

    return VideoConnectionTool.from_profile(profile, device="cpu")


@pytest.fixture(scope="module")
def frame():
    # A frame with structure (a red square on noise), so edits and videos start from something.
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(120, 40, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
    pixels[16:48, 24:56] = (220, 30, 30)
    return Image.fromarray(pixels)


class CancellingSink:
    """Records steps and sets ``cancel`` at the first one: the pipeline must stop right there."""

    def __init__(self):
        self.cancel = CancelToken()
        self.events = []

    def start(self, stage, total, description=""):
        self.events.append(("start", stage, total))

    def advance(self, stage, steps=1):
        self.events.append(("advance", stage, steps))
        self.cancel.cancel()

    def finish(self, stage):
        self.events.append(("finish", stage))


def _advances(sink):
    return len([event for event in sink.events if event[0] == "advance"])


# -- profiles ---------------------------------------------------------------------------------------------


def test_modern_profiles_validate_and_tiny_modern_mirrors_modern(mora_cache):
    from mora_tools.builders.tiny import tiny_model_path
    from mora_tools.loading.profiles import available_profiles, load_profile

    assert {"modern", "tiny-modern"} <= set(available_profiles())
    modern, tiny = load_profile("modern"), load_profile("tiny-modern")
    assert modern.source == "hub" and tiny.source == "tiny"
    assert modern.text_to_image.base == "black-forest-labs/FLUX.1-dev" and modern.text_to_image.refiner is None
    assert modern.image_to_image.model == "black-forest-labs/FLUX.1-Kontext-dev"
    assert modern.image_to_video.model == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    assert modern.video_connection.model == "Wan-AI/Wan2.1-FLF2V-14B-720P-Diffusers"
    # Wan's 720p at 16 fps from the first frame on; segments of 4k + 1 frames, as Wan's VAE needs.
    assert (modern.text_to_image.width, modern.text_to_image.height, modern.image_to_video.fps) == (1280, 720, 16)
    for settings in (modern.image_to_video, tiny.image_to_video):
        assert settings.frames_per_segment % 4 == 1
    # Each tiny model is saved as the pipeline class of the real model it stands for.
    expected = {"flux": "FluxPipeline", "flux-kontext": "FluxKontextPipeline", "wan-i2v": "WanImageToVideoPipeline"}
    for name, class_name in expected.items():
        index = json.loads((tiny_model_path(name) / "model_index.json").read_text())
        assert index["_class_name"] == class_name
        assert (mora_cache / "tiny" / TINY_VERSION / name / "model_index.json").is_file()
    references = (tiny.text_to_image.base, tiny.image_to_image.model, tiny.image_to_video.model)
    assert references == ("tiny/flux", "tiny/flux-kontext", "tiny/wan-i2v")
    assert tiny.video_connection.model == "tiny/wan-flf2v"


def test_call_args_cannot_set_what_the_tool_sets(tmp_path):
    from mora_tools.loading.profiles import load_profile

    data = load_profile("tiny-modern").model_dump(mode="json")
    data["image_to_video"]["call_args"] = {"num_frames": 17}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    with pytest.raises(MoraError, match=r"image_to_video\.call_args: .*'num_frames' is set by the tool"):
        load_profile(str(path))


# -- A2: FLUX.1 ---------------------------------------------------------------------------------------------


def test_flux_is_loaded_from_model_index_without_a_refiner(flux_tool):
    assert type(flux_tool.base).__name__ == "FluxPipeline" and flux_tool.refiner is None
    # FLUX.1-dev is guidance-distilled: the guidance scale is an input of the transformer.
    assert flux_tool.base.transformer.config.guidance_embeds is True


def test_flux_makes_the_profile_size_seeded_and_reports_every_step(flux_tool, sink):
    output = flux_tool("a red kite over a green hill", seed=3, progress=sink, stage="ff")
    again = flux_tool("a red kite over a green hill", seed=3).image
    other = flux_tool("a red kite over a green hill", seed=4).image
    assert output.image.size == (WIDTH, HEIGHT)
    assert np.array_equal(_pixels(output.image), _pixels(again))
    assert not np.array_equal(_pixels(output.image), _pixels(other))
    steps = flux_tool.settings.steps
    assert sink.events[0] == ("start", "ff", steps) and sink.events[-1] == ("finish", "ff")
    assert _advances(sink) == output.parameters["denoising_steps_run"] == steps
    assert output.parameters["max_sequence_length"] == 512  # the profile's call_args reached the record
    assert output.parameters["refiner_start"] is None


def test_flux_stops_at_the_next_step_when_cancelled(flux_tool):
    sink = CancellingSink()
    with pytest.raises(StageCancelled):
        flux_tool("a red kite", seed=0, progress=sink, cancel=sink.cancel)
    assert _advances(sink) == 1 < flux_tool.settings.steps
    assert sink.events[-1][0] == "finish"


def test_unknown_call_args_fail_with_one_sentence(flux_tool):
    from mora_tools.pipelines.text_to_image import TextToImageTool

    settings = flux_tool.settings.model_copy(update={"call_args": {"max_sequnce_length": 77}})
    with pytest.raises(MoraError, match="names `max_sequnce_length`, which FluxPipeline .* does not take"):
        TextToImageTool(flux_tool.base, None, settings, "tiny/flux")


# -- A3: FLUX.1 Kontext --------------------------------------------------------------------------------------


def test_kontext_edit_keeps_the_size_and_reports_every_step(kontext_tool, frame, sink):
    assert type(kontext_tool.pipe).__name__ == "FluxKontextPipeline"
    output = kontext_tool(frame, "make it snow", seed=7, progress=sink, stage="edit")
    again = kontext_tool(frame, "make it snow", seed=7).image
    assert output.image.size == frame.size
    assert np.array_equal(_pixels(output.image), _pixels(again))
    steps = kontext_tool.settings.steps
    assert sink.events[0] == ("start", "edit", steps) and sink.events[-1] == ("finish", "edit")
    assert _advances(sink) == output.parameters["denoising_steps_run"] == steps
    # Kontext has no image guidance: the record shows what the pipeline really got.
    assert "image_guidance_scale" not in output.parameters
    assert output.parameters["guidance_scale"] == 2.5 and output.parameters["max_area"] == WIDTH * HEIGHT


def test_kontext_returns_other_sizes_unchanged(kontext_tool):
    # Kontext scales 80x48 to its working area (96x56 here); the tool brings the edit back to the input's size.
    image = Image.new("RGB", (80, 48), (90, 160, 30))
    assert kontext_tool(image, "make it red", seed=0).image.size == (80, 48)


def test_kontext_stops_at_the_next_step_when_cancelled(kontext_tool, frame):
    sink = CancellingSink()
    with pytest.raises(StageCancelled):
        kontext_tool(frame, "make it snow", seed=0, progress=sink, cancel=sink.cancel)
    assert _advances(sink) == 1


# -- A4: Wan2.2 I2V ----------------------------------------------------------------------------------------


def test_wan_i2v_is_wan22_with_two_experts(wan_tool):
    pipe = wan_tool.pipe
    assert type(pipe).__name__ == "WanImageToVideoPipeline"
    assert pipe.transformer_2 is not None and pipe.config.boundary_ratio == 0.9
    assert pipe.image_encoder is None  # Wan2.2-A14B conditions on the first frame's latents only
    assert wan_tool.temporal_factor == 4 and wan_tool.takes_prompt


# 1 frame: one short call; 18: a full first segment, a full continuation (8 new frames after the seam) and a
# short last one for the 2 frames left (+ seam, rounded up to 5).
@pytest.mark.parametrize(("num_frames", "lengths"), [(1, [5]), (18, [9, 9, 5])])
def test_wan_i2v_delivers_exact_frame_counts_in_4k_plus_1_segments(wan_tool, frame, num_frames, lengths, sink):
    delivered = []
    output = wan_tool(frame, num_frames=num_frames, seed=0, on_frame=delivered.append, prompt="a car", progress=sink)
    assert len(delivered) == output.num_frames == num_frames
    assert all(f.size == (WIDTH, HEIGHT) for f in delivered)
    # Every call asks for 4k + 1 frames; the last one only for what is still missing (seam frame included).
    assert output.parameters["frames_generated"] == lengths and output.segments == len(lengths)
    assert _advances(sink) == len(lengths) * wan_tool.settings.steps
    assert sink.events[0] == ("start", "image_to_video", len(lengths) * wan_tool.settings.steps)
    assert output.parameters["prompt_used"] is True and output.parameters["prompt"] == "a car"


def test_wan_i2v_is_seeded_and_conditioned_on_the_prompt(wan_tool, frame):
    def video(seed, prompt):
        frames = []
        wan_tool(frame, num_frames=5, seed=seed, on_frame=frames.append, prompt=prompt)
        return np.stack([_pixels(f) for f in frames])

    first = video(1, "a red car drives away")
    assert np.array_equal(first, video(1, "a red car drives away"))
    assert not np.array_equal(first, video(2, "a red car drives away"))
    assert not np.array_equal(first, video(1, "snow falls on a quiet street"))


def test_wan_i2v_stops_at_the_next_step_when_cancelled(wan_tool, frame):
    sink = CancellingSink()
    delivered = []
    with pytest.raises(StageCancelled):
        wan_tool(frame, num_frames=12, seed=0, on_frame=delivered.append, progress=sink, cancel=sink.cancel)
    assert _advances(sink) == 1 and delivered == []


def test_wan_segment_length_must_be_4k_plus_1(wan_tool):
    from mora_tools.pipelines.image_to_video import ImageToVideoTool

    settings = wan_tool.settings.model_copy(update={"frames_per_segment": 8})
    with pytest.raises(MoraError, match=r"frames_per_segment is 8, .* makes 4k \+ 1 frames: use 5 or 9"):
        ImageToVideoTool(wan_tool.pipe, settings, "tiny/wan-i2v")


def test_a_pipeline_that_cannot_animate_is_refused(kontext_tool, wan_tool):
    from mora_tools.pipelines.image_to_video import ImageToVideoTool

    with pytest.raises(MoraError, match="is a FluxKontextPipeline, which takes no `num_frames`"):
        ImageToVideoTool(kontext_tool.pipe, wan_tool.settings, "tiny/flux-kontext")


def test_svd_ignores_the_prompt_and_says_so(image_to_video_tool, frame):
    frames = []
    output = image_to_video_tool(frame.resize((64, 64)), num_frames=2, seed=0, on_frame=frames.append, prompt="x")
    assert output.parameters["prompt_used"] is False and output.parameters["prompt"] is None
    assert "frames_generated" not in output.parameters  # SVD always makes whole segments


# -- A5: Wan2.1 FLF2V with the modern settings -----------------------------------------------------------


def test_flf2v_transition_on_tiny_modern(flf2v_tool, frame, sink):
    last = Image.new("RGB", frame.size, (20, 40, 220))
    delivered = []
    output = flf2v_tool(frame, last, num_frames=6, seed=0, on_frame=delivered.append, prompt="a pan", progress=sink)
    assert len(delivered) == output.num_frames == 6 and output.parameters["frames_generated"] == 9
    assert all(f.size == (WIDTH, HEIGHT) for f in delivered)
    assert output.parameters["guidance_scale"] == 5.5
    assert _advances(sink) == flf2v_tool.settings.steps


# -- a whole SOP --------------------------------------------------------------------------------------------


def test_text_to_video_runs_end_to_end_on_tiny_modern(tmp_path):
    from mora_agents.media import video_info
    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import StudioConfig, run_task

    spec = find_sop("text_to_video")
    request = VideoRequest(task=spec.name, inputs={"prompt": "a red kite over a green hill", "duration": 1.5})
    workspace, manifest = run_task(spec, request, tmp_path, StudioConfig(profile="tiny-modern", review="auto"))
    assert manifest.status == "completed"
    info = video_info(workspace.path("video.mp4"))  # decodes every frame: the file is playable
    assert info["num_frames"] == manifest.output.num_frames == 12  # 1.5 s at 8 fps
    assert info["size"] == (WIDTH, HEIGHT) and info["fps"] == 8
    stages = {stage.id: stage for stage in manifest.stages}
    assert stages["first_frame"].iterations[0].output.model_id == "tiny/flux"
    animate = stages["animate"].iterations[0].output
    assert animate.model_id == "tiny/wan-i2v"
    # A4 was given A1's enhanced prompt, and Wan used it.
    assert animate.parameters["prompt_used"] is True
    assert animate.parameters["prompt"] == manifest.enhanced_prompt.prompt
    assert animate.parameters["frames_generated"] == [9, 5]
