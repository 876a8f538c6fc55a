"""`mora learn loop` end to end on the tiny profile, through the command line: two iterations of synthesize (2 prompts
x 4 candidates, two metric judges that disagree on one set, a scripted human) -> train -> compare, then generation
with the result."""

import json
import subprocess
from pathlib import Path

import pytest
from safetensors.torch import load_file

from mora_agents.learning.dataset import load_training_data
from mora_agents.learning.loop import LOOP_FILE, iteration_dir
from tests.cli_in_process import mora_here

# Pinned in tests/test_learn_synthesize.py: with seed 0, 0.5 s videos and SOP the judges agree on one set only.
JUDGES = ["metric:frame_consistency=1,threshold=0", "metric:frame_consistency=1,seam_drift=-1,threshold=0"]
SOP = Path(__file__).parent / "sop" / "prompt_to_clip.yaml"
"""text_to_video without A1, as in tests/test_learn_synthesize.py: the pinned outcome must not follow LLM words."""
PROMPTS = "a red kite over a green hill\na paper boat drifting on a pond at dawn\n"


def mora(*args: str) -> subprocess.CompletedProcess:
    return mora_here(*args)


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loop")
    (root / "prompts.txt").write_text(PROMPTS)
    args = ["learn", "loop", "--prompts", str(root / "prompts.txt"), "--out", str(root / "LOOP"), "--iterations", "2"]
    args += ["--candidates", "4", "--duration", "0.5", "--human", "scripted", "--sop", str(SOP)]
    for judge in JUDGES:
        args += ["--judge", judge]
    for answer in ("2", "1", "0", "3"):  # enough for every set of both iterations, should the judges never agree
        args += ["--decision", answer]
    args += ["--max-steps", "4", "--batch-size", "2", "--lr", "1e-3", "--metrics-profile", "tiny"]
    args += ["--metrics", "dynamic_degree,motion_smoothness,flicker"]
    result = mora(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "iteration 1:" in result.stdout and "iteration 2:" in result.stdout
    return root / "LOOP"


@pytest.mark.slow
def test_the_loop_leaves_data_adapters_modulation_and_a_report_per_iteration(loop):
    record = json.loads((loop / LOOP_FILE).read_text())
    assert [entry["iteration"] for entry in record["iterations"]] == [1, 2]
    deciders = set()
    for iteration in (1, 2):
        folder = iteration_dir(loop, iteration)
        samples = load_training_data(folder / "data")
        assert len(samples) == 2 and {sample.iteration for sample in samples} == {iteration}
        deciders |= {sample.decided_by for sample in samples}
        run = folder / "run"
        modulation = load_file(str(run / "adapters" / "modulation.safetensors"))
        assert set(modulation) == {"text_to_image", "image_to_video"}
        assert (run / "adapters" / "text_to_image").is_dir() and (run / "adapters" / "image_to_video").is_dir()
        report = json.loads((run / "report" / "report.json").read_text())
        for plot in ("loss.png", "alpha.png", "modulation.png"):
            assert (run / "report" / plot).stat().st_size > 1000, plot
        assert report["steps"] == 4
        assert set(report["alpha"]["last_step"]) == {"text_to_image", "image_to_video"}
        evaluation = report["evaluation"]
        assert (
            set(evaluation["before"]) == set(evaluation["after"]) == {"dynamic_degree", "motion_smoothness", "flicker"}
        )
        assert 0 <= report["data"]["agent_success_rate"] <= 1
        entry = record["iterations"][iteration - 1]
        assert set(entry["seconds"]) == {"synthesize", "train", "compare"}
    # The first iteration had one set of each kind (the pinned judges); the human decided the other.
    assert deciders >= {"judges", "human"}
    # Iteration 2 trained on from iteration 1 and generated its candidates with iteration 1's adapters.
    second = json.loads((iteration_dir(loop, 2) / "run" / "train.json").read_text())
    assert second["start_from"] == str((iteration_dir(loop, 1) / "run").resolve())
    synthesis = json.loads((iteration_dir(loop, 2) / "data" / "synthesis.json").read_text())
    assert synthesis["adapters"] == str(iteration_dir(loop, 1) / "run")


@pytest.mark.slow
def test_rerunning_a_finished_loop_does_nothing_again(loop):
    before = (loop / LOOP_FILE).read_text()
    stamps = {path: path.stat().st_mtime_ns for path in loop.rglob("*.safetensors")}
    prompts = loop.parent / "prompts.txt"
    args = ["learn", "loop", "--prompts", str(prompts), "--out", str(loop), "--iterations", "2", "--candidates", "4"]
    args += ["--duration", "0.5", "--human", "scripted", "--max-steps", "4", "--batch-size", "2", "--lr", "1e-3"]
    args += ["--sop", str(SOP)]
    args += ["--metrics-profile", "tiny", "--metrics", "dynamic_degree,motion_smoothness,flicker"]
    for judge in JUDGES:
        args += ["--judge", judge]
    for answer in ("2", "1", "0", "3"):
        args += ["--decision", answer]
    result = mora(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {path: path.stat().st_mtime_ns for path in loop.rglob("*.safetensors")} == stamps
    assert json.loads((loop / LOOP_FILE).read_text())["iterations"] == json.loads(before)["iterations"]
