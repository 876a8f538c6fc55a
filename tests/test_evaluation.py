"""`mora eval`: a tiny text-to-video run scored with the tiny metrics profile, bare videos, one-sentence errors, and
the VBench export layout."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mora_agents.cli import app
from mora_agents.errors import MoraError
from mora_agents.evaluation.metrics.result import MetricResult
from mora_agents.evaluation.scoring import video_quality
from mora_agents.evaluation.selection import (
    KNOWN_METRICS,
    PAPER_VIDEO_QUALITY_DIMENSIONS,
    TASK_METRICS,
    VIDEO_QUALITY_DIMENSIONS,
    WEIGHT_FREE_ALWAYS,
)
from mora_agents.evaluation.vbench import vbench_stem
from mora_agents.media import VideoFileWriter
from mora_agents.messages import VideoRequest
from mora_agents.sop import find_sop
from mora_agents.studio import StudioConfig, run_task
from mora_agents.workspace import Workspace

PROMPT = "a red kite over a green hill"
# Wide enough that rich never folds a metric name or a value.
WIDE = {"COLUMNS": "200"}


def mora(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mora_agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **WIDE},
    )


def invoke(*args: str):
    """The CLI in this process (cheaper: no second start-up), for the quick error cases."""
    return CliRunner().invoke(app, list(args), env=WIDE)


@pytest.fixture(scope="module")
def t2v_run(tmp_path_factory) -> Path:
    spec = find_sop("text_to_video")
    request = VideoRequest(task=spec.name, inputs={"prompt": PROMPT, "duration": 1})
    workspace, manifest = run_task(spec, request, tmp_path_factory.mktemp("runs"), StudioConfig(profile="tiny"))
    assert manifest.status == "completed"
    return workspace.root


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds of a bright square sliding across a dark frame, with a hard cut halfway."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    with VideoFileWriter(path, fps=8) as writer:
        for i in range(16):
            frame = np.full((64, 64, 3), 30 if i < 8 else 200, dtype=np.uint8)
            frame[20:40, 2 * i : 2 * i + 20] = (250, 200, 40)
            writer.append(frame)
    return path


@pytest.mark.slow
def test_eval_run_folder_writes_the_evaluation_section_and_prints_the_table(t2v_run):
    result = mora("eval", str(t2v_run), "--metrics-profile", "tiny", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    expected = list(dict.fromkeys([*TASK_METRICS["text_to_video"], *WEIGHT_FREE_ALWAYS]))
    for name in expected:
        assert name in result.stdout
    evaluation = Workspace(t2v_run).load_manifest().evaluation
    assert evaluation is not None and evaluation.metrics_profile == "tiny" and evaluation.task == "text_to_video"
    assert list(evaluation.metrics) == expected
    for name, record in evaluation.metrics.items():
        lo, hi = (-math.inf if record.range[0] is None else record.range[0]), record.range[1]
        hi = math.inf if hi is None else hi
        assert record.method, name
        if record.value is None:
            assert record.reason, name
        else:
            assert lo <= record.value <= hi, name
    assert (
        evaluation.metrics["video_length"].value == pytest.approx(1.0)
        and evaluation.metrics["video_length"].range[1] is None
    )
    # A one-segment video has no seams: it says why instead of a number.
    assert "single segment" in evaluation.metrics["seam_drift"].reason
    assert "DINO" in evaluation.metrics["subject_consistency"].method
    # imaging_quality is never computed: no row that is always empty, one line in the table saying why instead.
    assert "imaging_quality" not in evaluation.metrics
    (note,) = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert note.startswith("note: imaging_quality (MUSIQ) is not computed") and "pyiqa" in note
    # Video Quality: the mean of the five dimensions mora computes, saying it is not the paper's six-dimension number.
    quality = evaluation.metrics["video_quality"]
    assert VIDEO_QUALITY_DIMENSIONS == tuple(d for d in PAPER_VIDEO_QUALITY_DIMENSIONS if d != "imaging_quality")
    dimensions = [evaluation.metrics[name].value for name in VIDEO_QUALITY_DIMENSIONS]
    assert None not in dimensions and quality.value == pytest.approx(sum(dimensions) / 5)
    assert quality.details["comparable_to_paper"] is False
    assert "mean of 5 of VBench's" in quality.method and "imaging_quality (MUSIQ) is not computed" in quality.method


def _result(name: str, value: float | None) -> MetricResult:
    if value is None:
        return MetricResult.unavailable(name, (0.0, 1.0), "test", "no model")
    return MetricResult(name=name, value=value, range=(0.0, 1.0), method="test")


def test_video_quality_is_the_mean_of_the_five_computed_dimensions_never_the_papers():
    # Sora's row of the paper's Table 1: 0.95 0.96 1.00 0.60 0.69 and imaging 0.58 -> Video Quality 0.797 over six.
    sora = dict(zip(PAPER_VIDEO_QUALITY_DIMENSIONS, (0.95, 0.96, 1.00, 0.60, 0.69, 0.58), strict=True))
    quality = video_quality({name: _result(name, value) for name, value in sora.items()})
    # Even handed an imaging_quality value, the mean is over the five: 4.20 / 5, not the paper's 0.797.
    assert quality.value == pytest.approx(0.84) and list(quality.details["dimensions"]) == list(
        VIDEO_QUALITY_DIMENSIONS
    )
    assert quality.details["comparable_to_paper"] is False and quality.details["not_computed"] == ["imaging_quality"]
    partial = {name: _result(name, None if name == "aesthetic_quality" else value) for name, value in sora.items()}
    assert video_quality(partial).value == pytest.approx((0.95 + 0.96 + 1.00 + 0.69) / 4)
    assert "aesthetic_quality unavailable too" in video_quality(partial).method
    with pytest.raises(MoraError, match="aesthetic_quality had no value"):
        video_quality(partial, strict=True)
    empty = video_quality({name: _result(name, None) for name in sora})
    assert empty.value is None and empty.reason


def test_imaging_quality_is_in_no_task_and_asked_for_by_name_says_why(clip):
    assert all("imaging_quality" not in metrics for metrics in TASK_METRICS.values())
    assert "imaging_quality" not in KNOWN_METRICS
    one_sentence_error(invoke("eval", str(clip), "--metrics", "imaging_quality"), "not computed", "pyiqa")


def test_bare_video_with_chosen_metrics_writes_json(clip, tmp_path):
    out = tmp_path / "deep" / "out.json"
    result = invoke("eval", str(clip), "--metrics", "flicker,seam_drift", "--json", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert list(data["metrics"]) == ["flicker", "seam_drift"] and data["task"] is None
    assert 0 < data["metrics"]["flicker"]["value"] <= 1
    # No boundaries known for a bare file: seam_drift scans every pair and finds the hard cut at frame 8.
    assert data["metrics"]["seam_drift"]["details"]["flagged"] == [8]
    assert "flicker" in result.output and "seam_drift" in result.output


def one_sentence_error(result, *phrases: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    text = " ".join(lines)
    assert text.startswith("error:"), text
    for phrase in phrases:
        assert phrase in text, text
    return text


def test_unknown_metric_lists_the_known_ones(clip):
    text = one_sentence_error(invoke("eval", str(clip), "--metrics", "flicker,sharpness"), "'sharpness'", "tcon")
    assert "flicker" in text


def test_tcon_without_an_input_video_names_metric_and_input(clip):
    one_sentence_error(
        invoke("eval", str(clip), "--metrics", "tcon", "--metrics-profile", "tiny"), "tcon", "input video"
    )


def test_corrupt_video_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    one_sentence_error(invoke("eval", str(bad)), "bad.mp4")


def test_named_metric_without_its_model_fails_but_defaults_report_it(clip, tmp_path):
    # The `real` profile's models are not on this machine: asked by name, that is an error ...
    one_sentence_error(invoke("eval", str(clip), "--metrics", "subject_consistency"), "subject_consistency")
    # ... by default it is a row without a value, with the reason, and the weight-free metrics still run.
    out = tmp_path / "out.json"
    result = invoke("eval", str(clip), "--json", str(out))
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["subject_consistency"]["value"] is None and "hf download" in metrics["subject_consistency"]["reason"]
    assert metrics["flicker"]["value"] is not None and metrics["video_length"]["value"] == pytest.approx(2.0)
    assert "imaging_quality" not in metrics and "note: imaging_quality (MUSIQ) is not computed" in result.stdout


@pytest.mark.slow  # t2v_run: a whole tiny text_to_video run
def test_export_vbench_names_videos_prompt_dash_index(t2v_run, tmp_path):
    out = tmp_path / "vbench_videos"
    result = invoke("eval", "export-vbench", str(t2v_run), str(t2v_run), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{PROMPT}-0.mp4", f"{PROMPT}-1.mp4"]
    assert (out / f"{PROMPT}-0.mp4").read_bytes() == (t2v_run / "video.mp4").read_bytes()
    assert vbench_stem("a/b  c ") == "a b c"


@pytest.mark.slow  # t2v_run: a whole tiny text_to_video run
def test_export_vbench_run_without_output_is_one_sentence(t2v_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((t2v_run / "manifest.json").read_text())
    manifest.update(output=None, status="failed")
    (broken / "manifest.json").write_text(json.dumps(manifest))
    one_sentence_error(invoke("eval", "export-vbench", str(broken), "--out", str(tmp_path / "v")), "no output video")


@pytest.mark.slow  # t2v_run: a whole tiny text_to_video run
def test_seam_boundaries_follow_segments_and_joined_parts(t2v_run):
    from mora_agents.evaluation.run_folder import run_boundaries

    manifest = Workspace(t2v_run).load_manifest()
    # One A4 call: no seams. Three chained segments of the tiny profile's 8 frames: new segments at 8 and 15.
    assert run_boundaries(manifest) == []
    chained = manifest.output.model_copy(update={"segments": 3, "num_frames": 22})
    assert run_boundaries(manifest.model_copy(update={"output": chained})) == [8, 15]
    # A join (extend_video): the seam between the parts, plus the chained part's own seams, offset.
    stage_output = chained.model_copy(update={"path": "continuation.mp4"})
    stage = manifest.stages[-1].model_copy(deep=True)
    stage.iterations[-1].output = stage_output
    joined = chained.model_copy(update={"parameters": {"parts": ["inputs/video.mp4", "continuation.mp4"],
                                                       "frames_per_part": [8, 22]}})  # fmt: skip
    assert run_boundaries(manifest.model_copy(update={"output": joined, "stages": [stage]})) == [8, 16, 23]
    # A profile file that is gone: the seams are unknown, and seam_drift scans instead of guessing.
    assert run_boundaries(manifest.model_copy(update={"output": chained, "profile": "/gone/p.yaml"})) is None


def test_the_evaluation_package_imports_no_torch_and_no_opencv():
    # The package's __init__ is its layer's doorway: importing it (as every `mora` command may) must stay free.
    code = (
        "import sys, mora_agents.evaluation, mora_agents.evaluation.selection, mora_agents.evaluation.vbench; "
        "print('torch' in sys.modules, 'cv2' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
