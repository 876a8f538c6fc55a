"""What every trainable agent shares (paper Algorithm 1, tools side): the teacher-forced batches and
:class:`TrainableAgent`, the base class of :class:`~mora_tools.training.text_to_image.TextToImageTrainer` and
:class:`~mora_tools.training.image_to_video.ImageToVideoTrainer`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mora_agents.errors import MoraError

if TYPE_CHECKING:
    import torch

TRAINABLE_ROLES = ("text_to_image", "image_to_video")
"""Roles whose denoiser can be fine-tuned: A2 (SDXL base) and A4 (SVD)."""


@dataclass
class TextToImageBatch:
    """A2's teacher-forced batch: prompts and the target first frames they should give."""

    prompts: list[str]
    """The (enhanced) prompts, one per image."""
    images: torch.Tensor
    """``(B, 3, H, W)`` in ``[-1, 1]``: the target videos' first frames."""


@dataclass
class ImageToVideoBatch:
    """A4's teacher-forced batch: the target videos and their own first frames as the condition."""

    first_frames: torch.Tensor
    """``(B, 3, H, W)`` in ``[-1, 1]``: the frame the video starts from (the target's own first frame)."""
    videos: torch.Tensor
    """``(B, F, 3, H, W)`` in ``[-1, 1]``: the target videos; ``F`` is the number of frames denoised."""
    fps: int
    """The videos' frame rate (SVD's micro-conditioning gets ``fps - 1``, as its pipeline passes)."""
    prompts: list[str]
    """The prompts; SVD has no text conditioning and ignores them."""


