"""Model profiles: which model plays each role, and how it is called. One YAML file per profile here.

A profile is data (``tools/profiles/<name>.yaml``), validated by :class:`ModelProfile`; code never
branches on a profile's name, only on its fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mora_agents.errors import MoraError

PROFILE_DIR = Path(__file__).parent


class TextToImageSettings(BaseModel):
    """A2: an SDXL-style base pipeline, optionally handing over to a refiner."""

    model_config = ConfigDict(extra="forbid")

    base: str
    """Hugging Face id or local folder of the base pipeline."""
    refiner: str | None = None
    """Refiner pipeline (shares ``text_encoder_2`` and ``vae`` with the base); ``None`` to skip."""
    steps: int = Field(ge=1)
    refiner_start: float = Field(default=0.8, gt=0, lt=1)
    """Fraction of the denoising schedule after which the refiner takes over."""
    guidance_scale: float = Field(default=5.0, ge=0)
    width: int = Field(ge=16)
    height: int = Field(ge=16)
    negative_prompt: str | None = None

    @model_validator(mode="after")
    def _size_multiple_of_16(self) -> TextToImageSettings:
        # /8 for the VAE, and even numbers for H.264: 16 keeps both true for every frame we write.
        if self.width % 16 or self.height % 16:
            raise ValueError(f"width and height must be multiples of 16, got {self.width}x{self.height}")
        return self


class ImageToVideoSettings(BaseModel):
    """A4: an SVD-style image-to-video pipeline, chained segment by segment."""

    model_config = ConfigDict(extra="forbid")

    model: str
    frames_per_segment: int = Field(ge=2)
    fps: int = Field(ge=1, le=60)
    steps: int = Field(ge=1)
    motion_bucket_id: int = Field(default=127, ge=0)
    noise_aug_strength: float = Field(default=0.02, ge=0)
    decode_chunk_size: int = Field(default=8, ge=1)
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0


class ImageToImageSettings(BaseModel):
    """A3: an instruction-following image editor (InstructPix2Pix-style)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    steps: int = Field(ge=1)
    guidance_scale: float = Field(default=7.5, ge=0)
    """How strongly the edit follows the instruction."""
    image_guidance_scale: float = Field(default=1.5, ge=0)
    """How strongly the edit stays close to the input image."""


class VideoConnectionSettings(BaseModel):
    """A5: a transition between two clips, conditioned on clip 1's last and clip 2's first frame."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["first_last_frame", "a4_blend"]
    """``first_last_frame``: a pipeline conditioned on both end frames (``model``); ``a4_blend``: A4 animates
    clip 1's last frame and the frames are cross-faded toward clip 2's first frame (for profiles whose
    models have no first+last-frame conditioning)."""
    model: str | None = None
    """The first+last-frame pipeline (a Wan2.1 FLF2V-style ``WanImageToVideoPipeline``); unused by ``a4_blend``."""
    steps: int = Field(default=30, ge=1)
    guidance_scale: float = Field(default=5.0, ge=0)
    negative_prompt: str | None = None

    @model_validator(mode="after")
    def _model_matches_method(self) -> VideoConnectionSettings:
        if self.method == "first_last_frame" and not self.model:
            raise ValueError("method 'first_last_frame' needs a model")
        return self


class ModelProfile(BaseModel):
    """A named set of models, one per agent role."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    source: Literal["hub", "tiny"]
    """``hub``: load by Hugging Face id or local path; ``tiny``: build random-weight miniatures locally."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    text_to_image: TextToImageSettings
    image_to_image: ImageToImageSettings
    image_to_video: ImageToVideoSettings
    video_connection: VideoConnectionSettings


def available_profiles() -> list[str]:
    """Names of the profiles shipped with mora."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> ModelProfile:
    """Load a shipped profile by name, or a profile YAML file by path.

    Raises:
        MoraError: unknown name, unreadable file, or a file that does not validate.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(available_profiles())
            raise MoraError(f"unknown profile '{name_or_path}': choose one of {known}, or give a profile .yaml file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MoraError(f"cannot read profile {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise MoraError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    try:
        return ModelProfile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise MoraError(f"{path}: {where}: {first['msg']}") from None
