"""Every benchmark still runs: ``benchmarks/run.py --smoke`` runs each script in its smallest mode (its ``SMOKE``
settings: tiny models, one round, the shortest video; the GPU-only ones on their CPU path) and writes one JSON, whose
keys are checked here. Benchmarks rot when nothing runs them (``warm_cold.py`` read a field of a coroutine for as long
as ``Conversation.take_turn`` had been async).

Figures are printed (``-rP`` shows them), never asserted: no timing, no ratio. What is asserted: every script runs
without an error (``overhead.py`` raises when its two paths make different first frames), every script in
``benchmarks/`` is one ``run.py`` runs, and each result has its keys with values of the right kind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
HELPERS = ("measure", "run")
"""Scripts of ``benchmarks/`` that are no benchmark."""
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("*.py") if path.stem not in HELPERS)

NUMBER = "number"
"""An int or a float (not a bool): a figure, whatever its value."""
EXPECTED: dict[str, dict[str, object]] = {
    # benchmark -> {dotted key in its result: the kind of value}
    "overhead": {
        "overhead_ratio": NUMBER,
        "overhead_ms_per_stage": NUMBER,
        "outside_models_ms_per_stage": NUMBER,
        "raw.same_first_frame": bool,
        "raw.enhanced_prompt": str,
        "raw.sop_median_s": NUMBER,
        "raw.direct_median_s": NUMBER,
        "raw.stage_overhead_ms.enhance": NUMBER,
        "raw.stage_overhead_ms.first_frame": NUMBER,
        "raw.stage_overhead_ms.animate": NUMBER,
    },
    "peak_memory": {
        "peak_mem_ratio.free": NUMBER,
        "raw.heaviest_stage": str,
        "raw.stages_alone.animate.peak_rss_mib": NUMBER,
        "raw.runs.free.peak_rss_mib": NUMBER,
        "raw.runs.free.status": str,
    },
    "long_video_memory": {"long_video_mem_ratio": NUMBER, "raw.runs": list},
    "warm_cold": {
        "warm_cold_ratio": NUMBER,
        "raw.cold_s": NUMBER,
        "raw.warm_s": NUMBER,
        "raw.tasks": list,
        "raw.model_loads": NUMBER,
    },
    "learn_loop": {
        "learn_loop_s": NUMBER,
        "learn_loop_rerun_s": NUMBER,
        "synthesize_rerun_s": NUMBER,
        "raw.iterations": list,
        "raw.peak_rss_mib": NUMBER,
    },
    "ray_engine": {
        "ray_overhead_ratio": NUMBER,
        "batch_throughput_ratio": type(None),  # the smoke run makes no batch
        "same_files": bool,
        "raw.single.local": list,
        "raw.single.ray": list,
        "raw.cold_s.ray": NUMBER,
    },
    "serve": {
        "serve_warm_ratio": NUMBER,
        "serve_first_event_ms": NUMBER,
        "serve_cold_start_s": NUMBER,
        "raw.runs": list,
    },
    "quality": {
        "quality_means.text_to_video.motion_smoothness": NUMBER,
        "quality_means.connect_videos.tmean": NUMBER,
        "raw.tasks.text_to_video.metrics": dict,
        "raw.tasks.connect_videos.runs": list,
    },
    "director_routing": {
        "routing_cold_median_ms": NUMBER,
        "routing_warm_median_ms": NUMBER,
        "raw.cases": NUMBER,
        "raw.corpora": list,
    },
    "embedded_llm": {
        "learned_accuracy": NUMBER,
        "embedded_llms.smollm2.a1_faithful_share": NUMBER,
        "embedded_llms.smollm2.a1_leaked_share": NUMBER,
        "embedded_llms.smollm2.a1_fell_back_share": NUMBER,
        "embedded_llms.smollm2.a1_edit_faithful_share": NUMBER,
        "embedded_llms.smollm2.a1_enhanced_share": NUMBER,
        "embedded_llms.smollm2.plan_task_accuracy": NUMBER,
        "embedded_llms.smollm2.plan_valid_first_share": NUMBER,
        "embedded_llms.smollm2.a1_failures": list,
    },
    "gpu_text_to_video": {
        "gpu_time_vs_paper": NUMBER,
        "raw.runs.baseline.wall_s": NUMBER,
        "raw.runs.baseline.device": str,
        "raw.runs.baseline.stage_s.animate": NUMBER,
    },
    "learn_step": {
        "learn_step_s.text_to_image": NUMBER,
        "learn_step_s.image_to_video": NUMBER,
        "raw": list,
    },
}
TOP_LEVEL = ("overhead_ratio", "overhead_ms_per_stage", "peak_mem_ratio", "long_video_mem_ratio", "warm_cold_ratio",
             "learn_loop_s", "ray_overhead_ratio", "serve_warm_ratio", "quality_means", "routing_cold_median_ms",
             "learned_accuracy", "embedded_llms")  # fmt: skip
"""Figures ``run.py`` lifts to the top level, where its targets table reads them."""
CPU_CHECKS_ONLY = ("gpu_time_vs_paper", "gpu_peak_vs_paper", "learn_step_s")
"""Figures of the GPU-only benchmarks: a smoke run (tiny, CPU) keeps them out of the top level."""


@pytest.fixture(scope="module")
def smoke(mora_cache, tmp_path_factory) -> dict:
    """``run.py --smoke`` once for the module (the tiny models from the session's cache); its JSON."""
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(done.stdout)  # the figures, for -rP and for a failure's report
    if not out.is_file():
        pytest.fail(f"run.py --smoke wrote no JSON (exit status {done.returncode}):\n{done.stderr[-6000:]}")
    # A failed benchmark is listed in the JSON (and makes the exit status 1): the others are still checked.
    return {**json.loads(out.read_text()), "exit_status": done.returncode, "stderr": done.stderr}


def test_run_py_runs_every_benchmark_script(smoke):
    assert smoke["failed"] == {}, smoke["stderr"][-6000:]
    assert smoke["exit_status"] == 0
    assert sorted(smoke["seconds"]) == SCRIPTS, "a script in benchmarks/ that run.py does not run (or the reverse)"
    assert sorted(EXPECTED) == SCRIPTS, "a benchmark without its keys in EXPECTED here"
    assert smoke["machine"]["smoke"] is True


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_result_has_its_keys(smoke, name):
    assert name in smoke, f"run.py wrote no result for {name}: {smoke['failed'].get(name)}"
    for key, kind in EXPECTED[name].items():
        value = _lookup(smoke[name], key)
        if kind == NUMBER:
            assert isinstance(value, int | float) and not isinstance(value, bool), f"{name}: {key} = {value!r}"
        else:
            assert isinstance(value, kind), f"{name}: {key} = {value!r}, expected {kind.__name__}"


def test_figures_are_lifted_to_the_top_level(smoke):
    assert [key for key in TOP_LEVEL if key not in smoke] == []
    assert [key for key in CPU_CHECKS_ONLY if key in smoke] == []
    assert smoke["overhead_ratio"] == smoke["overhead"]["overhead_ratio"]
    assert smoke["serve_warm_ratio"] == smoke["serve"]["serve_warm_ratio"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_offers_its_smoke_run(script):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{script}.py"), "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--smoke" in done.stdout


def _lookup(result: dict, dotted: str) -> object:
    value: object = result
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"no '{part}' of '{dotted}' in {value!r:.300}"
        value = value[part]
    return value
