"""A3 (image to image) and A5 (video connection) on the tiny profile: real diffusers pipelines, random weights."""

import numpy as np
import pytest
from PIL import Image

from mora_tools.builders.tiny import TINY_VERSION
from mora_tools.pipelines.progress import CancelToken, StageCancelled
from mora_tools.pipelines.video_connection import frames_to_generate, transition_frame_indices


def _pixels(image):
    return np.asarray(image, dtype=np.float64)


@pytest.fixture(scope="module")
def image_to_image_tool(tiny_profile):
    from mora_tools.pipelines.image_to_image import ImageToImageTool

    return ImageToImageTool.from_profile(tiny_profile, device="cpu")


@pytest.fixture(scope="module")
def video_connection_tool(tiny_profile):
    from mora_tools.pipelines.video_connection import VideoConnectionTool

    return VideoConnectionTool.from_profile(tiny_profile, device="cpu")


@pytest.fixture(scope="module")
def blend_connection_tool(tiny_profile):
    from mora_tools.loading.profiles import VideoConnectionSettings, load_profile
    from mora_tools.pipelines.video_connection import VideoConnectionTool

    profile = load_profile("tiny").model_copy(update={"video_connection": VideoConnectionSettings(method="a4_blend")})
    return VideoConnectionTool.from_profile(profile, device="cpu")


@pytest.fixture(scope="module")
def end_frames():
    # Two clearly different frames: a noisy red one ends clip 1, a plain blue one starts clip 2.
    rng = np.random.default_rng(0)
    first = np.clip(rng.normal(0, 30, (64, 64, 3)) + [200, 40, 40], 0, 255).astype(np.uint8)
    return Image.fromarray(first), Image.new("RGB", (64, 64), (20, 40, 220))


