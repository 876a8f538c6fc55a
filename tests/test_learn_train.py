"""Self-modulated fine-tuning (Algorithm 1) on the tiny profile, CPU: gradients reach the adapters and every z_i, each
agent's weights are updated at alpha_i * eta with alpha_i = ||z_i|| / n of the just-updated z_i (seen through torch's
optimizer hooks, not the run's own log), a killed run resumes to the same adapters, the ablations, bad data."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from mora_agents.errors import MoraError
from mora_agents.learning.dataset import TrainingSample, write_metadata
from mora_agents.learning.settings import TrainSettings
from mora_agents.learning.training import ADAPTERS, FINAL_STATE, INITIAL_MODULATION, read_log, train
from mora_agents.media import VideoFileWriter, save_png

SIZE, FRAMES, FPS = 64, 8, 8


def _sample(root: Path, set_id: str, shift: int) -> TrainingSample:
    """A smooth pattern moving ``shift`` pixels a frame: a learnable target, unlike noise."""
    folder = root / "samples" / set_id
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:SIZE, 0 : SIZE * 2]
    canvas = np.stack([128 + 100 * np.sin(x / 7.0), 128 + 100 * np.cos(y / 5.0), 128 + 60 * np.sin((x + y) / 9.0)], -1)
    canvas = canvas.clip(0, 255).astype(np.uint8)
    frames = [np.ascontiguousarray(canvas[:, shift * i : shift * i + SIZE]) for i in range(FRAMES)]
    save_png(Image.fromarray(frames[0]), folder / "first_frame.png")
    writer = VideoFileWriter(folder / "video.mp4", FPS)
    for frame in frames:
        writer.append(frame)
    writer.close()
    return TrainingSample(
        file_name=f"samples/{set_id}/video.mp4",
        first_frame=f"samples/{set_id}/first_frame.png",
        prompt=f"a striped pattern drifting {shift} pixels a frame",
        seed_prompt="a striped pattern",
        set_id=set_id,
        sop="text_to_video",
        profile="tiny",
        seed=shift,
        width=SIZE,
        height=SIZE,
        fps=FPS,
        num_frames=FRAMES,
        criterion="Temporal coherence",
        decided_by="judges",
        chosen=0,
        candidates=4,
        iteration=1,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_metadata(root, [_sample(root, "p001-v1", 2), _sample(root, "p002-v1", 4)])
    return root


def _quick(**overrides) -> TrainSettings:
    values = dict(batch_size=1, max_steps=2, checkpoint_every=100, lora_rank=2, ema_decay=None)
    return TrainSettings(**{**values, **overrides})


class OptimizerSteps:
    """Every optimizer step taken inside the block, seen through torch's global optimizer hooks: per parameter group
    its ``role`` (the training loop tags agent i's group with it; the z optimizer's group has none), the learning rate
    the step ran with, and the parameters just before and just after it."""

    def __init__(self) -> None:
        self.steps: list[list[dict]] = []
        self._before: dict[int, list[list[torch.Tensor]]] = {}

    def __enter__(self) -> "OptimizerSteps":
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        self._handles = [register_optimizer_step_pre_hook(self._pre), register_optimizer_step_post_hook(self._post)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()

    def _pre(self, optimizer, args, kwargs) -> None:
        self._before[id(optimizer)] = [[p.detach().clone() for p in g["params"]] for g in optimizer.param_groups]

    def _post(self, optimizer, args, kwargs) -> None:
        before = self._before.pop(id(optimizer))
        self.steps.append(
            [
                {"role": group.get("role"), "lr": group["lr"], "before": old,
                 "after": [p.detach().clone() for p in group["params"]]}
                for group, old in zip(optimizer.param_groups, before, strict=True)
            ]
        )  # fmt: skip

    def agent_steps(self) -> list[dict[str, dict]]:
        """The agents' weight updates, one ``{role: group}`` per training step."""
        return [{g["role"]: g for g in step} for step in self.steps if step[0]["role"] is not None]

    def z_steps(self) -> list[dict]:
        """The modulation optimizer's steps (one group holding every z_i, in the order of the trained agents)."""
        return [step[0] for step in self.steps if step[0]["role"] is None]


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{path.name}/{key}": value for path in sorted(folder.glob("*.safetensors"))
            for key, value in load_file(str(path)).items()}  # fmt: skip


