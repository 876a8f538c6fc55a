"""The `mora` command line end to end: real agents, real pipelines (tiny), the embedded LLM.

Most tests call the typer app in this process with typer's ``CliRunner`` (the same commands, exit codes and output
streams, without a cold interpreter start for each). A fresh process is used only where it is the point: the
installed ``mora`` entry point, settings read once at import time, and what ``mora --help`` imports."""

import json
import os
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import imageio.v2 as imageio
import pytest
from typer.testing import CliRunner

from mora_agents.cli import app
from mora_agents.media import video_info
from mora_agents.workspace import RunManifest, sha256_file

PROMPT = "a corgi running along a beach at sunset"
MORA = Path(sysconfig.get_path("scripts")) / "mora"
"""The console script ``pip install`` made for this interpreter (``[project.scripts]``)."""


def mora(*args, env=None):
    """Run the CLI in this process; stdout and stderr are captured apart, as a shell sees them."""
    return CliRunner().invoke(app, [str(arg) for arg in args], env=env)


def installed_mora(*args, env=None):
    """Run the installed ``mora`` command in a fresh process, as a user would."""
    assert MORA.is_file(), f"no {MORA}: `pip install -e .` installs the mora entry point"
    return subprocess.run(
        [str(MORA), *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def generate(out, *extra, env=None):
    return mora("generate", "text-to-video", "--prompt", PROMPT, "--profile", "tiny", "--review", "auto",
                "--out", str(out), *extra, env=env)  # fmt: skip


def failure(result) -> str:
    """What to show when a command did not do what was expected."""
    return f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = generate(out, "--duration", "4", "--seed", "11")
    assert result.exit_code == 0, failure(result)
    (run_dir,) = out.iterdir()
    return run_dir, result


@pytest.mark.slow
def test_generate_writes_a_playable_video_and_a_valid_manifest(first_run):
    run_dir, result = first_run
    manifest = RunManifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.status == "completed" and manifest.profile == "tiny" and manifest.request.seed == 11
    assert manifest.llm.startswith("embedded:SmolLM2")
    assert manifest.enhanced_prompt is not None and manifest.enhanced_prompt.prompt.strip()
    assert [s.id for s in manifest.stages] == ["enhance", "first_frame", "animate"]
    assert all(s.status == "completed" for s in manifest.stages)
    video = run_dir / "video.mp4"
    assert manifest.output.path == "video.mp4" and str(video) in result.stdout
    # Read it back: 4 s x 8 fps = 32 frames of the requested 64x64.
    reader = imageio.get_reader(video, format="FFMPEG")
    frames = [frame for frame in reader]
    reader.close()
    assert len(frames) == 32 == manifest.output.num_frames
    assert frames[0].shape == (64, 64, 3)
    assert manifest.output.sha256 == sha256_file(video)
    first_frame = manifest.stages[1].iterations[-1].output
    assert (run_dir / "first_frame.png").read_bytes() == (run_dir / first_frame.path).read_bytes()
    assert first_frame.sha256 == sha256_file(run_dir / "first_frame.png")
    assert first_frame.model_id == "tiny/sdxl-base + tiny/sdxl-refiner"
    assert manifest.output.segments == 5 and manifest.output.parameters["fps"] == 8
    assert not list(run_dir.rglob(".*partial*")), "no temporary files are left behind"


@pytest.mark.slow
def test_same_seed_gives_a_byte_identical_first_frame(first_run, tmp_path):
    run_dir, _ = first_run
    # In the same process as the first run: nothing but the seed may decide the picture (no leftover RNG state).
    for folder, seed in (("same", "11"), ("other", "12")):
        result = generate(tmp_path / folder, "--duration", "0.5", "--seed", seed)
        assert result.exit_code == 0, failure(result)
    (same,) = (tmp_path / "same").iterdir()
    (other,) = (tmp_path / "other").iterdir()
    original = (run_dir / "first_frame.png").read_bytes()
    assert (same / "first_frame.png").read_bytes() == original
    assert (other / "first_frame.png").read_bytes() != original


def assert_one_clear_sentence(result, *phrases):
    # CliRunner results have exit_code, processes returncode: both are checked by the same rule.
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code == 2, (result.stdout, result.stderr)
    assert getattr(result, "exception", None) is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0]


def test_paper_profile_without_weights_fails_clearly(tmp_path):
    result = generate(tmp_path / "runs", "--profile", "paper")
    assert_one_clear_sentence(result, "stabilityai/stable-diffusion-xl-base-1.0", "hf download")
    assert not (tmp_path / "runs").exists(), "nothing is created before the models are known to be there"


def test_paper_profile_fails_in_one_sentence_when_the_hub_is_unreachable(tmp_path):
    # Not told to stay offline, and the Hub endpoint (a closed loopback port here) does not answer. A fresh process:
    # huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT once, when it is imported.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{closed_port}"}
    result = installed_mora("generate", "text-to-video", "--prompt", PROMPT, "--profile", "paper", "--review", "auto",
                            "--out", str(tmp_path / "runs"), env=env)  # fmt: skip
    assert_one_clear_sentence(result, "not on this machine")
    assert not (tmp_path / "runs").exists()


def test_a_profile_file_naming_no_folder_and_no_valid_repo_id_fails_in_one_sentence(tmp_path):
    # Before: huggingface_hub's HFValidationError came out as a traceback.
    tiny = (Path(__file__).parents[1] / "mora_tools/loading/profiles/tiny.yaml").read_text()
    profile = tmp_path / "broken.yaml"
    profile.write_text(tiny.replace("base: tiny/sdxl-base", "base: not a//repo").replace("name: tiny", "name: broken"))
    result = generate(tmp_path / "runs", "--profile", str(profile))
    assert_one_clear_sentence(result, "'not a//repo'", "profile 'broken'", "neither a folder", "repo id")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["generate", "dance", "--prompt", "x"], "unknown task 'dance'"),
        (["generate", "text-to-video", "--prompt", "x", "--profile", "huge"], "unknown profile 'huge'"),
        (["generate", "text-to-video", "--prompt", "x", "--review", "scripted"], "--decision"),
        (["generate", "text-to-video", "--prompt", "x", "--review", "telepathy"], "unknown review mode"),
        (["generate", "text-to-video", "--prompt", "x", "--llm", "oracle"], "unknown LLM backend 'oracle'"),
        (["generate", "text-to-video", "--prompt", "  "], "must not be empty"),
        (["generate", "missing.yaml", "--prompt", "x"], "cannot read SOP file missing.yaml"),
    ],
)
def test_bad_input_gets_one_sentence_and_exit_2(args, phrase, tmp_path):
    assert_one_clear_sentence(mora(*args, "--out", str(tmp_path)), phrase)