def test_tiny_a3_a5_models_are_saved_and_loaded_from_the_cache(
    mora_cache, image_to_image_tool, video_connection_tool, blend_connection_tool, image_to_video_tool
):
    for name in ("instruct-pix2pix", "wan-flf2v"):
        assert (mora_cache / "tiny" / TINY_VERSION / name / "model_index.json").is_file()
    assert type(image_to_image_tool.pipe).__name__ == "StableDiffusionInstructPix2PixPipeline"
    # InstructPix2Pix conditions on the input image's latents: 4 noisy + 4 image channels.
    assert image_to_image_tool.pipe.unet.config.in_channels == 8
    assert image_to_image_tool.model_id == "tiny/instruct-pix2pix"
    pipe = video_connection_tool.pipe
    assert type(pipe).__name__ == "WanImageToVideoPipeline"
    assert type(pipe.tokenizer).__name__ == "T5Tokenizer"
    assert type(pipe.text_encoder).__name__ == "UMT5EncoderModel"
    # The FLF2V transformer has positional embeddings for both end frames' image tokens.
    assert pipe.transformer.config.pos_embed_seq_len == 2 * ((224 // 32) ** 2 + 1)
    assert video_connection_tool.method == "first_last_frame"
    assert video_connection_tool.model_id == "tiny/wan-flf2v"
    assert blend_connection_tool.method == "a4_blend"
    assert blend_connection_tool.pipe is None
    assert type(blend_connection_tool.animator.pipe).__name__ == "StableVideoDiffusionPipeline"


def test_tiny_t5_tokenizer_round_trips(tmp_path):
    from transformers import AutoTokenizer

    from mora_tools.builders.text_tokenizers import build_t5_tokenizer

    tokenizer = build_t5_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    prompts = ["a red car drives into fog", "caf\u00e9 at night!"]
    for tok in (tokenizer, loaded):
        batch = tok(prompts, padding="max_length", max_length=512, truncation=True, return_tensors="pt")
        assert batch.input_ids.shape == (2, 512)
        # T5's layout: </s> closes the text, <pad> (id 0) fills the rest and is masked out.
        ids = batch.input_ids[0].tolist()
        length = int(batch.attention_mask[0].sum())
        assert ids[length - 1] == tok.eos_token_id == 1
        assert set(ids[length:]) == {tok.pad_token_id} == {0}
    assert loaded(prompts).input_ids == tokenizer(prompts).input_ids
    assert loaded.decode(loaded(prompts[0]).input_ids, skip_special_tokens=True) == prompts[0]
    # Characters outside the vocabulary become <unk> instead of failing.
    assert tokenizer.unk_token_id in tokenizer(prompts[1]).input_ids


def test_image_to_image_keeps_size_and_is_seeded(image_to_image_tool, end_frames):
    image = end_frames[0]
    first = image_to_image_tool(image, "make it snow", seed=7)
    again = image_to_image_tool(image, "make it snow", seed=7)
    other = image_to_image_tool(image, "make it snow", seed=8)
    assert first.image.size == image.size
    assert np.array_equal(_pixels(first.image), _pixels(again.image))
    assert not np.array_equal(_pixels(first.image), _pixels(other.image))
    assert first.parameters["instruction"] == "make it snow"
    assert first.parameters["image_guidance_scale"] == image_to_image_tool.settings.image_guidance_scale


@pytest.mark.parametrize("size", [(80, 48), (66, 50)])
def test_image_to_image_returns_the_input_size_for_other_sizes(image_to_image_tool, size):
    # 80x48 is not square; 66x50 is not a multiple of the VAE's factor 4: the pipeline returns 64x48 for it,
    # and the tool scales that back.
    image = Image.new("RGB", size, (90, 160, 30))
    assert image_to_image_tool(image, "make it red", seed=0).image.size == size


def test_image_to_image_reports_every_step(image_to_image_tool, end_frames, sink):
    output = image_to_image_tool(end_frames[0], "make it snow", seed=0, progress=sink, stage="edit")
    steps = [e for e in sink.events if e[0] == "advance"]
    assert len(steps) == output.parameters["denoising_steps_run"] == image_to_image_tool.settings.steps
    assert sink.events[0] == ("start", "edit", image_to_image_tool.settings.steps)
    assert sink.events[-1] == ("finish", "edit")


@pytest.mark.parametrize(
    ("num_frames", "generated"), [(1, 5), (2, 5), (3, 5), (4, 9), (7, 9), (8, 13), (23, 25), (24, 29)]
)
def test_frames_to_generate_and_indices(num_frames, generated):
    assert frames_to_generate(num_frames) == generated
    indices = transition_frame_indices(num_frames, generated)
    assert len(indices) == num_frames
    # Distinct, in order, and never one of the two end frames the clips already hold.
    assert indices == sorted(set(indices))
    assert indices[0] >= 1 and indices[-1] <= generated - 2


@pytest.mark.parametrize("num_frames", [1, 4, 7])
def test_first_last_frame_delivers_exactly_num_frames(video_connection_tool, end_frames, num_frames, sink):
    first, last = end_frames
    delivered = []
    output = video_connection_tool(
        first, last, num_frames=num_frames, seed=0, on_frame=delivered.append, prompt="a car", progress=sink
    )
    assert len(delivered) == output.num_frames == num_frames
    assert all(isinstance(frame, Image.Image) and frame.size == first.size for frame in delivered)
    assert output.method == "first_last_frame"
    assert output.parameters["frames_generated"] % 4 == 1
    assert len([e for e in sink.events if e[0] == "advance"]) == video_connection_tool.settings.steps


def test_first_last_frame_picks_evenly_spaced_inner_frames(video_connection_tool, end_frames):
    import torch

    first, last = end_frames
    delivered = []
    output = video_connection_tool(first, last, num_frames=4, seed=11, on_frame=delivered.append, prompt="a car")
    settings = video_connection_tool.settings
    # The same call straight to the pipeline: Wan returns one list of PIL frames per video, end frames included.
    video = video_connection_tool.pipe(
        image=first,
        last_image=last,
        prompt="a car",
        negative_prompt=settings.negative_prompt,
        height=64,
        width=64,
        num_frames=9,
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance_scale,
        generator=torch.Generator("cpu").manual_seed(11),
        output_type="pil",
    ).frames[0]
    assert len(video) == output.parameters["frames_generated"] == 9
    # Times 1.6, 3.2, 4.8, 6.4 of a 9-frame video: the transition a 6-frame video would show.
    assert output.parameters["frame_indices"] == [2, 3, 5, 6]
    for frame, index in zip(delivered, [2, 3, 5, 6], strict=True):
        assert np.array_equal(_pixels(frame), _pixels(video[index]))


def test_first_last_frame_keeps_a_non_square_size(video_connection_tool):
    first, last = Image.new("RGB", (96, 64), (200, 40, 40)), Image.new("RGB", (96, 64), (20, 40, 220))
    delivered = []
    video_connection_tool(first, last, num_frames=3, seed=0, on_frame=delivered.append)
    assert [frame.size for frame in delivered] == [(96, 64)] * 3


def test_first_last_frame_is_seeded(video_connection_tool, end_frames):
    runs = []
    for seed in (3, 3, 4):
        frames = []
        video_connection_tool(*end_frames, num_frames=4, seed=seed, on_frame=frames.append)
        runs.append(np.stack([_pixels(f) for f in frames]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("tool_name", ["video_connection_tool", "blend_connection_tool"])
def test_connection_cancel_stops_before_any_frame(request, tool_name, end_frames):
    tool = request.getfixturevalue(tool_name)
    cancel = CancelToken()
    cancel.cancel()
    delivered = []
    with pytest.raises(StageCancelled):
        tool(*end_frames, num_frames=4, seed=0, on_frame=delivered.append, cancel=cancel)
    assert delivered == []


@pytest.mark.parametrize("num_frames", [1, 7, 10])
def test_a4_blend_delivers_exactly_num_frames_ending_near_last(blend_connection_tool, end_frames, num_frames):
    first, last = end_frames
    delivered = []
    output = blend_connection_tool(first, last, num_frames=num_frames, seed=0, on_frame=delivered.append)
    assert len(delivered) == output.num_frames == num_frames
    assert all(frame.size == first.size and frame.mode == "RGB" for frame in delivered)
    assert output.method == "a4_blend"
    assert output.model_id == "tiny/svd"
    if num_frames > 1:
        # The cross-fade weight grows frame by frame: the transition ends nearer clip 2's first frame.
        distance = [np.abs(_pixels(frame) - _pixels(last)).mean() for frame in delivered]
        assert distance[-1] < distance[0]


def test_a4_blend_cross_fades_a4_frames_toward_last(blend_connection_tool, end_frames):
    first, last = end_frames
    delivered, animated = [], []
    blend_connection_tool(first, last, num_frames=3, seed=2, on_frame=delivered.append)
    blend_connection_tool.animator(first, num_frames=4, seed=2, on_frame=animated.append)
    # A4's first frame re-renders `first` and is dropped; frame i of 3 moves i / 4 of the way to `last`.
    for i, (frame, source) in enumerate(zip(delivered, animated[1:], strict=True), start=1):
        assert np.array_equal(_pixels(frame), _pixels(Image.blend(source, last, i / 4)))


def test_a4_blend_streams_and_is_seeded(blend_connection_tool, end_frames):
    runs = []
    for seed in (5, 5, 6):
        frames = []
        blend_connection_tool(*end_frames, num_frames=3, seed=seed, on_frame=frames.append)
        runs.append(np.stack([_pixels(f) for f in frames]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
