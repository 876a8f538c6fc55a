"""Model profiles as data: every shipped file validates, broken ones name file and field, `mora models`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from mora_agents.errors import MoraError
from mora_tools.loading.catalog import format_bytes, profile_status
from mora_tools.loading.memory import ModelMemory
from mora_tools.loading.models import profile_models
from mora_tools.loading.profiles import PROFILE_DIR, available_profiles, load_profile


def mora(*args):
    return subprocess.run(
        [sys.executable, "-m", "mora_agents.cli", *args], capture_output=True, text=True, timeout=120, env=os.environ
    )


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_validates(name):
    profile = load_profile(name)
    assert profile.name == name, "a profile's name must match its file name"
    assert profile.memory.policy in ("free", "offload", "keep")


def test_the_expected_profiles_ship():
    assert {"paper", "tiny"} <= set(available_profiles())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"image_to_video": {"fps": "fast"}}, "image_to_video.fps"),
        ({"memory": {"policy": "hoard"}}, "memory.policy"),
        ({"memory": {"budget_gb": -1}}, "memory.budget_gb"),
        ({"text_to_image": {"width": 1000}}, "text_to_image"),
        ({"source": "ftp"}, "source"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_broken_profile_names_its_file_and_field(tmp_path, change, where):
    data = yaml.safe_load((PROFILE_DIR / "tiny.yaml").read_text())
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(MoraError) as error:
        load_profile(str(path))
    assert str(error.value).startswith(f"{path}: {where}")


def test_an_unknown_memory_policy_is_one_sentence():
    with pytest.raises(MoraError, match="unknown memory policy 'hoard': choose one of free, offload, keep"):
        ModelMemory("hoard")


def test_models_check_paper_lists_every_missing_model_and_exits_2():
    result = mora("models", "check", "paper")
    assert result.returncode == 2, result.stdout + result.stderr
    references = [reference for _, reference in profile_models(load_profile("paper"))]
    assert len(references) == 4
    for reference in references:
        assert f"missing {reference}" in result.stderr and f"hf download {reference}" in result.stderr
    assert "error: 4 of 4 models of profile 'paper' are missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_models_check_tiny_passes_and_shows_sizes_once_built(tiny_profile):
    profile_status(tiny_profile)  # nothing is built by looking
    from mora_tools.loading.models import resolve_model

    resolve_model(tiny_profile.image_to_video.model)
    statuses = {s.reference: s for s in profile_status(tiny_profile)}
    svd = statuses[tiny_profile.image_to_video.model]
    assert svd.state == "present" and svd.size_bytes > 100_000
    result = mora("models", "check", "tiny")
    assert result.returncode == 0, result.stderr
    assert "all 5 models are available" in result.stdout.replace("\n", " ")


def test_models_list_shows_every_profile():
    result = mora("models", "list")
    assert result.returncode == 0, result.stderr
    for name in available_profiles():
        assert f"{name} (" in result.stdout


@pytest.mark.parametrize(("size", "text"), [(None, "-"), (512, "512 B"), (1536, "1.5 KiB"), (3 * 2**30, "3.0 GiB")])
def test_sizes_read_like_sizes(size, text):
    assert format_bytes(size) == text


def test_a_wrong_memory_policy_or_dtype_on_the_command_line_is_one_sentence(tmp_path):
    for option, message in ((["--memory", "hoard"], "unknown memory policy 'hoard'"),
                            (["--dtype", "float8"], "unknown dtype 'float8'")):  # fmt: skip
        result = mora("generate", "text-to-video", "--prompt", "x", "--out", str(tmp_path), *option)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert not any(tmp_path.iterdir()), "a run folder was made for a request that could not run"


def test_a_role_dtype_overrides_the_profile_and_the_device_default(tiny_profile):
    import torch

    from mora_tools.loading.models import choose_device

    profile = tiny_profile.model_copy(
        update={"text_to_image": tiny_profile.text_to_image.model_copy(update={"dtype": "bfloat16"})}
    )
    assert choose_device(profile, "cpu", "text_to_image base").dtype == torch.bfloat16
    assert choose_device(profile, "cpu", "image_to_video").dtype == torch.float32  # the CPU default
    half = profile.model_copy(update={"dtype": "float16"})
    assert choose_device(half, "cpu", "image_to_video").dtype == torch.float16


def test_asking_for_cuda_without_a_gpu_is_one_sentence(tiny_profile):
    import torch

    from mora_agents.errors import ModelUnavailableError
    from mora_tools.loading.models import choose_device

    if torch.cuda.is_available():
        assert choose_device(tiny_profile, "cuda").device == "cuda"
    else:
        with pytest.raises(ModelUnavailableError, match="device 'cuda' was asked for, but torch sees no CUDA GPU"):
            choose_device(tiny_profile, "cuda")


def test_a_new_role_is_a_settings_class_and_a_profile_field():
    """Loading, checking and `mora models` read each role through its settings: a new role needs no edit there."""
    from mora_tools.loading.models import check_profile
    from mora_tools.loading.profiles import ModelProfile, RoleSettings

    class UpscalerSettings(RoleSettings):
        model: str

    class WithUpscaler(ModelProfile):
        upscaler: UpscalerSettings

    tiny = load_profile("tiny")
    profile = WithUpscaler(**tiny.model_dump(), upscaler={"model": "acme/upscaler-x4"})
    assert ("upscaler", "acme/upscaler-x4") in profile_models(profile)
    assert [s.role for s in profile_status(profile)][-1] == "upscaler"
    check_profile(profile, {"text_to_image"})  # the tiny models are fine; the upscaler is not asked for
    with pytest.raises(MoraError, match="acme/upscaler-x4"):
        check_profile(profile, {"upscaler"})
