"""Weight-free metrics on known-answer videos: static, translating texture, noise, and a hard cut.

Every video is a real H.264 file written with mora's own writer and read back through ffmpeg, so codec noise is
part of what the metrics must see through.
"""

from __future__ import annotations

import json
import tracemalloc

import cv2
import numpy as np
import pytest

from mora_agents.errors import MoraError
from mora_agents.evaluation.metrics.drift import PairDrift, seam_drift, segment_boundaries, ssim
from mora_agents.evaluation.metrics.frames import fitted_size, iter_frames, probe_video, vbench_interval
from mora_agents.evaluation.metrics.motion import (
    WEIGHT_FREE_METRICS,
    OpticalFlow,
    dynamic_degree,
    flicker,
    interpolate_midframe,
    motion_smoothness,
    weight_free_metrics,
)
from mora_agents.evaluation.metrics.result import MetricResult
from mora_agents.media import VideoFileWriter
from mora_tools.pipelines.image_to_video import segments_needed

SIZE = 64
FPS = 8
FRAMES = 33
CUT = 17  # the first frame of the second clip in the cut video
SHIFT = 3  # px per frame: above VBench's 1.5 px threshold for 64 px frames at 8 fps


def _texture(seed: int, height: int, width: int, tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    # Blurred noise, contrast-stretched: texture that optical flow can follow, in [0, 1].
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    texture = np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 4 - 1.5, 0, 1)
    return texture * np.asarray(tint, dtype=np.float32)


def _translating(seed: int, count: int, tint=(1.0, 1.0, 1.0), shift: int = SHIFT) -> list[np.ndarray]:
    big = _texture(seed, SIZE + 8, SIZE + shift * count + 8, tint)
    return [big[4 : 4 + SIZE, 4 + shift * i : 4 + shift * i + SIZE] for i in range(count)]


def _write(path, frames, fps: float = FPS):
    with VideoFileWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.append(frame)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("weight-free")
    rng = np.random.default_rng(7)
    still = _texture(0, SIZE, SIZE)
    return {
        "static": _write(folder / "static.mp4", [still] * FRAMES),
        "translating": _write(folder / "translating.mp4", _translating(1, FRAMES)),
        "noise": _write(folder / "noise.mp4", [rng.random((SIZE, SIZE, 3)) for _ in range(FRAMES)]),
        # Two unrelated clips, blue-ish then orange, each moving smoothly, joined at frame CUT.
        "cut": _write(
            folder / "cut.mp4",
            _translating(1, CUT, tint=(0.4, 0.7, 1.0)) + _translating(2, FRAMES - CUT, tint=(1.0, 0.6, 0.2)),
        ),
    }


@pytest.fixture(scope="module")
def results(videos) -> dict[str, dict[str, MetricResult]]:
    return {name: weight_free_metrics(path) for name, path in videos.items()}


def _values(results, metric: str) -> dict[str, float]:
    return {video: r[metric].value for video, r in results.items()}


def test_every_metric_is_in_range_and_says_how_it_was_made(results):
    for video, by_name in results.items():
        assert list(by_name) == list(WEIGHT_FREE_METRICS)
        for name, result in by_name.items():
            assert result.name == name
            assert result.value is not None, (video, name, result.reason)
            lo, hi = result.range
            assert lo <= result.value <= hi, (video, name, result.value)
            assert result.method
            json.dumps(result.model_dump(mode="json"))  # a JSON key with a JSON value
    assert "DIS" in results["static"]["dynamic_degree"].method and "RAFT" in results["static"]["dynamic_degree"].method
    assert "AMT" in results["static"]["motion_smoothness"].method


def test_static_video_is_not_dynamic_and_does_not_flicker(results):
    dynamic, flick = _values(results, "dynamic_degree"), _values(results, "flicker")
    assert dynamic["static"] == 0.0
    assert dynamic["static"] == min(dynamic.values())
    assert results["static"]["dynamic_degree"].details["moving_pair_fraction"] == 0.0
    assert flick["static"] < 0.002
    assert results["static"]["frame_consistency"].value > 0.99


def test_translating_pattern_is_dynamic_and_smooth(results):
    dynamic = results["translating"]["dynamic_degree"]
    assert dynamic.value == 1.0
    assert dynamic.details["moving_pair_fraction"] == 1.0
    # DIS recovers the 3 px shift (VBench's statistic is the mean of the top 5% magnitudes).
    assert 2.5 < dynamic.details["top5_flow_px_mean"] < 4.0
    smooth = _values(results, "motion_smoothness")
    assert smooth["translating"] > 0.95
    assert smooth["translating"] > smooth["noise"] + 0.1


