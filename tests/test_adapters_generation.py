"""Generating with a training run's adapters (LoRA + modulation) through the real tools and the `mora` command."""

import json

import numpy as np
import pytest
import torch

from mora_agents.errors import MoraError
from mora_tools.adapters.apply import adapters_dir, apply_adapters
from mora_tools.adapters.modulation import MODULATION_FILE, save_modulation
from mora_tools.pipelines.image_to_video import ImageToVideoTool
from mora_tools.pipelines.text_to_image import TextToImageTool
from mora_tools.training.base import TRAINABLE_ROLES
from mora_tools.training.load import load_trainable_agent
from tests.cli_in_process import mora_here

RANK, ALPHA = 4, 8.0  # alpha != rank: loading must get the LoRA's scale right, not only its shapes


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_run(root, tiny_profile, lora_scale: float, modulation: bool) -> dict:
    """A training run's folder as `mora learn train` leaves it: RUN/adapters/<role>/ + modulation.safetensors.

    Nothing is trained: lora_B gets random values of ``lora_scale`` (0: a LoRA that changes nothing) and ``z`` is
    the agent's [Mod] embedding nudged away from its initial value. Returns the agents, adapters in place.
    """
    agents, embeddings = {}, {}
    for index, role in enumerate(TRAINABLE_ROLES):
        agent = load_trainable_agent(tiny_profile, role)
        params = agent.add_lora(rank=RANK, alpha=ALPHA)
        generator = torch.Generator().manual_seed(index)
        with torch.no_grad():
            for name, parameter in agent.denoiser.named_parameters():
                if ".lora_B." in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * lora_scale)
        assert params
        agent.save_adapter(root / "adapters" / role)
        z0 = agent.modulation_init()
        embeddings[role] = z0 + 0.5 * torch.randn(z0.shape, generator=generator)
        agents[role] = agent
    if modulation:
        save_modulation(root / "adapters" / MODULATION_FILE, embeddings)
    return {"agents": agents, "z": embeddings}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_profile):
    root = tmp_path_factory.mktemp("train-run")
    return root, write_run(root, tiny_profile, lora_scale=0.05, modulation=True)


@pytest.fixture(scope="module")
def zeroed(tmp_path_factory, tiny_profile):
    root = tmp_path_factory.mktemp("zero-run")
    write_run(root, tiny_profile, lora_scale=0.0, modulation=False)
    return root


@pytest.fixture(scope="module")
def adapted_tools(trained, tiny_profile):
    root, _ = trained
    return (
        TextToImageTool.from_profile(tiny_profile, "cpu", adapters=root),
        ImageToVideoTool.from_profile(tiny_profile, "cpu", adapters=root / "adapters"),
    )


def video(tool, image, seed=0):
    frames = []
    tool(image, num_frames=3, seed=seed, on_frame=frames.append)
    return np.stack([np.asarray(frame) for frame in frames])


def test_adapters_change_the_first_frame_and_the_video(adapted_tools, text_to_image_tool, image_to_video_tool, trained):
    root, _ = trained
    text_tool, video_tool = adapted_tools
    plain, adapted = text_to_image_tool("a red kite", seed=3), text_tool("a red kite", seed=3)
    assert not np.array_equal(np.asarray(plain.image), np.asarray(adapted.image))
    assert "adapters" not in plain.parameters
    recorded = adapted.parameters["adapters"]
    assert (
        recorded["path"] == str((root / "adapters").resolve())
        and recorded["weights"] == "LoRA"
        and recorded["modulation"]
    )
    assert recorded["rank"] == RANK and recorded["alpha"] == ALPHA and recorded["trained_on"] == "tiny/sdxl-base"
    # The same first frame animated with and without A4's adapter.
    assert not np.array_equal(video(image_to_video_tool, plain.image), video(video_tool, plain.image))
    frames = []
    output = video_tool(plain.image, num_frames=2, seed=0, on_frame=frames.append)
    assert output.parameters["adapters"]["trained_on"] == "tiny/svd"


def test_a_zero_lora_without_modulation_changes_nothing(zeroed, tiny_profile, text_to_image_tool, image_to_video_tool):
    assert not (zeroed / "adapters" / MODULATION_FILE).exists()
    text_tool = TextToImageTool.from_profile(tiny_profile, "cpu", adapters=zeroed)
    video_tool = ImageToVideoTool.from_profile(tiny_profile, "cpu", adapters=zeroed)
    assert text_tool.adapters["weights"] == "LoRA" and "modulation" not in text_tool.adapters
    plain = text_to_image_tool("a red kite", seed=3).image
    assert np.array_equal(np.asarray(text_tool("a red kite", seed=3).image), np.asarray(plain))
    assert np.array_equal(video(video_tool, plain), video(image_to_video_tool, plain))