def test_out_folder_blocked_by_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = mora("generate", "text-to-video", "--prompt", "x", "--duration", "0.5", "--out", str(blocker))
    assert_one_clear_sentence(result, "cannot create the run folder")


def test_the_installed_command_helps_without_torch_and_exits_2_on_bad_input(tmp_path):
    # A fresh interpreter: in this one, other tests have long imported torch.
    code = "import sys; from mora_agents import cli; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr
    # The console script itself: its exit codes are what shells and scripts see.
    helped = installed_mora("--help")
    assert helped.returncode == 0 and "generate" in helped.stdout, helped.stderr
    assert_one_clear_sentence(installed_mora("generate", "dance", "--out", str(tmp_path)), "unknown task 'dance'")


@pytest.mark.slow
def test_manifest_json_is_plain_json(first_run):
    run_dir, _ = first_run
    data = json.loads((run_dir / "manifest.json").read_text())
    assert data["stages"][2]["iterations"][0]["output"]["kind"] == "video"


@pytest.mark.slow
def test_storyboard_runs_from_an_extra_sop_dir_without_new_python(tmp_path):
    examples = Path(__file__).parents[1] / "examples" / "sop"
    listed = mora("sop", "list", "--sop-dir", str(examples))
    assert "storyboard" in listed.stdout and "--sop-dir" in listed.stdout
    result = mora(
        "generate", "storyboard", "--sop-dir", str(examples), "--out", str(tmp_path),
        "--input", "scene1=a seed in dark soil", "--input", "scene2=a green sprout in the rain",
        "--input", "scene3=a tree in full bloom", "--input", "scene_duration=1",
    )  # fmt: skip
    assert result.exit_code == 0, failure(result)
    (run_dir,) = tmp_path.iterdir()
    manifest = RunManifest.model_validate_json((run_dir / "manifest.json").read_text())
    # Three 1 s scenes and two 1 s transitions at 8 fps.
    assert manifest.output.parameters["frames_per_part"] == [8, 8, 8, 8, 8]
    assert video_info(run_dir / "video.mp4")["num_frames"] == 40
    assert {s.agent for s in manifest.stages} == {"text_to_image", "image_to_video", "video_connection"}