def test_noise_flickers_most_and_is_least_smooth(results):
    flick, smooth = _values(results, "flicker"), _values(results, "motion_smoothness")
    assert flick["noise"] == max(flick.values())
    assert flick["noise"] > 2 * flick["translating"]
    assert smooth["noise"] == min(smooth.values())
    consistency = _values(results, "frame_consistency")
    assert consistency["noise"] == min(consistency.values())


def test_seam_scan_finds_the_hard_cut_and_nothing_else(results):
    cut = results["cut"]["seam_drift"]
    assert cut.details["mode"] == "scan"
    assert cut.details["flagged"] == [CUT]
    assert cut.value == pytest.approx(1 / (FRAMES - 1))
    (seam,) = cut.details["seams"]
    assert seam["frame"] == CUT and seam["flagged"] and seam["jump"] == ["colour", "structure"]
    for video in ("static", "translating", "noise"):
        assert results[video]["seam_drift"].details["flagged"] == [], video
        assert results[video]["seam_drift"].value == 0.0


def test_seam_drift_flags_only_the_boundary_with_the_cut(videos):
    boundaries = segment_boundaries(FRAMES, 9)
    assert boundaries == [9, CUT, 25]
    for result in (
        seam_drift(videos["cut"], frames_per_segment=9),
        seam_drift(videos["cut"], boundaries=boundaries),
        weight_free_metrics(videos["cut"], ["seam_drift"], frames_per_segment=9)["seam_drift"],
    ):
        assert result.details["mode"] == "boundaries"
        assert result.details["flagged"] == [CUT]
        assert [seam["flagged"] for seam in result.details["seams"]] == [False, True, False]
        assert result.value == pytest.approx(1 / 3)
        assert result.details["baseline"]["pairs"] == FRAMES - 1 - 3
    smooth = seam_drift(videos["translating"], frames_per_segment=9)
    assert smooth.value == 0.0 and smooth.details["flagged"] == []


def test_seam_drift_without_seams_says_why(videos):
    single = seam_drift(videos["translating"], frames_per_segment=FRAMES)
    assert single.value is None and "single segment" in single.reason
    outside = seam_drift(videos["translating"], boundaries=[500])
    assert outside.value is None and outside.details["outside_video"] == [500] and "500" in outside.reason


@pytest.mark.parametrize("frames_per_segment", [2, 5, 14, 25])
@pytest.mark.parametrize("num_frames", [1, 13, 14, 15, 26, 100])
def test_segment_boundaries_follow_a4_chaining(num_frames, frames_per_segment):
    # The chaining of mora_tools/pipelines/image_to_video.py: the first segment delivers F frames, each later one
    # re-renders the seam frame, drops that copy and delivers F - 1; the list is cut at num_frames.
    starts, written, segment = [], 0, 0
    while written < num_frames:
        if segment:
            starts.append(written)
        written += frames_per_segment if segment == 0 else frames_per_segment - 1
        segment += 1
    assert segment == segments_needed(num_frames, frames_per_segment)
    assert segment_boundaries(num_frames, frames_per_segment) == starts
    with pytest.raises(ValueError, match="frames_per_segment"):
        segment_boundaries(num_frames, 1)


def test_single_metric_functions_agree_with_the_single_pass(videos, results):
    assert dynamic_degree(videos["noise"]).value == results["noise"]["dynamic_degree"].value
    assert motion_smoothness(videos["noise"]).value == pytest.approx(results["noise"]["motion_smoothness"].value)
    assert flicker(videos["noise"]).value == pytest.approx(results["noise"]["flicker"].value)
    farneback = motion_smoothness(videos["translating"], flow="farneback")
    assert "Farneback" in farneback.method and farneback.value > 0.9


