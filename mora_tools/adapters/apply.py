"""Generating with what a ``mora learn train`` run trained: each role's LoRA (or full denoiser) and modulation token.

An adapters folder (``RUN/adapters``) holds one folder per trained role (:mod:`mora_tools.adapters.lora` lists the
formats) and ``modulation.safetensors`` (absent when trained without modulation). :func:`apply_adapters` loads a
role's part into a generation pipeline and appends its modulation token with the same hook training used
(:func:`mora_tools.adapters.modulation.attach_modulation`), so the denoiser sees ``[e_i; z_i]`` at every step, in both
halves of a classifier-free-guidance batch.

Nothing escapes the folder given: the adapters folder must lie inside the run folder named (``RUN/adapters`` may not
be a symlink to elsewhere), and no symlink under it may point out of it, since diffusers and peft open the weight
files by name (:func:`mora_agents.containment.check_tree_inside`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mora_agents.containment import check_tree_inside, resolve_inside
from mora_agents.errors import MoraError

ADAPTERS_SUBDIR = "adapters"
"""Where a training run keeps its adapters."""
ADAPTER_ROLES = ("text_to_image", "image_to_video")


def _holds_adapters(folder: Path) -> bool:
    from mora_tools.adapters.lora import adapter_kind
    from mora_tools.adapters.modulation import MODULATION_FILE

    if not folder.is_dir():
        return False
    return (folder / MODULATION_FILE).is_file() or any(adapter_kind(folder / role) for role in ADAPTER_ROLES)


def adapters_dir(path: str | Path) -> Path:
    """The adapters folder ``path`` names: a training run's folder (its ``adapters/``) or an adapters folder.

    Args:
        path (`str` or `Path`): ``RUN`` or ``RUN/adapters``.

    Returns:
        The absolute adapters folder.

    Raises:
        MoraError: neither ``path`` nor ``path/adapters`` holds a role's adapter or a modulation file; or the
            adapters folder, or a symlink under it, leads out of ``path``.
    """
    folder = Path(path).expanduser()
    for candidate in (folder / ADAPTERS_SUBDIR, folder):
        if _holds_adapters(candidate):
            what = f"adapters '{path}'"
            root = resolve_inside(folder, candidate.relative_to(folder), what=what, folder="the run folder")
            check_tree_inside(root, what=what, folder="the adapters folder")
            return root
    what = "does not exist" if not folder.exists() else "holds no adapters"
    raise MoraError(
        f"adapters '{path}' {what}: give a `mora learn train` run folder or its adapters/ folder "
        f"(a {'/'.join(ADAPTER_ROLES)} folder with LoRA weights, or modulation.safetensors)"
    )


def apply_adapters(pipe: Any, role: str, adapters: str | Path | None) -> dict[str, Any]:
    """Load ``role``'s trained adapter into ``pipe``'s denoiser and attach its modulation token.

    The LoRA goes in with the library's own loader (``pipe.load_lora_weights`` for SDXL; peft for SVD), a full
    fine-tune's weights replace the denoiser's in place, and the modulation hook is attached when the adapters'
    ``modulation.safetensors`` holds ``role``.

    Args:
        pipe (`DiffusionPipeline`): the generation pipeline (SDXL base, SVD).
        role (`str`): ``text_to_image`` or ``image_to_video``.
        adapters (`str` or `Path`, *optional*): a training run or adapters folder; ``None``: nothing to apply.

    Returns:
        What was applied, for the manifest's parameters (``path``, ``weights``, ``rank``, ``trained_on``,
        ``modulation_norm``, ...); ``{}`` when the adapters hold nothing for ``role``.

    Raises:
        MoraError: the adapters do not fit ``pipe`` (another pipeline class or model size), or are unreadable.
    """
    if adapters is None:
        return {}
    from mora_tools.adapters.lora import adapter_kind, read_adapter_info
    from mora_tools.adapters.modulation import MODULATION_FILE, ModulationEmbedding, attach_modulation, load_modulation

    root = adapters_dir(adapters)
    role_dir = root / role
    kind = adapter_kind(role_dir)
    modulation = load_modulation(root / MODULATION_FILE) if (root / MODULATION_FILE).is_file() else {}
    if kind is None and role not in modulation:
        return {}
    denoiser = _denoiser(pipe, role)
    info = read_adapter_info(role_dir) if kind else {}
    trained_for = info.get("pipeline")
    if trained_for and trained_for != type(pipe).__name__:
        raise MoraError(
            f"the {role} adapter in {role_dir} was trained for {trained_for} ('{info.get('model')}'), "
            f"but this profile's {role} model is a {type(pipe).__name__}: generate with the profile it was trained on"
        )
    applied: dict[str, Any] = {"path": str(root)}
    if kind is not None:
        try:
            _load_weights(pipe, denoiser, role_dir, kind)
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise MoraError(
                f"cannot apply the {role} adapter in {role_dir} to '{type(pipe).__name__}' ({reason[:200]}): "
                f"it was trained on '{info.get('model', 'another model')}'; generate with the profile it was trained on"
            ) from None
        applied["weights"] = {"full": "full denoiser", "lora-diffusers": "LoRA", "lora-peft": "LoRA"}[kind]
        for key in ("rank", "alpha"):
            if info.get(key) is not None and kind != "full":
                applied[key] = info[key]
        if info.get("model"):
            applied["trained_on"] = info["model"]
    if role in modulation:
        z = modulation[role]
        expected = getattr(denoiser.config, "cross_attention_dim", None)
        if isinstance(expected, int) and z.shape[-1] != expected:
            raise MoraError(
                f"the {role} modulation embedding in {root / MODULATION_FILE} has width {z.shape[-1]}, but this "
                f"profile's {role} denoiser conditions on width {expected}: generate with the profile it was trained on"
            )
        token = ModulationEmbedding(z).requires_grad_(False)
        attach_modulation(denoiser, token.to(denoiser.device))
        applied["modulation"] = True
        applied["modulation_norm"] = round(float(token.norm()), 6)
    return applied


def _denoiser(pipe: Any, role: str) -> Any:
    denoiser = getattr(pipe, "unet", None)
    if denoiser is None:
        raise MoraError(
            f"this profile's {role} model ({type(pipe).__name__}) has no UNet: mora's adapters are for SDXL "
            "(text_to_image) and Stable Video Diffusion (image_to_video)"
        )
    return denoiser


def _load_weights(pipe: Any, denoiser: Any, role_dir: Path, kind: str) -> None:
    """Put a role folder's weights into ``pipe``'s denoiser (see :mod:`mora_tools.adapters.lora` for the formats)."""
    import torch

    from mora_tools.adapters.lora import FULL_DENOISER_DIR, load_peft_lora

    if kind == "lora-diffusers":
        if not hasattr(pipe, "load_lora_weights"):
            raise ValueError(f"{type(pipe).__name__} cannot load diffusers LoRA weights")
        pipe.load_lora_weights(str(role_dir), adapter_name="mora")
    elif kind == "lora-peft":
        load_peft_lora(denoiser, role_dir)
    else:
        from safetensors.torch import load_file

        files = sorted((role_dir / FULL_DENOISER_DIR).glob("*.safetensors"))
        if not files:
            raise ValueError(f"no .safetensors weights in {role_dir / FULL_DENOISER_DIR}")
        state: dict[str, torch.Tensor] = {}
        for file in files:  # a sharded save has several
            state.update(load_file(str(file)))
        # In place: the pipeline's placement (device, CPU offload hooks, compile) stays as it is.
        with torch.no_grad():
            denoiser.load_state_dict(state, strict=True)
