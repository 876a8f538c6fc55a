"""Model-based metrics on the ``tiny`` metrics profile: random-weight DINO / CLIP / X-CLIP / aesthetic head built from
small configs, saved with ``save_pretrained`` and loaded back through the real loading code. Random features make
meaningless scores, so these tests check what holds whatever the weights: ranges, determinism, the consistency
formula, identical frames scoring 1, missing weights as one sentence. VideoTI's captions come from a real (tiny,
deterministic) OpenAI-compatible HTTP server on the loopback, its embeddings from the shipped all-MiniLM-L6-v2.
"""

from __future__ import annotations

import base64
import io
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mora_agents.errors import ModelUnavailableError, MoraError
from mora_agents.evaluation.metrics.captioner import NO_CAPTIONER, OpenAICaptioner, captioner_from_env
from mora_agents.evaluation.metrics.clip_scores import (
    aesthetic_quality,
    appearance_style,
    imaging_quality,
    temporal_style,
)
from mora_agents.evaluation.metrics.features import (
    ConsistencyAccumulator,
    background_consistency,
    plan_sampling,
    subject_consistency,
)
from mora_agents.evaluation.metrics.models import MetricModels, check_metrics_profile, resolve_aesthetic_head
from mora_agents.evaluation.metrics.paper import tcon, tmean, video_length, video_text_integration
from mora_agents.evaluation.metrics.profiles import METRICS_PROFILE_DIR, FrameSampling, load_metrics_profile
from mora_agents.evaluation.metrics.tiny_models import tiny_metric_model_path
from mora_agents.media import VideoFileWriter