def test_a_user_sop_overrides_a_builtin_one(tmp_path):
    override = tmp_path / "text_to_video.yaml"
    builtin = Path(__file__).parents[1] / "sop" / "text_to_video.yaml"
    override.write_text(builtin.read_text().replace("Make a video from a text description alone.", "Mine."))
    listed = mora("sop", "list", "--sop-dir", str(tmp_path))
    assert listed.exit_code == 0, failure(listed)
    lines = listed.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("text_to_video "))
    assert "--sop-dir (overrides 1:" in lines[index] and str(override) in lines[index]
    assert lines[index + 1].strip() == "Mine."
    assert "Mine." in mora("sop", "show", "text-to-video", "--sop-dir", str(tmp_path)).stdout


def test_sop_validate_reports_each_file(tmp_path):
    good = Path(__file__).parents[1] / "sop" / "extend_video.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nsteps:\n  - id: a\n    agent: A9\noutput: a\n")
    result = mora("sop", "validate", str(good), str(bad))
    assert result.exit_code == 2
    assert "ok" in result.stdout and "extend_video" in result.stdout
    assert f"{bad}:5 steps[0].agent: unknown agent 'A9'" in result.stderr


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--prompt", "x", "--video", "clip.mp4"], "task 'text_to_video' has no input 'video'"),
        (["--prompt", "x", "--input", "oops"], "--input 'oops' is not key=value"),
    ],
)
def test_inputs_the_task_does_not_take(args, phrase, tmp_path):
    assert_one_clear_sentence(mora("generate", "text-to-video", *args, "--out", str(tmp_path)), phrase)


def test_missing_or_corrupt_media_inputs(tmp_path):
    result = mora("generate", "extend-video", "--video", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "r"))
    assert_one_clear_sentence(result, "video file not found")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    result = mora("generate", "extend-video", "--video", str(corrupt), "--out", str(tmp_path / "r"))
    assert_one_clear_sentence(result, "corrupt.mp4 is not a readable video")


@pytest.mark.parametrize("command", ["generate", "run", "chat", "serve", "batch"])
def test_every_command_that_makes_a_studio_takes_the_shared_options(command):
    from dataclasses import fields

    from typer.main import get_command

    from mora_agents.cli.options import StudioOptions

    params = {param.name for param in get_command(app).commands[command].params}
    assert {field.name for field in fields(StudioOptions)} <= params


def test_the_shared_options_become_the_studio_config():
    from mora_agents.cli.options import StudioOptions, studio_config

    options = StudioOptions(llm="none", device="cpu", dtype="float32", memory="keep", compile=True, engine="local")
    config = studio_config(options, profile="tiny", review="judge", judges=["metric"], decisions=["accept"])
    assert (config.profile, config.review, config.judges, config.decisions) == ("tiny", "judge", ["metric"], ["accept"])
    assert (config.llm, config.device, config.dtype, config.memory, config.compile) == (
        "none",
        "cpu",
        "float32",
        "keep",
        True,
    )
    assert (config.adapters, config.engine, config.ray_address) == (None, "local", None)