@pytest.mark.slow
def test_training_lowers_the_loss_and_reaches_adapters_and_every_z(data, tmp_path):
    # A high rate: 30 steps must show the loss falling on a LoRA of rank 2 over tiny attention layers.
    settings = _quick(max_steps=30, learning_rate=1e-2, checkpoint_every=10)
    # One sample, fixed: overfitting it is the point (gradients flow), not generalising.
    one = tmp_path / "one"
    one.mkdir()
    write_metadata(one, [_sample(one, "p001-v1", 2)])
    result = train(one, tmp_path / "run", settings)
    before, after = result.probe_loss
    # The probe is a fixed batch under fixed noise (measured: 0.904 -> 0.820); training losses fall too.
    assert after < before * 0.95, (before, after)
    log = read_log(tmp_path / "run")
    assert [entry["step"] for entry in log] == list(range(1, 31))
    first, last = (sum(entry["loss"] for entry in part) / 5 for part in (log[:5], log[-5:]))
    assert last < first, (first, last)
    # z moved for every agent, and the log's norms are the saved z's norms.
    initial = load_file(str(tmp_path / "run" / INITIAL_MODULATION))
    final = load_file(str(tmp_path / "run" / ADAPTERS / "modulation.safetensors"))
    for role in ("text_to_image", "image_to_video"):
        assert not torch.equal(initial[role], final[role]), role
        assert float(final[role].norm()) == pytest.approx(log[-1]["z_norm"][role], rel=1e-6)
    # The adapters moved away from a fresh LoRA (whose B matrices are zero).
    trained = _tensors(tmp_path / "run" / FINAL_STATE)
    for role in ("text_to_image", "image_to_video"):
        ups = [value for key, value in trained.items() if key.startswith(f"trained-{role}") and "lora_B" in key]
        assert ups and all(float(value.abs().sum()) > 0 for value in ups), role
    assert {p.name for p in (tmp_path / "run" / "checkpoints").iterdir()} == {
        "step-000010",
        "step-000020",
        "step-000030",
    }


@pytest.mark.slow
def test_each_agent_steps_at_alpha_times_eta_from_its_updated_z(data, tmp_path):
    """Algorithm 1, lines 10-14, as the optimizers saw them: z_i is updated first, then agent i's weights at the
    learning rate ||z_i|| / n * eta of that updated z_i (n = 2 agents)."""
    eta, n, roles = 1e-3, 2, ("text_to_image", "image_to_video")
    # A large eta_z moves ||z_i|| by about a percent a step: a rate taken from the z before its update is caught.
    settings = _quick(max_steps=3, learning_rate=eta, modulation_learning_rate=5e-2)
    with OptimizerSteps() as seen:
        train(data, tmp_path / "run", settings)
    agent_steps, z_steps = seen.agent_steps(), seen.z_steps()
    assert len(agent_steps) == len(z_steps) == 3, "one z step and one weight step per training step"
    log = read_log(tmp_path / "run")
    for step, (agents, z) in enumerate(zip(agent_steps, z_steps, strict=True), start=1):
        assert set(agents) == set(roles)
        for role, z_before, z_after in zip(roles, z["before"], z["after"], strict=True):
            applied = agents[role]["lr"]
            expected = float(torch.linalg.vector_norm(z_after)) / n * eta
            stale = float(torch.linalg.vector_norm(z_before)) / n * eta
            assert applied == pytest.approx(expected, rel=1e-6), (step, role)
            assert abs(stale - expected) > 1e-4 * expected, "z did not move enough to tell before from after"
            # The log reports the rate that was applied, and the alpha it came from.
            assert log[step - 1]["lr"][role] == pytest.approx(applied, rel=1e-12)
            assert log[step - 1]["alpha"][role] * eta == pytest.approx(applied, rel=1e-12)
            if step == 1:
                # AdamW's first step moves each weight by lr * g / (|g| + eps), i.e. by lr wherever the gradient is
                # not tiny; LoRA's B matrices start at zero, so weight decay adds nothing to their change.
                moved = [
                    float((after - before).abs().max())
                    for before, after in zip(agents[role]["before"], agents[role]["after"], strict=True)
                    if not before.any()
                ]
                assert moved and max(moved) == pytest.approx(applied, rel=1e-3), (role, max(moved), applied)
    # The z the optimizer produced last is the z the run saved for this agent (so the roles above were matched).
    final = load_file(str(tmp_path / "run" / ADAPTERS / "modulation.safetensors"))
    for role, z_after in zip(roles, z_steps[-1]["after"], strict=True):
        assert torch.equal(final[role].reshape(z_after.shape), z_after), role


