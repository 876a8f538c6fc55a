"""Self-modulation embeddings (Mora, Algorithm 1): one learned token ``z_i`` per agent, appended to what that agent's
denoiser is conditioned on, ``[e_i; z_i]``, on every forward pass, in training and in generation alike.

``z_i`` starts as the agent's own encoder's embedding of the special token ``[Mod]`` (see
:meth:`mora_tools.training.base.TrainableAgent.modulation_init`) and is trained with the agent's weights; its norm
scales the agent's learning rate (``alpha_i = ||z_i|| / n``). :func:`attach_modulation` is the one place the token is
appended: the training loss and the generation tools (:func:`mora_tools.adapters.apply.apply_adapters`) both go through
it, so a trained ``z_i`` is seen at generation exactly as it was during training.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import torch

from mora_agents.errors import MoraError

MOD_TOKEN = "[Mod]"
"""The special token whose embedding initialises every agent's modulation (paper: ``z_i = E_i("[Mod]")``)."""
MODULATION_FILE = "modulation.safetensors"
"""File of an adapters folder holding the trained modulation embeddings, one tensor per role."""

# The hook attached to each denoiser, so attaching again replaces it instead of appending a second token.
_ATTACHED: weakref.WeakKeyDictionary[torch.nn.Module, torch.utils.hooks.RemovableHandle] = weakref.WeakKeyDictionary()


class ModulationEmbedding(torch.nn.Module):
    """z_i: one learned token appended to a denoiser's encoder_hidden_states (paper Algorithm 1).

    Args:
        init (`torch.Tensor`): the initial embedding, of shape ``(dim,)`` or ``(1, dim)``; copied, in float32
            whatever the denoiser's precision (the token is cast to the conditioning's dtype when appended).
    """

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        if init.ndim == 2 and init.shape[0] == 1:
            init = init[0]
        if init.ndim != 1 or init.numel() == 0:
            raise ValueError(f"`init` must have shape (dim,) or (1, dim), got {tuple(init.shape)}")
        self.z = torch.nn.Parameter(init.detach().to(torch.float32).clone().reshape(1, -1))

    @property
    def dim(self) -> int:
        """The embedding's width: the denoiser's cross-attention width."""
        return self.z.shape[-1]

    def norm(self) -> torch.Tensor:
        """``||z||_2`` as a scalar tensor (the paper's modulation factor, before dividing by the number of agents)."""
        return torch.linalg.vector_norm(self.z)

    def append_to(self, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """``[e; z]``: ``(B, L, D)`` -> ``(B, L + 1, D)``, the same ``z`` for every row (both halves of a
        classifier-free-guidance batch included); differentiable in ``z``."""
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[-1] != self.dim:
            raise ValueError(
                f"modulation of width {self.dim} cannot be appended to encoder_hidden_states of shape "
                f"{tuple(encoder_hidden_states.shape)}: expected (batch, tokens, {self.dim})"
            )
        batch = encoder_hidden_states.shape[0]
        token = self.z.to(encoder_hidden_states).expand(batch, 1, self.dim)
        return torch.cat([encoder_hidden_states, token], dim=1)


def attach_modulation(denoiser: torch.nn.Module, modulation: ModulationEmbedding) -> torch.utils.hooks.RemovableHandle:
    """Append ``modulation``'s token to the conditioning of every call of ``denoiser``.

    A forward pre-hook: it sees ``encoder_hidden_states`` whether the caller passes it by keyword (the diffusers
    pipelines) or as the third positional argument (training code, ``unet(sample, t, ehs, ...)``), for SDXL's
    ``UNet2DConditionModel`` (text tokens, ``(B, 77, 2048)`` -> ``(B, 78, 2048)``) and SVD's
    ``UNetSpatioTemporalConditionModel`` (the image embedding, ``(B, 1, 1024)`` -> ``(B, 2, 1024)``). An
    ``encoder_attention_mask``, when given, gets a column of ones so the token is attended to. One modulation per
    denoiser: attaching again replaces the previous hook.

    Args:
        denoiser (`torch.nn.Module`): the UNet.
        modulation (`ModulationEmbedding`): the token; gradients flow to its ``z``.

    Returns:
        The hook's handle: ``handle.remove()`` detaches the modulation.
    """

    def append(module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]] | None:
        if kwargs.get("encoder_hidden_states") is not None:
            kwargs["encoder_hidden_states"] = modulation.append_to(kwargs["encoder_hidden_states"])
        elif len(args) > 2 and args[2] is not None:
            args = (*args[:2], modulation.append_to(args[2]), *args[3:])
        else:
            return None  # nothing to condition on: nothing to append to
        mask = kwargs.get("encoder_attention_mask")
        if mask is not None:
            kwargs["encoder_attention_mask"] = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        return args, kwargs

    previous = _ATTACHED.pop(denoiser, None)
    if previous is not None:
        previous.remove()
    handle = denoiser.register_forward_pre_hook(append, with_kwargs=True)
    _ATTACHED[denoiser] = handle
    return handle


def save_modulation(path: Path, embeddings: dict[str, torch.Tensor]) -> None:
    """Write the modulation embeddings to a safetensors file, one ``(1, dim)`` float32 tensor per role.

    Args:
        path (`Path`): the file, normally ``ADAPTERS/modulation.safetensors`` (:data:`MODULATION_FILE`).
        embeddings (`dict[str, torch.Tensor]`): role name (``text_to_image``, ``image_to_video``) -> ``z`` of shape
            ``(dim,)`` or ``(1, dim)``, e.g. ``{role: modulation.z}``.
    """
    from safetensors.torch import save_file

    tensors = {role: z.detach().to("cpu", torch.float32).reshape(1, -1).contiguous() for role, z in embeddings.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt", "mora": "modulation"})


def load_modulation(path: Path) -> dict[str, torch.Tensor]:
    """Read the embeddings :func:`save_modulation` wrote.

    Args:
        path (`Path`): the safetensors file.

    Returns:
        Role name -> ``z`` of shape ``(1, dim)``, float32 on the CPU.

    Raises:
        MoraError: the file is missing, is not safetensors, or holds something other than one vector per role.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MoraError(
            f"cannot read modulation embeddings from {path} ({reason}): "
            "it should be the modulation.safetensors a `mora learn train` run wrote"
        ) from None
    for role, z in tensors.items():
        if z.ndim not in (1, 2) or (z.ndim == 2 and z.shape[0] != 1) or not z.is_floating_point():
            raise MoraError(
                f"modulation embedding '{role}' in {path} has shape {tuple(z.shape)} ({z.dtype}), "
                "expected one float vector (1, dim) per role"
            )
    return {role: z.to(torch.float32).reshape(1, -1) for role, z in tensors.items()}
