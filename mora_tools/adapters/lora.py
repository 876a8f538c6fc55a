"""LoRA on a denoiser's attention projections, and the on-disk formats of a trained role.

A role's folder (``ADAPTERS/<role>/``) holds one of:

- ``pytorch_lora_weights.safetensors``: diffusers' LoRA format (SDXL), written by the pipeline class's
  ``save_lora_weights`` and read back by ``pipe.load_lora_weights(folder)``;
- ``adapter_config.json`` + ``adapter_model.safetensors``: peft's format (SVD, which has no diffusers LoRA loader),
  read back by injecting the same ``LoraConfig`` with ``peft.inject_adapter_in_model`` and
  ``peft.set_peft_model_state_dict``;
- ``denoiser/``: the whole fine-tuned denoiser, ``save_pretrained`` format (full fine-tuning);

plus ``mora_adapter.json``, which says which model and pipeline class it was trained on and how.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from peft import LoraConfig

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
"""The attention projections LoRA adapts, as diffusers' LoRA training examples do."""
ADAPTER_INFO = "mora_adapter.json"
DIFFUSERS_LORA_FILE = "pytorch_lora_weights.safetensors"
PEFT_CONFIG_FILE = "adapter_config.json"
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
FULL_DENOISER_DIR = "denoiser"
PEFT_ADAPTER_NAME = "default"


def lora_config(rank: int = 4, alpha: float | None = None) -> LoraConfig:
    """The ``LoraConfig`` every trained role uses.

    Args:
        rank (`int`, defaults to 4): the LoRA rank.
        alpha (`float`, *optional*): ``lora_alpha``; ``None``: ``rank`` (scale 1).
    """
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"LoRA `rank` must be at least 1, got {rank}")
    # "gaussian" initialises lora_A from a normal distribution and lora_B at zero (the diffusers examples' choice):
    # a fresh adapter leaves the denoiser's output unchanged.
    return LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else rank,
        init_lora_weights="gaussian",
        target_modules=list(LORA_TARGETS),
    )


def lora_parameters(denoiser: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The LoRA weights injected into ``denoiser`` (``lora_A`` / ``lora_B`` of every adapted projection)."""
    return [parameter for name, parameter in denoiser.named_parameters() if ".lora_" in name]


def inject_peft_lora(denoiser: torch.nn.Module, config: LoraConfig, state_dict: dict | None = None) -> None:
    """Add ``config``'s LoRA layers to ``denoiser`` with peft (adapter ``default``), optionally loading weights.

    Raises:
        ValueError: ``state_dict`` does not fit the injected layers (another model's adapter).
    """
    from peft import inject_adapter_in_model, set_peft_model_state_dict

    inject_adapter_in_model(config, denoiser, adapter_name=PEFT_ADAPTER_NAME)
    if state_dict is not None:
        result = set_peft_model_state_dict(denoiser, state_dict, adapter_name=PEFT_ADAPTER_NAME)
        unexpected = list(getattr(result, "unexpected_keys", []) or [])
        missing = [key for key in getattr(result, "missing_keys", []) or [] if ".lora_" in key]
        if unexpected or missing:
            raise ValueError(f"{len(unexpected)} unexpected and {len(missing)} missing LoRA weights")


def save_peft_lora(denoiser: torch.nn.Module, directory: Path) -> None:
    """Write ``denoiser``'s peft LoRA (``adapter_config.json`` + ``adapter_model.safetensors``) into ``directory``."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    config = denoiser.peft_config[PEFT_ADAPTER_NAME]
    state = get_peft_model_state_dict(denoiser, adapter_name=PEFT_ADAPTER_NAME)
    directory.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(directory))
    save_file(
        {key: value.detach().cpu().contiguous() for key, value in state.items()}, str(directory / PEFT_WEIGHTS_FILE)
    )


def load_peft_lora(denoiser: torch.nn.Module, directory: Path) -> LoraConfig:
    """Inject the LoRA :func:`save_peft_lora` wrote into ``denoiser``; returns its config."""
    from peft import LoraConfig
    from safetensors.torch import load_file

    config = LoraConfig.from_pretrained(str(directory))
    inject_peft_lora(denoiser, config, load_file(str(directory / PEFT_WEIGHTS_FILE)))
    return config


def adapter_kind(directory: Path) -> str | None:
    """What a role's folder holds: ``lora-diffusers``, ``lora-peft``, ``full``, or ``None`` (nothing usable)."""
    if (directory / FULL_DENOISER_DIR / "config.json").is_file():
        return "full"
    if (directory / DIFFUSERS_LORA_FILE).is_file():
        return "lora-diffusers"
    if (directory / PEFT_CONFIG_FILE).is_file() and (directory / PEFT_WEIGHTS_FILE).is_file():
        return "lora-peft"
    return None


def write_adapter_info(directory: Path, info: dict[str, Any]) -> None:
    """Write ``mora_adapter.json`` (what the role's adapter was trained on, and how)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ADAPTER_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_adapter_info(directory: Path) -> dict[str, Any]:
    """``mora_adapter.json`` of a role's folder; ``{}`` when absent or unreadable (it only describes)."""
    try:
        info = json.loads((directory / ADAPTER_INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
