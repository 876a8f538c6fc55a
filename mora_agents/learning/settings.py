"""The settings of one ``mora learn train`` run: the paper's App. A.9 as defaults, ablations as switches.

One schema, stored as ``RUN/train.json`` so a resumed run can refuse different settings in one sentence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mora_agents.errors import MoraError

ROLE_ALIASES = {
    "a2": "text_to_image",
    "text_to_image": "text_to_image",
    "text-to-image": "text_to_image",
    "a4": "image_to_video",
    "image_to_video": "image_to_video",
    "image-to-video": "image_to_video",
}
"""What ``--agents`` accepts for each trainable role."""

MODULATION_MODES = ("learned", "fixed", "off")


class TrainSettings(BaseModel):
    """How to fine-tune the agents (Algorithm 1; defaults from the paper's App. A.9)."""

    model_config = ConfigDict(extra="forbid")

    agents: list[str] = Field(default_factory=lambda: ["text_to_image", "image_to_video"], min_length=1)
    """The trained agents, in chain order (A2 draws the first frame, A4 animates it)."""
    profile: str = "tiny"
    """The model profile whose pipelines are fine-tuned (the one that made the data)."""
    learning_rate: float = Field(default=1e-5, gt=0)
    """eta: the base learning rate; agent i trains with alpha_i * eta (constant schedule, no warm-up)."""
    modulation_learning_rate: float | None = Field(default=None, gt=0)
    """eta_z for the modulation embeddings; ``None``: the same as ``learning_rate``."""
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    max_steps: int = Field(default=12, ge=1)
    checkpoint_every: int = Field(default=4, ge=1)
    snr_gamma: float | None = Field(default=5.0, gt=0)
    """Min-SNR-gamma loss weighting; ``None`` turns it off."""
    ema_decay: float | None = Field(default=0.999, gt=0, lt=1)
    """EMA of the trained weights from step 0 (diffusers' ``EMAModel``); ``None``: no EMA. The saved adapters are
    the EMA weights, as diffusers' training scripts save them."""
    gradient_checkpointing: bool = True
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"
    """``auto``: bf16 on a GPU that has it, else fp16 on a GPU, else full precision (CPU)."""
    lora_rank: int = Field(default=4, ge=1)
    full_finetune: bool = False
    """Train every denoiser weight instead of LoRA adapters."""
    modulation: Literal["learned", "fixed", "off"] = "learned"
    """``learned``: Algorithm 1; ``fixed``: z_i appended but not optimised (Table 6 "fixed z"); ``off``: plain
    end-to-end fine-tuning with no z at all (Table 6 "w/o self-modulation")."""
    seed: int = Field(default=0, ge=0)
    """Seeds the data order and every step's noise: a resumed run repeats an uninterrupted one exactly."""

    @field_validator("agents", mode="before")
    @classmethod
    def _roles(cls, value):
        items = value.split(",") if isinstance(value, str) else list(value)
        roles = []
        for item in items:
            key = str(item).strip().lower()
            if key not in ROLE_ALIASES:
                raise ValueError(
                    f"unknown agent '{item}': trainable agents are a2 (text_to_image), a4 (image_to_video)"
                )
            roles.append(ROLE_ALIASES[key])
        ordered = [role for role in ("text_to_image", "image_to_video") if role in roles]
        if not ordered:
            raise ValueError("name at least one agent to train: a2, a4")
        return ordered

    @property
    def eta_z(self) -> float:
        return self.modulation_learning_rate or self.learning_rate


def parse_settings(**values) -> TrainSettings:
    """Build settings from CLI values (``None`` means the default), errors as one sentence."""
    from pydantic import ValidationError

    given = {key: value for key, value in values.items() if value is not None}
    try:
        return TrainSettings(**given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise MoraError(f"training setting {where}: {message}") from None


__all__ = ["MODULATION_MODES", "ROLE_ALIASES", "TrainSettings", "parse_settings"]