FPS = 8
SIZE = 64


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    with VideoFileWriter(path, fps=FPS) as writer:
        for frame in frames:
            writer.append(frame)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2 s, 64x64, 8 fps: a static picture, per-frame noise, a bright and a dark static clip, one frame."""
    folder = tmp_path_factory.mktemp("metric-videos")
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    count = 2 * FPS
    return {
        "static": write_video(folder / "static.mp4", [picture] * count),
        "noise": write_video(
            folder / "noise.mp4", [rng.integers(0, 256, (SIZE, SIZE, 3), np.uint8) for _ in range(count)]
        ),
        "bright": write_video(folder / "bright.mp4", [np.full((SIZE, SIZE, 3), 230, np.uint8)] * count),
        "dark": write_video(folder / "dark.mp4", [np.full((SIZE, SIZE, 3), 20, np.uint8)] * count),
        "single": write_video(folder / "single.mp4", [picture]),
    }


@pytest.fixture(scope="module")
def models() -> MetricModels:
    return MetricModels("tiny", device="cpu")


# --- profiles and missing weights -------------------------------------------------------------------------------


def test_shipped_metrics_profiles_validate() -> None:
    real, tiny = load_metrics_profile("real"), load_metrics_profile("tiny")
    assert real.consistency.subject_model == "facebook/dino-vitb16"
    assert real.text_alignment.video_model == "microsoft/xclip-base-patch32"
    assert tiny.source == "tiny" and tiny.aesthetic.head.startswith("tiny/")


def test_metrics_profile_errors_name_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load(Path(METRICS_PROFILE_DIR, "tiny.yaml").read_text())
    del data["consistency"]["subject_model"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(MoraError, match=r"broken\.yaml: consistency\.subject_model: Field required"):
        load_metrics_profile(str(broken))
    with pytest.raises(MoraError, match="unknown metrics profile 'nope': choose one of real, tiny"):
        load_metrics_profile("nope")


def _profile_with(tmp_path: Path, **changes: dict) -> str:
    data = yaml.safe_load(Path(METRICS_PROFILE_DIR, "real.yaml").read_text())
    for section, fields in changes.items():
        data[section].update(fields)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("mora-tests/no-such-dino", "is not on this machine and cannot be downloaded: run `hf download mora-tests/"),
        ("no//such dino", "is neither a folder on this machine nor a Hugging Face repo id"),  # was a traceback
    ],
)
def test_a_missing_or_malformed_metric_model_is_one_sentence(tmp_path: Path, reference: str, says: str) -> None:
    profile = load_metrics_profile(_profile_with(tmp_path, consistency={"subject_model": reference}))
    with pytest.raises(ModelUnavailableError) as caught:
        check_metrics_profile(profile, ["subject_consistency"])
    message = str(caught.value)
    assert f"metric model '{reference}' (subject_consistency, metrics profile 'real') {says}" in message
    assert "\n" not in message and caught.value.exit_code == 2


def test_real_profile_on_this_machine_names_the_missing_model() -> None:
    # No CLIP, DINO or X-CLIP weights can be downloaded here (DESIGN.md); skip where someone has cached them.
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("facebook/dino-vitb16", "config.json"), str):
        pytest.skip("facebook/dino-vitb16 is in this machine's Hugging Face cache")
    models = MetricModels("real", device="cpu")
    with pytest.raises(ModelUnavailableError, match=r"^metric model 'facebook/dino-vitb16' \(subject_consistency"):
        models.check()
    with pytest.raises(ModelUnavailableError, match=r"`hf download facebook/dino-vitb16`"):
        models.dino()


def test_missing_aesthetic_head_names_the_file_and_laion(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    profile = load_metrics_profile(_profile_with(tmp_path, aesthetic={"head": str(missing)}))
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_aesthetic_head(profile)
    message = str(caught.value)
    assert str(missing / "sa_0_4_vit_l_14_linear.pth") in message
    assert "github.com/LAION-AI/aesthetic-predictor" in message and "\n" not in message


def test_tiny_models_round_trip_through_save_pretrained(models: MetricModels) -> None:
    folder = tiny_metric_model_path("xclip")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    loaded = models.xclip()
    assert loaded.model.config.vision_config.num_frames == 8
    assert not loaded.model.training


# --- consistency ------------------------------------------------------------------------------------------------


def test_consistency_formula_is_vbench_s() -> None:
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    accumulator = ConsistencyAccumulator()
    accumulator.add(np.stack([e1, e1]))
    accumulator.add(np.stack([e2]))
    # frame 2: (1 + 1) / 2; frame 3: (cos(e1, e2) = 0 to first + 0 to previous) / 2.
    assert accumulator.value == pytest.approx(0.5)
    accumulator = ConsistencyAccumulator()
    accumulator.add(np.stack([e1, -e1, -e1]))
    # frame 2: both similarities -1, clamped to 0; frame 3: 0 to the first, 1 to the previous.
    assert accumulator.value == pytest.approx((0.0 + 0.5) / 2)
    assert ConsistencyAccumulator().value is None


@pytest.mark.parametrize("metric", [subject_consistency, background_consistency])
def test_consistency_static_is_one_noise_below(metric, models: MetricModels, videos: dict[str, Path]) -> None:
    static = metric(videos["static"], models)
    noise = metric(videos["noise"], models)
    assert static.value == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= noise.value < 1.0 - 1e-4
    assert static.details["frames"] == 2 * FPS and "VBench" in static.method
    assert metric(videos["noise"], models).value == noise.value
    single = metric(videos["single"], models)
    assert single.value is None and "single sampled frame" in single.reason


def test_sampling_rule(videos: dict[str, Path]) -> None:
    assert plan_sampling(videos["noise"], FrameSampling(fps=8)).describe() == "every frame"
    assert plan_sampling(videos["noise"], FrameSampling(fps=4)).describe() == "1 frame in 2, from the first"
    assert plan_sampling(videos["noise"], FrameSampling(fps=8, max_frames=5)).describe() == (
        "5 frames spread evenly over the video"
    )


def test_consistency_counts_the_sampled_frames(models: MetricModels, videos: dict[str, Path]) -> None:
    sparse = MetricModels(models.profile.model_copy(deep=True), device="cpu")
    sparse.profile.consistency.sampling = FrameSampling(fps=8, max_frames=5)
    result = subject_consistency(videos["noise"], sparse)
    assert result.details["frames"] == 5 and 0.0 <= result.value <= 1.0


# --- CLIP-family scores -----------------------------------------------------------------------------------------


def test_clip_scores_in_range_and_deterministic(models: MetricModels, videos: dict[str, Path]) -> None:
    scored = [
        (aesthetic_quality, (videos["noise"],)),
        (appearance_style, (videos["noise"], "an oil painting")),
        (temporal_style, (videos["noise"], "the camera pans left")),
    ]
    for metric, args in scored:
        first = metric(*args, models)
        lo, hi = first.range
        assert first.value is not None and lo <= first.value <= hi, first
        assert metric(*args, models).value == first.value
    # A fresh load of the saved weights scores the same: nothing random survives from_pretrained.
    assert aesthetic_quality(videos["noise"], MetricModels("tiny", device="cpu")).value == (
        aesthetic_quality(videos["noise"], models).value
    )
    assert "X-CLIP" in temporal_style(videos["noise"], "pans", models).method


def test_appearance_style_depends_on_text(models: MetricModels, videos: dict[str, Path]) -> None:
    a = appearance_style(videos["noise"], "an oil painting", models).value
    b = appearance_style(videos["noise"], "zzzz qqqq 1234", models).value
    assert a != b


def test_imaging_quality_is_unavailable_with_reason() -> None:
    result = imaging_quality()
    assert result.value is None and result.method == "not available: pyiqa needs torchvision"
    assert "torchvision" in result.reason


# --- the paper's metrics ----------------------------------------------------------------------------------------


def test_tcon_and_tmean(models: MetricModels, videos: dict[str, Path]) -> None:
    same = tcon(videos["static"], videos["static"], models)
    assert same.value == pytest.approx(1.0, abs=1e-5)
    other = tcon(videos["static"], videos["noise"], models)
    assert -1.0 <= other.value < 1.0 - 1e-5 and "X-CLIP" in other.method
    mean = tmean(videos["noise"], videos["static"], videos["dark"], models)
    behind = tcon(videos["noise"], videos["dark"], models).value
    # TCON_front is the preceding clip against the connecting one: the `other` pair above.
    assert mean.details["tcon_front"] == pytest.approx(other.value, abs=1e-6)
    assert mean.details["tcon_behind"] == pytest.approx(behind, abs=1e-6)
    assert mean.value == pytest.approx((other.value + behind) / 2, abs=1e-6)


def test_video_length_from_container(videos: dict[str, Path]) -> None:
    result = video_length(videos["noise"])
    assert result.value == pytest.approx(2.0, abs=1 / FPS) and result.range == (0.0, math.inf)


def test_video_text_integration_without_captioner_is_unavailable(videos: dict[str, Path]) -> None:
    result = video_text_integration("a cat on a sofa", videos["noise"])
    assert result.value is None and result.reason == NO_CAPTIONER


def test_video_text_integration_formula_with_given_captions() -> None:
    close = video_text_integration("a cat sleeping on a sofa", video_caption="a cat naps on a couch")
    far = video_text_integration("a cat sleeping on a sofa", video_caption="a rocket launches into space at night")
    assert -1.0 <= far.value < close.value <= 1.0
    # The input image's caption joins the request in T_mix.
    mixed = video_text_integration(
        "make it move", video_caption="a rocket launches into space", image_caption="a rocket on a launch pad"
    )
    assert mixed.details["text_mix"] == "make it move a rocket on a launch pad"
    assert mixed.value > video_text_integration("make it move", video_caption="a rocket launches into space").value


# A real OpenAI-compatible endpoint, as small as one can be: it captions by brightness, deterministically.


class _CaptionHandler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if body["model"] == "broken":
            self._reply(500, {"error": {"message": "the vision tower is on fire", "type": "server_error"}})
            return
        images = [part for part in body["messages"][0]["content"] if part["type"] == "image_url"]
        encoded = images[0]["image_url"]["url"].removeprefix("data:image/png;base64,")
        brightness = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("L")).mean()
        caption = "a bright white empty scene" if brightness > 128 else "a dark black night scene"
        self._reply(
            200,
            {
                "id": "caption-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": caption}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # quiet: pytest shows failures, not access logs
        pass


@pytest.fixture(scope="module")
def caption_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CaptionHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_video_text_integration_with_a_captioner(caption_server: str, videos: dict[str, Path]) -> None:
    captioner = OpenAICaptioner("tiny-captioner", base_url=caption_server, timeout=10)
    _CaptionHandler.requests.clear()
    bright = video_text_integration("a bright white scene", videos["bright"], captioner=captioner, caption_frames=3)
    dark = video_text_integration("a bright white scene", videos["dark"], captioner=captioner, caption_frames=3)
    assert bright.details["video_caption"] == "a bright white empty scene"
    assert dark.details["video_caption"] == "a dark black night scene"
    assert bright.value > dark.value
    assert "openai:tiny-captioner@" in bright.method
    sent = _CaptionHandler.requests[0]["messages"][0]["content"]
    assert sum(part["type"] == "image_url" for part in sent) == 3
    # An input image is captioned too, and its caption joins the request in T_mix.
    image = Image.new("RGB", (SIZE, SIZE), (20, 20, 20))
    mixed = video_text_integration("animate", video_caption="a dark scene", input_image=image, captioner=captioner)
    assert mixed.details["text_mix"] == "animate a dark black night scene"


def test_captioner_from_env(monkeypatch: pytest.MonkeyPatch, caption_server: str) -> None:
    for name in ("MORA_CAPTIONER_MODEL", "MORA_CAPTIONER_BASE_URL", "MORA_CAPTIONER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert captioner_from_env() is None
    monkeypatch.setenv("MORA_CAPTIONER_MODEL", "tiny-captioner")
    with pytest.raises(MoraError, match="MORA_CAPTIONER_BASE_URL"):
        captioner_from_env()
    monkeypatch.setenv("MORA_CAPTIONER_BASE_URL", caption_server)
    assert captioner_from_env().name == f"openai:tiny-captioner@{caption_server}"


def test_video_text_integration_with_a_failing_captioner(caption_server: str, videos: dict[str, Path]) -> None:
    captioner = OpenAICaptioner("broken", base_url=caption_server, timeout=10)
    result = video_text_integration("a scene", videos["dark"], captioner=captioner)
    assert result.value is None and "the captioner openai:broken@" in result.reason