def test_generation_sees_the_denoiser_training_saw(trained, adapted_tools):
    """The adapted pipeline's UNet computes what the training agent's UNet (LoRA + [e; z]) computed."""
    from mora_tools.adapters.modulation import ModulationEmbedding, attach_modulation

    _, run = trained
    generator = torch.Generator().manual_seed(0)
    for role, pipe in zip(TRAINABLE_ROLES, (adapted_tools[0].base, adapted_tools[1].pipe), strict=True):
        agent = run["agents"][role]
        handle = attach_modulation(agent.denoiser, ModulationEmbedding(run["z"][role]))
        agent.denoiser.eval()
        dim = agent.conditioning_dim
        if role == "text_to_image":
            sample = torch.randn(2, 4, 8, 8, generator=generator)
            conditioning = torch.randn(2, 77, dim, generator=generator)
            extra = {"added_cond_kwargs": {"text_embeds": torch.randn(2, 32, generator=generator),
                                           "time_ids": torch.tensor([[32.0, 32, 0, 0, 32, 32]] * 2)}}  # fmt: skip
        else:
            sample = torch.randn(2, 2, 8, 8, 8, generator=generator)
            conditioning = torch.randn(2, 1, dim, generator=generator)
            extra = {"added_time_ids": torch.tensor([[7.0, 127, 0.02]] * 2)}
        timestep = torch.tensor([0.5, 0.5])
        with torch.no_grad():
            # Training passes the conditioning positionally, the pipelines by keyword: the hook sees both.
            trained_out = agent.denoiser(sample, timestep, conditioning, **extra).sample
            generation_out = pipe.unet(sample, timestep, encoder_hidden_states=conditioning, **extra).sample
            handle.remove()
            without_z = agent.denoiser(sample, timestep, conditioning, **extra).sample
        assert torch.allclose(generation_out, trained_out, atol=1e-5), role
        assert not torch.allclose(without_z, trained_out, atol=1e-4), f"{role}: z must matter"


def test_the_modulation_token_reaches_both_halves_of_guidance(adapted_tools, trained):
    _, run = trained
    text_tool, _ = adapted_tools
    seen = []
    handle = text_tool.base.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["encoder_hidden_states"]), with_kwargs=True
    )
    try:
        text_tool("a red kite", seed=0)
    finally:
        handle.remove()
    assert seen and all(states.shape == (2, 78, 64) for states in seen)  # uncond + cond, 77 tokens + z
    z = run["z"]["text_to_image"]
    assert all(torch.allclose(states[:, -1], z.expand(2, -1)) for states in seen)


def test_adapters_dir_takes_a_run_or_its_adapters_folder(trained, tmp_path):
    root, _ = trained
    assert adapters_dir(root) == adapters_dir(root / "adapters") == (root / "adapters").resolve()
    for bad, phrase in [(tmp_path / "missing", "does not exist"), (tmp_path, "holds no adapters")]:
        with pytest.raises(MoraError, match=phrase) as caught:
            adapters_dir(bad)
        assert "\n" not in str(caught.value)


def test_adapters_of_another_model_are_refused(trained, tmp_path, tiny_profile):
    import shutil

    root, _ = trained
    # SVD's adapter filed as A2's: the pipeline it was trained for is not the profile's.
    shutil.copytree(root / "adapters" / "image_to_video", tmp_path / "text_to_image")
    from diffusers import DiffusionPipeline

    from mora_tools.loading.models import resolve_model

    pipe = DiffusionPipeline.from_pretrained(resolve_model(tiny_profile.text_to_image.base))
    with pytest.raises(MoraError, match="trained for StableVideoDiffusionPipeline"):
        apply_adapters(pipe, "text_to_image", tmp_path)
    # A modulation token of the wrong width.
    shutil.rmtree(tmp_path / "text_to_image")
    save_modulation(tmp_path / MODULATION_FILE, {"text_to_image": torch.zeros(5)})
    with pytest.raises(MoraError, match="width 5"):
        apply_adapters(pipe, "text_to_image", tmp_path)
    assert apply_adapters(pipe, "image_to_video", tmp_path) == {}, "nothing there for that role"


def mora(*args):
    # In this process, on the module's one intra-op thread (as above).
    return mora_here(*args)


def generate(out, *extra):
    return mora("generate", "text-to-video", "--prompt", "a red kite", "--duration", "1", "--profile", "tiny",
                "--review", "auto", "--out", str(out), *extra)  # fmt: skip


@pytest.mark.slow
def test_generate_with_adapters_records_them_in_the_manifest(trained, tmp_path):
    root, _ = trained
    result = generate(tmp_path / "runs", "--adapters", str(root))
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    stages = {stage["id"]: stage for stage in manifest["stages"]}
    for stage, model in (("first_frame", "tiny/sdxl-base"), ("animate", "tiny/svd")):
        applied = stages[stage]["iterations"][-1]["output"]["parameters"]["adapters"]
        assert applied["path"] == str((root / "adapters").resolve()) and applied["trained_on"] == model
        assert applied["modulation"] is True


def test_generate_with_missing_adapters_is_one_sentence(tmp_path):
    result = generate(tmp_path / "runs", "--adapters", "/nonexistent")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/nonexistent" in lines[0]
    assert not (tmp_path / "runs").exists(), "nothing is created before the adapters are known to be there"


def test_a_full_fine_tune_round_trips(tiny_profile, tmp_path):
    from diffusers import DiffusionPipeline

    from mora_tools.loading.models import resolve_model

    agent = load_trainable_agent(tiny_profile, "image_to_video")
    with pytest.raises(MoraError, match="add_lora"):
        agent.save_adapter(tmp_path / "adapters" / "image_to_video")
    params = agent.full_parameters()
    with torch.no_grad():
        params[0].add_(1.0)
    agent.save_adapter(tmp_path / "adapters" / "image_to_video")
    pipe = DiffusionPipeline.from_pretrained(resolve_model(tiny_profile.image_to_video.model))
    assert not torch.equal(pipe.unet.state_dict()[next(iter(agent.denoiser.state_dict()))], params[0])
    applied = apply_adapters(pipe, "image_to_video", tmp_path)
    assert applied["weights"] == "full denoiser" and "rank" not in applied and "modulation" not in applied
    trained = agent.denoiser.state_dict()
    assert all(torch.equal(value, trained[name]) for name, value in pipe.unet.state_dict().items())