def _kill_at_step(command: list[str], log: Path, step: int, timeout: float = 300) -> None:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if log.is_file() and any(json.loads(line)["step"] >= step for line in log.read_text().splitlines() if line):
                process.send_signal(signal.SIGKILL)
                process.wait()
                return
            if process.poll() is not None:
                pytest.fail(f"training ended before step {step}: {process.stderr.read()[-2000:]}")
            time.sleep(0.02)
        pytest.fail("training did not reach the step in time")
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
def test_kill_between_checkpoints_then_resume_equals_an_uninterrupted_run(data, tmp_path):
    args = ["--max-steps", "12", "--checkpoint-every", "4", "--batch-size", "1", "--lora-rank", "2", "--lr", "1e-3"]
    args += ["--no-evaluate"]
    whole = tmp_path / "whole"
    settings = _quick(max_steps=12, checkpoint_every=4, learning_rate=1e-3, ema_decay=0.999)
    train(data, whole, settings)

    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "mora_agents.cli", "learn", "train", str(data), "--out", str(killed), *args]
    _kill_at_step(command, killed / "log.jsonl", 6)
    assert not (killed / ADAPTERS).exists()
    assert (killed / "checkpoints" / "step-000004").is_dir()
    resumed = train(data, killed, settings, resume=True)
    assert resumed.resumed_from in (4, 8)
    assert [entry["step"] for entry in read_log(killed)] == list(range(1, 13))
    for folder in (ADAPTERS, FINAL_STATE):
        expected, got = _tensors(whole / folder), _tensors(killed / folder)
        for role in ("text_to_image", "image_to_video"):
            expected.update(_tensors(whole / folder / role))
            got.update(_tensors(killed / folder / role))
        assert expected.keys() == got.keys() and expected
        for key in expected:
            assert torch.equal(expected[key], got[key]), key


@pytest.mark.slow
def test_no_modulation_trains_the_same_agents_and_leaves_no_z(data, tmp_path):
    run = tmp_path / "plain"
    with OptimizerSteps() as seen:
        train(data, run, _quick(modulation="off"))
    files = {path.relative_to(run).as_posix() for path in run.rglob("*") if path.is_file()}
    assert not any("modulation" in name for name in files), sorted(files)
    assert (run / ADAPTERS / "text_to_image").is_dir() and (run / ADAPTERS / "image_to_video").is_dir()
    for entry in read_log(run):
        assert "alpha" not in entry and "z_norm" not in entry
    # What the optimizer ran with: eta itself for both agents (alpha_i = 1), and no z optimizer at all.
    assert not seen.z_steps() and len(seen.agent_steps()) == 2
    for agents in seen.agent_steps():
        assert {role: group["lr"] for role, group in agents.items()} == {"text_to_image": 1e-5, "image_to_video": 1e-5}


@pytest.mark.slow
def test_fixed_modulation_appends_z_without_moving_it(data, tmp_path):
    run = tmp_path / "fixed"
    with OptimizerSteps() as seen:
        train(data, run, _quick(modulation="fixed", agents="a4", learning_rate=1e-3))
    initial = load_file(str(run / INITIAL_MODULATION))
    final = load_file(str(run / ADAPTERS / "modulation.safetensors"))
    assert list(final) == ["image_to_video"] and torch.equal(initial["image_to_video"], final["image_to_video"])
    # Nothing optimises z, and A4 (n = 1) steps at ||z_init|| * eta every time.
    assert not seen.z_steps() and len(seen.agent_steps()) == 2
    expected = float(initial["image_to_video"].norm()) * 1e-3
    for agents in seen.agent_steps():
        assert list(agents) == ["image_to_video"]
        assert agents["image_to_video"]["lr"] == pytest.approx(expected, rel=1e-6)


def test_bad_data_and_bad_resume_are_one_sentence(data, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.jsonl").write_text('{"file_name": "samples/x/video.mp4"\n')
    result = subprocess.run(
        [sys.executable, "-m", "mora_agents.cli", "learn", "train", str(broken), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "line 1" in result.stderr and "not JSON" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()
    with pytest.raises(MoraError, match="no training run"):
        train(data, tmp_path / "nothing", _quick(), resume=True)
    with pytest.raises(MoraError, match="unknown agent 'a9'"):
        from mora_agents.learning.settings import parse_settings

        parse_settings(agents="a2,a9")