class TrainableAgent(ABC):
    """One agent's model prepared for fine-tuning: encoders and VAE frozen in eval mode, the denoiser in train mode.

    Call :meth:`add_lora` (LoRA on the attention projections) or :meth:`full_parameters` (every denoiser weight)
    once to choose what trains; until then nothing in the denoiser requires gradients.

    Attributes:
        role (`str`): ``text_to_image`` or ``image_to_video``.
        pipe (`DiffusionPipeline`): the loaded pipeline (its encoders and VAE are used by :meth:`loss`).
        denoiser (`torch.nn.Module`): the UNet being adapted (``pipe.unet``); :meth:`loss` calls it, so it may be
            replaced by its ``accelerator.prepare`` wrapper (DDP, autocast).
        model (`str`): the profile's model reference.
        device (`torch.device`), dtype (`torch.dtype`): where and in which precision the pipeline was loaded.
    """

    role: str

    def __init__(self, pipe: Any, model: str, device: str, dtype: torch.dtype) -> None:
        import torch

        self.pipe = pipe
        self.model = model
        self.device = torch.device(device)
        self.dtype = dtype
        self.denoiser: torch.nn.Module = pipe.unet
        self.mode: str | None = None
        """``lora`` or ``full`` once :meth:`add_lora` / :meth:`full_parameters` chose; ``None`` before."""
        self.lora_rank: int | None = None
        self.lora_alpha: float | None = None
        # Frozen, deterministic parts: no dropout, no gradients.
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                component.requires_grad_(False)
                component.eval()
        self.denoiser.train()

    @property
    def unet(self) -> torch.nn.Module:
        """The pipeline's own denoiser module, never a wrapper: what LoRA is injected into and what is saved, even
        after ``agent.denoiser = accelerator.prepare(agent.denoiser)`` (which :meth:`loss` then calls)."""
        return self.pipe.unet

    @property
    def conditioning_dim(self) -> int:
        """The width of the denoiser's ``encoder_hidden_states`` (and so of the modulation token)."""
        return int(self.unet.config.cross_attention_dim)

    @abstractmethod
    def modulation_init(self) -> torch.Tensor:
        """``(1, D)``: the agent's own encoder's embedding of :data:`mora_tools.adapters.modulation.MOD_TOKEN`,
        float32."""

    @abstractmethod
    def loss(self, batch: Any, generator: torch.Generator, snr_gamma: float | None = 5.0) -> torch.Tensor:
        """The teacher-forced denoising loss of ``batch`` (a scalar tensor, float32).

        Args:
            batch: the role's batch (:class:`TextToImageBatch` or :class:`ImageToVideoBatch`).
            generator (`torch.Generator`): a CPU generator; every random draw (noise, timesteps or noise levels,
                VAE samples) comes from it, so the same generator state gives the same loss.
            snr_gamma (`float`, *optional*, defaults to 5.0): Min-SNR-gamma loss weighting (paper App. A.9: 5.0);
                ``None``: the objective's plain weighting.
        """

    def add_lora(self, rank: int = 4, alpha: float | None = None) -> list[torch.nn.Parameter]:
        """Add LoRA to the denoiser's attention projections (``to_q``, ``to_k``, ``to_v``, ``to_out.0``) and freeze
        every other weight.

        ``lora_B`` starts at zero, so a fresh adapter changes nothing. When the denoiser is in half precision the LoRA
        weights are kept in float32 (as diffusers' ``cast_training_params``), so the optimizer updates them exactly;
        run the forward pass under autocast (Accelerate's ``mixed_precision``) then.

        Args:
            rank (`int`, defaults to 4): the LoRA rank.
            alpha (`float`, *optional*): ``lora_alpha``; ``None``: ``rank``.

        Returns:
            The trainable LoRA parameters (the only denoiser parameters with ``requires_grad``).
        """
        import torch

        from mora_tools.adapters.lora import lora_config, lora_parameters

        self._choose_mode("lora")
        self.unet.requires_grad_(False)
        self._inject_lora(lora_config(rank, alpha))
        self.lora_rank, self.lora_alpha = rank, float(alpha if alpha is not None else rank)
        params = lora_parameters(self.unet)
        for parameter in params:
            parameter.requires_grad_(True)
            if parameter.dtype != torch.float32:
                parameter.data = parameter.data.to(torch.float32)
        return params

    def full_parameters(self) -> list[torch.nn.Parameter]:
        """Full fine-tuning: every denoiser weight trains (load in float32 and use autocast for mixed precision).

        Returns:
            All the denoiser's parameters.
        """
        self._choose_mode("full")
        self.unet.requires_grad_(True)
        return list(self.unet.parameters())

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the denoiser's activations in the backward pass (diffusers' non-reentrant checkpointing, so
        LoRA weights get gradients even though the denoiser's inputs need none)."""
        self.unet.enable_gradient_checkpointing()

    def save_adapter(self, directory: Path) -> None:
        """Write what was trained into ``directory``, the role's own folder (``ADAPTERS/<role>``).

        LoRA: diffusers' LoRA format for SDXL, peft's for SVD; full fine-tuning: ``directory / "denoiser"`` in
        ``save_pretrained`` format. ``mora_adapter.json`` records the model, the pipeline class and the settings.
        :func:`mora_tools.adapters.apply.apply_adapters` reads any of these back into a generation pipeline.

        Raises:
            MoraError: neither :meth:`add_lora` nor :meth:`full_parameters` was called.
        """
        from mora_tools.adapters.lora import FULL_DENOISER_DIR, write_adapter_info

        directory = Path(directory)
        if self.mode is None:
            raise MoraError(f"nothing to save for {self.role}: call add_lora() or full_parameters() before training it")
        directory.mkdir(parents=True, exist_ok=True)
        if self.mode == "full":
            self.unet.save_pretrained(directory / FULL_DENOISER_DIR)
        else:
            self._save_lora(directory)
        write_adapter_info(
            directory,
            {
                "role": self.role,
                "model": self.model,
                "pipeline": type(self.pipe).__name__,
                "denoiser": type(self.unet).__name__,
                "mode": self.mode,
                "rank": self.lora_rank,
                "alpha": self.lora_alpha,
                "conditioning_dim": self.conditioning_dim,
            },
        )

    def _choose_mode(self, mode: str) -> None:
        if self.mode is not None:
            raise MoraError(
                f"{self.role} is already set up for {self.mode} training: add_lora() and full_parameters() "
                "are alternatives, call one of them once"
            )
        self.mode = mode

    @abstractmethod
    def _inject_lora(self, config: Any) -> None: ...

    @abstractmethod
    def _save_lora(self, directory: Path) -> None: ...