def test_flow_interpolation_rebuilds_a_shifted_frame():
    # Known answer, no codec: a texture moving 4 px per frame; the middle frame rebuilt from frames 0 and 2.
    frames = [(f * 255).astype(np.uint8) for f in _translating(3, 3, shift=4)]
    rebuilt = interpolate_midframe(frames[0], frames[2], OpticalFlow("dis"))
    flow_error = cv2.absdiff(rebuilt, frames[1])[8:-8, 8:-8].mean()
    blend = ((frames[0].astype(np.float32) + frames[2]) / 2).round().astype(np.uint8)
    blend_error = cv2.absdiff(blend, frames[1])[8:-8, 8:-8].mean()
    assert flow_error < blend_error / 3, (flow_error, blend_error)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = (_texture(4, 48, 80)[..., 0] * 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def test_reader_samples_and_resizes(tmp_path, videos):
    info = probe_video(videos["translating"])
    assert (info.fps, info.num_frames, info.width, info.height) == (FPS, FRAMES, SIZE, SIZE)
    assert info.duration == pytest.approx(FRAMES / FPS, abs=0.2)
    assert probe_video(videos["translating"], exact_count=True).num_frames == FRAMES
    assert [f.index for f in iter_frames(videos["translating"], sample="every_n", n=10)] == [0, 10, 20, 30]
    assert [f.index for f in iter_frames(videos["translating"], sample="uniform_k", k=3)] == [0, 16, 32]
    wide = _write(tmp_path / "wide.mp4", [np.zeros((144, 256, 3), np.uint8)] * 3)
    shapes = {f.image.shape for f in iter_frames(wide, max_side=64)}
    assert shapes == {(36, 64, 3)}
    assert {f.image.shape for f in iter_frames(wide, max_side=None)} == {(144, 256, 3)}
    assert fitted_size(64, 64, 256) == (64, 64)  # never enlarged
    assert (vbench_interval(24), vbench_interval(8), vbench_interval(4), vbench_interval(0)) == (3, 1, 1, 1)
    with pytest.raises(ValueError, match="sample"):
        iter_frames(wide, sample="most")


@pytest.mark.parametrize("case", ["corrupt", "missing", "directory"])
def test_unreadable_video_is_one_sentence_naming_the_file(tmp_path, case):
    path = {"corrupt": tmp_path / "broken.mp4", "missing": tmp_path / "nowhere.mp4", "directory": tmp_path}[case]
    if case == "corrupt":
        path.write_bytes(np.random.default_rng(1).bytes(4096))
    for call in (
        lambda: weight_free_metrics(path),
        lambda: seam_drift(path),
        lambda: probe_video(path),
        lambda: next(iter_frames(path)),
    ):
        with pytest.raises(MoraError) as caught:
            call()
        message = str(caught.value)
        assert str(path) in message and "\n" not in message and "Traceback" not in message
        assert len(message) < 300


def test_a_long_video_streams_instead_of_piling_up_frames(tmp_path):
    # 60 s at 8 fps, 64x64: 480 frames, 5.9 MB of pixels. A reader or metric that kept the frames would
    # allocate all of them; streaming keeps about three.
    fps, count = 8, 480
    texture = _texture(5, SIZE, 3 * SIZE)
    long_video = tmp_path / "long.mp4"
    with VideoFileWriter(long_video, fps=fps) as writer:
        for i in range(count):
            start = 2 * i % (2 * SIZE)  # slides, and jumps back every 64 frames: hard cuts at 64, 128, ...
            writer.append(texture[:, start : start + SIZE])
    all_pixels = count * SIZE * SIZE * 3
    weight_free_metrics(long_video, ["flicker"])  # first-use imports and caches stay out of the measurement
    tracemalloc.start()
    try:
        results = weight_free_metrics(long_video)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < all_pixels / 4, f"peak {peak / 1e6:.2f} MB for {all_pixels / 1e6:.2f} MB of frames"
    assert results["flicker"].details["pairs"] == count - 1
    assert results["motion_smoothness"].details["frames_rebuilt"] == (count - 1) // 2
    assert results["seam_drift"].details["flagged"] == list(range(64, count, 64))


def test_pair_drift_needs_every_frame_in_order(videos):
    drift = PairDrift()
    frames = iter_frames(videos["static"], sample="every_n", n=2)
    drift.update(next(frames))
    with pytest.raises(ValueError, match="every frame"):
        drift.update(next(frames))


def test_metric_result_refuses_values_it_cannot_stand_behind():
    with pytest.raises(ValueError, match="outside its range"):
        MetricResult(name="flicker", value=1.5, range=(0.0, 1.0), method="m")
    with pytest.raises(ValueError, match="no reason"):
        MetricResult(name="flicker", value=None, range=(0.0, 1.0), method="m")
    with pytest.raises(ValueError, match="NaN"):
        MetricResult(name="flicker", value=float("nan"), range=(0.0, 1.0), method="m")
    with pytest.raises(ValueError, match="unknown weight-free metric"):
        weight_free_metrics("unused.mp4", ["aesthetic_quality"])
