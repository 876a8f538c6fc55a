"""Loading a role's model for fine-tuning: :func:`load_trainable_agent` picks the role's trainer.

Example:
    ```python
    agent = load_trainable_agent(load_profile("tiny"), "text_to_image")
    params = agent.add_lora(rank=4)
    modulation = ModulationEmbedding(agent.modulation_init())
    attach_modulation(agent.denoiser, modulation)
    loss = agent.loss(TextToImageBatch(["a red kite"], images), torch.Generator().manual_seed(0))
    loss.backward()
    agent.save_adapter(run / "adapters" / agent.role)
    save_modulation(run / "adapters" / MODULATION_FILE, {agent.role: modulation.z})
    ```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mora_agents.errors import MoraError
from mora_tools.cache import quiet_libraries
from mora_tools.loading.models import check_model, load_pipeline, resolve_model
from mora_tools.training.base import TRAINABLE_ROLES, TrainableAgent
from mora_tools.training.image_to_video import ImageToVideoTrainer
from mora_tools.training.text_to_image import TextToImageTrainer

if TYPE_CHECKING:
    import torch

    from mora_tools.loading.profiles import ModelProfile

SUPPORTED_PIPELINES = {
    "text_to_image": ("StableDiffusionXLPipeline",),
    "image_to_video": ("StableVideoDiffusionPipeline",),
}
"""The pipeline classes (``model_index.json``'s ``_class_name``) each trainable role supports."""

SUPPORTED_FAMILIES = (
    "SDXL-like text-to-image (StableDiffusionXLPipeline with a UNet2DConditionModel) and "
    "Stable Video Diffusion (StableVideoDiffusionPipeline)"
)


def load_trainable_agent(
    profile: ModelProfile, role: str, device: str = "cpu", dtype: torch.dtype | None = None
) -> TrainableAgent:
    """Load ``role``'s model of ``profile`` for fine-tuning, with the same loading code as generation.

    Only the text-to-image *base* pipeline is loaded and trained; an SDXL refiner stays as it is (it finishes the
    last denoising steps at generation and is not adapted).

    Args:
        profile (`ModelProfile`): the model profile.
        role (`str`): ``text_to_image`` or ``image_to_video``.
        device (`str`, defaults to ``"cpu"``): where the pipeline goes.
        dtype (`torch.dtype`, *optional*, defaults to float32): the pipeline's precision (frozen weights too).

    Raises:
        MoraError: an unknown role, a model family mora cannot train (FLUX, Wan, ...), or missing weights.
    """
    import torch

    if role not in TRAINABLE_ROLES:
        raise MoraError(f"cannot train role '{role}': trainable roles are {', '.join(TRAINABLE_ROLES)}")
    dtype = dtype or torch.float32
    settings = getattr(profile, role)
    reference = settings.base if role == "text_to_image" else settings.model
    label = "text_to_image base" if role == "text_to_image" else role
    check_model(reference, label, profile.name)
    quiet_libraries()
    from diffusers import DiffusionPipeline

    # Decide on model_index.json before loading: refusing a FLUX or Wan checkpoint must not cost loading it.
    try:
        class_name = DiffusionPipeline.load_config(resolve_model(reference)).get("_class_name")
    except (OSError, ValueError) as error:
        raise MoraError(f"cannot read model '{reference}' ({role}): {str(error).splitlines()[0]}") from None
    if class_name not in SUPPORTED_PIPELINES[role]:
        raise MoraError(
            f"cannot train {role} model '{reference}' ({class_name}, profile '{profile.name}'): "
            f"mora fine-tunes {SUPPORTED_FAMILIES}"
        )
    # load_pipeline takes its precision from the profile: hand it one whose dtype is the one asked for.
    dtype_name = str(dtype).removeprefix("torch.")
    loading_profile = profile.model_copy(
        update={"dtype": dtype_name, role: settings.model_copy(update={"dtype": None})}
    )
    pipe = load_pipeline(DiffusionPipeline, reference, role=label, profile=loading_profile, device=device)
    if role == "text_to_image":
        return TextToImageTrainer(pipe, reference, device, dtype, settings)
    return ImageToVideoTrainer(pipe, reference, device, dtype, settings)
