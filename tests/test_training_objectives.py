"""The trainable agents on the tiny profile: teacher-forced losses, LoRA, the modulation token (Mora Algorithm 1)."""

import re

import pytest
import torch

from mora_agents.errors import MoraError
from mora_tools.adapters.modulation import (
    MOD_TOKEN,
    ModulationEmbedding,
    attach_modulation,
    load_modulation,
    save_modulation,
)
from mora_tools.loading.profiles import load_profile
from mora_tools.training.base import TRAINABLE_ROLES, ImageToVideoBatch, TextToImageBatch
from mora_tools.training.load import load_trainable_agent

ROLES = list(TRAINABLE_ROLES)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sample_batch(role: str):
    """One fixed target: a 32x32 image, or a 2-frame 32x32 video whose first frame is its condition."""
    pixels = torch.rand(1, 2, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    if role == "text_to_image":
        return TextToImageBatch(prompts=["a red kite over a green hill"], images=pixels[:, 0])
    return ImageToVideoBatch(first_frames=pixels[:, 0], videos=pixels, fps=8, prompts=["a red kite"])


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


@pytest.fixture
def agent(request, tiny_profile):
    return load_trainable_agent(tiny_profile, request.param)


def frozen_parts(agent):
    return [
        module for name, module in agent.pipe.components.items() if name != "unet" and hasattr(module, "parameters")
    ]


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_loss_is_finite_and_drawn_from_the_generator_only(agent):
    batch = sample_batch(agent.role)
    first = agent.loss(batch, seeded(0))
    assert first.ndim == 0 and torch.isfinite(first)
    torch.manual_seed(123)  # the global generator must play no part
    assert torch.equal(agent.loss(batch, seeded(0)), first)
    assert not torch.equal(agent.loss(batch, seeded(1)), first)
    # A gamma below every noise level's SNR caps every weight: the loss must change.
    plain, capped = agent.loss(batch, seeded(0), snr_gamma=None), agent.loss(batch, seeded(0), snr_gamma=1e-4)
    assert torch.isfinite(plain) and torch.isfinite(capped) and capped < plain
    assert agent.denoiser.training
    assert all(not module.training for module in frozen_parts(agent))


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_lora_trains_only_the_attention_projections(agent):
    batch = sample_batch(agent.role)
    before = agent.loss(batch, seeded(0))
    params = agent.add_lora(rank=4)
    # A fresh adapter (lora_B = 0) leaves the denoiser's output exactly as it was.
    assert torch.equal(agent.loss(batch, seeded(0)), before)
    trainable = {id(p) for p in params}
    named = dict(agent.denoiser.named_parameters())
    assert params and {name for name, p in named.items() if id(p) in trainable} == {
        name for name in named if ".lora_" in name
    }
    assert all(p.requires_grad == (id(p) in trainable) for p in agent.denoiser.parameters())
    assert all(not p.requires_grad for module in frozen_parts(agent) for p in module.parameters())
    targets = {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in named if ".lora_" in name}
    assert targets == {"to_q", "to_k", "to_v", "0"}  # to_out.0 ends in "0"
    agent.loss(batch, seeded(0)).backward()
    lora_b = {name: p for name, p in named.items() if ".lora_B." in name}
    # SVD's temporal cross-attention attends to ONE image-embedding token: a softmax over one key is 1 whatever q and
    # k are, so their adapters get no gradient (exactly 0 on today's torch, rounding noise on older builds).
    one_key = {
        name for name in lora_b if ".temporal_transformer_blocks." in name and re.search(r"\.attn2\.to_[qk]\.", name)
    }
    assert bool(one_key) == (agent.role == "image_to_video")
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for name, p in lora_b.items() if name not in one_key)
    assert all(p.grad is not None and float(p.grad.abs().max()) < 1e-6 for name, p in lora_b.items() if name in one_key)
    assert all(p.grad is None for p in agent.denoiser.parameters() if id(p) not in trainable)


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_full_fine_tuning_and_lora_are_alternatives(agent):
    params = agent.full_parameters()
    assert len(params) == len(list(agent.denoiser.parameters())) and all(p.requires_grad for p in params)
    with pytest.raises(MoraError, match="add_lora"):
        agent.add_lora()


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_modulation_token_is_appended_and_learns(agent):
    z0 = agent.modulation_init()
    modulation = ModulationEmbedding(z0)
    seen = []

    def spy(module, args, kwargs):
        seen.append(args[2] if len(args) > 2 else kwargs["encoder_hidden_states"])

    attach_modulation(agent.denoiser, modulation)
    # Attaching again replaces the hook: one token, not two.
    attach_modulation(agent.denoiser, modulation)
    agent.denoiser.register_forward_pre_hook(spy, with_kwargs=True)
    agent.add_lora()
    agent.loss(sample_batch(agent.role), seeded(0)).backward()
    (conditioning,) = seen
    expected_tokens = 77 + 1 if agent.role == "text_to_image" else 1 + 1
    assert conditioning.shape == (1, expected_tokens, agent.conditioning_dim)
    assert torch.equal(conditioning[:, -1].float(), modulation.z.detach())
    assert modulation.z.grad is not None and modulation.z.grad.abs().sum() > 0


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_a_few_steps_lower_the_loss(agent):
    batch = sample_batch(agent.role)
    modulation = ModulationEmbedding(agent.modulation_init())
    attach_modulation(agent.denoiser, modulation)
    params = agent.add_lora(rank=4)
    optimizer = torch.optim.AdamW([*params, modulation.z], lr=1e-3)
    losses = []
    for _ in range(20):
        # The same noise every step: the loss of one fixed sample must go down.
        loss = agent.loss(batch, seeded(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.99 * losses[0], losses
    assert not torch.equal(modulation.z.detach(), agent.modulation_init()), "z is trained too"


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(agent):
    params = agent.add_lora()
    with torch.no_grad():
        for p in params:
            p.normal_(0, 0.02, generator=seeded(3))  # non-zero lora_B, so lora_A gets gradients too
    batch = sample_batch(agent.role)
    loss = agent.loss(batch, seeded(0))
    loss.backward()
    grads = [p.grad.clone() for p in params]
    agent.denoiser.zero_grad()
    agent.enable_gradient_checkpointing()
    again = agent.loss(batch, seeded(0))
    again.backward()
    assert torch.allclose(again, loss)
    assert all(torch.allclose(p.grad, g, atol=1e-6) for p, g in zip(params, grads, strict=True))
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("agent", ROLES, indirect=True)
def test_modulation_init_is_the_agents_own_embedding_of_mod(agent):
    z0 = agent.modulation_init()
    assert z0.shape == (1, agent.denoiser.config.cross_attention_dim) and z0.dtype == torch.float32
    assert torch.isfinite(z0).all() and z0.norm() > 0
    assert torch.equal(agent.modulation_init(), z0)
    pipe = agent.pipe
    if agent.role == "text_to_image":
        # The [Mod] tokens' positions (after BOS) in both encoders' penultimate states, as encode_prompt builds e_i.
        embeds = pipe.encode_prompt(MOD_TOKEN, device="cpu", do_classifier_free_guidance=False)[0]
        count = len(pipe.tokenizer(MOD_TOKEN).input_ids) - 2
        assert count > 0
        assert torch.allclose(z0, embeds[:, 1 : 1 + count].mean(dim=1))
        assert not torch.allclose(z0, embeds.mean(dim=1)), "BOS, EOS and padding are left out"
    else:
        # SVD sees images only: [Mod] is a picture of the text, through its own CLIP image encoder.
        from PIL import Image

        blank = pipe._encode_image(Image.new("RGB", (224, 224), "white"), "cpu", 1, False)[:, 0]
        assert not torch.allclose(z0, blank)


def test_dtype_is_honoured(tiny_profile):
    agent = load_trainable_agent(tiny_profile, "text_to_image", dtype=torch.bfloat16)
    assert agent.denoiser.dtype == torch.bfloat16 and agent.pipe.text_encoder.dtype == torch.bfloat16
    params = agent.add_lora()
    # Trainable weights stay float32 for the optimizer; the frozen model keeps the precision asked for.
    assert all(p.dtype == torch.float32 for p in params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = agent.loss(sample_batch("text_to_image"), seeded(0))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


@pytest.mark.parametrize(("role", "model", "pipeline"), [
    ("text_to_image", "tiny/flux", "FluxPipeline"),
    ("image_to_video", "tiny/wan-i2v", "WanImageToVideoPipeline"),
])  # fmt: skip
def test_unsupported_families_are_refused_by_name(role, model, pipeline):
    with pytest.raises(MoraError) as caught:
        load_trainable_agent(load_profile("tiny-modern"), role)
    message = str(caught.value)
    assert role in message and f"'{model}'" in message and pipeline in message
    assert "StableDiffusionXLPipeline" in message and "StableVideoDiffusionPipeline" in message
    assert "\n" not in message


def test_unknown_role_is_refused(tiny_profile):
    with pytest.raises(MoraError, match="cannot train role 'image_to_image'"):
        load_trainable_agent(tiny_profile, "image_to_image")


def test_modulation_embedding_shapes_norm_and_files(tmp_path):
    z = ModulationEmbedding(torch.tensor([3.0, 4.0]))
    assert z.z.shape == (1, 2) and z.z.dtype == torch.float32 and z.z.requires_grad
    assert torch.isclose(z.norm(), torch.tensor(5.0))
    assert torch.equal(ModulationEmbedding(torch.tensor([[3.0, 4.0]])).z, z.z)
    with pytest.raises(ValueError, match=r"\(dim,\) or \(1, dim\)"):
        ModulationEmbedding(torch.zeros(2, 3))
    # Both rows of a classifier-free-guidance batch get the token.
    appended = z.append_to(torch.zeros(2, 5, 2, dtype=torch.float16))
    assert appended.shape == (2, 6, 2) and appended.dtype == torch.float16
    assert torch.equal(appended[:, -1], torch.tensor([[3.0, 4.0]] * 2, dtype=torch.float16))
    path = tmp_path / "modulation.safetensors"
    save_modulation(path, {"text_to_image": z.z, "image_to_video": torch.ones(3)})
    loaded = load_modulation(path)
    assert torch.equal(loaded["text_to_image"], z.z.detach()) and loaded["image_to_video"].shape == (1, 3)


@pytest.mark.parametrize("content", [b"not a safetensors file", None])
def test_a_bad_modulation_file_is_one_sentence(tmp_path, content):
    path = tmp_path / "modulation.safetensors"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MoraError) as caught:
        load_modulation(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
