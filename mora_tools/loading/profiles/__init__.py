"""Model profiles: which model plays each role, and how it is called. One YAML file per profile here.

A profile is data (``mora_tools/loading/profiles/<name>.yaml``), validated by :class:`ModelProfile`; code never
branches on a profile's name, only on its fields.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mora_agents.errors import MoraError

PROFILE_DIR = Path(__file__).parent
T = TypeVar("T", bound=BaseModel)

CallArgs = dict[str, str | int | float | bool]
"""Extra keyword arguments a role's pipeline call gets verbatim (``max_sequence_length: 512``)."""

TOOL_SET_ARGUMENTS = frozenset(
    {
        *("prompt", "negative_prompt", "image", "last_image", "height", "width", "num_frames", "num_inference_steps"),
        *("guidance_scale", "image_guidance_scale", "min_guidance_scale", "max_guidance_scale", "fps"),
        *("motion_bucket_id", "noise_aug_strength", "decode_chunk_size", "denoising_start", "denoising_end"),
        *("generator", "latents", "output_type", "return_dict"),
        *("callback_on_step_end", "callback_on_step_end_tensor_inputs"),
    }
)
"""Pipeline arguments the tools set themselves (from a request or a settings field): never in ``call_args``."""


def _call_args_leave_tool_arguments_alone(call_args: CallArgs) -> CallArgs:
    taken = sorted(TOOL_SET_ARGUMENTS & set(call_args))
    if taken:
        raise ValueError(
            f"'{taken[0]}' is set by the tool (from the request or a field of this section), not call_args"
        )
    return call_args


Dtype = Literal["auto", "float32", "float16", "bfloat16"]
"""``auto``: bf16 (fp16 on cards without bf16) on CUDA, fp16 on MPS, fp32 on a CPU."""


class RoleSettings(BaseModel):
    """One agent role's section of a profile. A new role is a subclass (its models and what else it loads) and a
    field of :class:`ModelProfile`; loading, checking and ``mora models`` read every role through these methods."""

    def models(self) -> list[tuple[str, str]]:
        """``(part, reference)`` of each model this role loads (``part`` "" for its one model, else e.g.
        ``"refiner"``)."""
        model = getattr(self, "model", None)
        return [("", model)] if model else []

    def also_needs(self) -> set[str]:
        """Other roles whose models this one loads too (A5's ``a4_blend`` animates with A4's)."""
        return set()


class TextToImageSettings(RoleSettings):
    """A2: a text-to-image pipeline (SDXL, FLUX.1, ...), optionally handing over to a refiner (SDXL)."""

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
    call_args: CallArgs = Field(default_factory=dict)
    dtype: Dtype | None = None
    """This role's precision, overriding the profile's ``dtype`` (e.g. a VAE-heavy role kept in float32)."""
    """Passed verbatim to the base pipeline's call: family-specific knobs (FLUX's ``max_sequence_length``)."""

    _check_call_args = field_validator("call_args")(_call_args_leave_tool_arguments_alone)

    def models(self) -> list[tuple[str, str]]:
        return [("base", self.base)] + ([("refiner", self.refiner)] if self.refiner else [])

    @model_validator(mode="after")
    def _size_multiple_of_16(self) -> TextToImageSettings:
        # /8 for the VAE, and even numbers for H.264: 16 keeps both true for every frame we write.
        if self.width % 16 or self.height % 16:
            raise ValueError(f"width and height must be multiples of 16, got {self.width}x{self.height}")
        return self


class ImageToVideoSettings(RoleSettings):
    """A4: an image-to-video pipeline (SVD, Wan I2V, ...), chained segment by segment; each pipeline gets the
    fields it takes (SVD its motion conditioning, Wan the prompt and one guidance scale)."""

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
    guidance_scale: float | None = Field(default=None, ge=0)
    """One classifier-free guidance scale, for pipelines that take one (Wan); SVD takes the two above instead."""
    negative_prompt: str | None = None
    """For prompt-conditioned pipelines (Wan); ``None``: the pipeline's default."""
    call_args: CallArgs = Field(default_factory=dict)
    dtype: Dtype | None = None
    """This role's precision, overriding the profile's ``dtype`` (e.g. a VAE-heavy role kept in float32)."""
    """Passed verbatim to the pipeline's call: family-specific knobs (Wan2.2's ``guidance_scale_2``)."""

    _check_call_args = field_validator("call_args")(_call_args_leave_tool_arguments_alone)


class ImageToImageSettings(RoleSettings):
    """A3: an instruction-following image editor (InstructPix2Pix, FLUX.1 Kontext, ...)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    steps: int = Field(ge=1)
    guidance_scale: float = Field(default=7.5, ge=0)
    """How strongly the edit follows the instruction."""
    image_guidance_scale: float = Field(default=1.5, ge=0)
    """How strongly the edit stays close to the input image."""
    call_args: CallArgs = Field(default_factory=dict)
    dtype: Dtype | None = None
    """This role's precision, overriding the profile's ``dtype`` (e.g. a VAE-heavy role kept in float32)."""
    """Passed verbatim to the pipeline's call: family-specific knobs (FLUX Kontext's ``max_area``)."""

    _check_call_args = field_validator("call_args")(_call_args_leave_tool_arguments_alone)


class VideoConnectionSettings(RoleSettings):
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
    call_args: CallArgs = Field(default_factory=dict)
    dtype: Dtype | None = None
    """This role's precision, overriding the profile's ``dtype`` (e.g. a VAE-heavy role kept in float32)."""
    """Passed verbatim to the first+last-frame pipeline's call (``first_last_frame`` only)."""

    _check_call_args = field_validator("call_args")(_call_args_leave_tool_arguments_alone)

    def models(self) -> list[tuple[str, str]]:
        # a4_blend reuses the image_to_video model: only first_last_frame loads a model of its own.
        return [("", self.model)] if self.method == "first_last_frame" and self.model else []

    def also_needs(self) -> set[str]:
        return {"image_to_video"} if self.method == "a4_blend" else set()

    @model_validator(mode="after")
    def _model_matches_method(self) -> VideoConnectionSettings:
        if self.method == "first_last_frame" and not self.model:
            raise ValueError("method 'first_last_frame' needs a model")
        return self


class MemorySettings(BaseModel):
    """What happens to a stage's models when the stage ends (see :mod:`mora_tools.loading.memory`)."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["free", "offload", "keep"] = "free"
    """``free``: release them (the paper's rule: the run's peak is its heaviest stage); ``offload``: as ``free``,
    and within the stage each model moves to the accelerator only while it runs (diffusers model CPU offload:
    the accelerator's peak is one model, not one pipeline); ``keep``: keep them loaded for the next request,
    least recently used evicted first over ``budget_gb``."""
    budget_gb: float | None = Field(default=None, gt=0)
    """``keep`` only: the most memory kept models may hold; ``None``: no limit."""


class RolePlacement(BaseModel):
    """Where one role's actor runs with ``--engine ray``: what it reserves on the cluster (Ray's resources)."""

    model_config = ConfigDict(extra="forbid")

    num_gpus: float = Field(default=0, ge=0)
    """GPUs the actor holds: a fraction shares one (A1 and A2 on one card at 0.5 each), 0 runs on CPUs. More than
    one is a multi-GPU role (a video DiT): one actor holding ``num_gpus`` GPUs of one node (see the README on
    sequence-parallel pipelines)."""
    num_cpus: float = Field(default=0.25, ge=0)
    """CPUs the scheduler counts for it. Small by default: five roles fit a 2-CPU machine, and a CPU-only tool's
    threads are ``threads``, not this."""
    threads: int | None = Field(default=None, ge=1)
    """Torch CPU threads in the actor; ``None``: the driver's count. CPU results differ in their last bits with the
    thread count (a tiny SVD clip's bytes did, 1 thread against 2), so the default keeps ``ray`` and ``local``
    outputs identical."""


PLACED_ROLES = ("prompt_enhancer", "text_to_image", "image_to_image", "image_to_video", "video_connection")
"""The roles a profile's ``placement`` can name (the LLM role has no settings section of its own)."""


class ModelProfile(BaseModel):
    """A named set of models, one per agent role."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    source: Literal["hub", "tiny", "random"]
    """``hub``: load by Hugging Face id or local path; ``tiny``: build random-weight miniatures locally;
    ``random``: build random-weight models of real architectures from their configs (for benchmarks)."""
    dtype: Dtype = "auto"
    text_to_image: TextToImageSettings
    image_to_image: ImageToImageSettings
    image_to_video: ImageToVideoSettings
    video_connection: VideoConnectionSettings
    memory: MemorySettings = MemorySettings()
    placement: dict[str, RolePlacement] = Field(default_factory=dict)
    """``--engine ray``: each role's resources by role name; a role left out gets :class:`RolePlacement`'s
    defaults (CPUs only)."""

    @field_validator("placement")
    @classmethod
    def _placement_names_roles(cls, placement: dict[str, RolePlacement]) -> dict[str, RolePlacement]:
        unknown = sorted(set(placement) - set(PLACED_ROLES))
        if unknown:
            raise ValueError(f"'{unknown[0]}' is not a role: placement names {', '.join(PLACED_ROLES)}")
        return placement

    def placement_of(self, role: str) -> RolePlacement:
        """Role ``role``'s placement (the defaults when the profile names none)."""
        return self.placement.get(role, RolePlacement())

    def roles(self) -> dict[str, RoleSettings]:
        """Each role's section by field name, in profile order (``text_to_image``, ``image_to_image``, ...)."""
        sections = {name: getattr(self, name) for name in type(self).model_fields}
        return {name: value for name, value in sections.items() if isinstance(value, RoleSettings)}


MAX_FRAME_SIDE = 16384
"""The longest side a size may ask for, in pixels (H.264's own limit is 16384 at the highest levels); a size past it
is refused rather than fitted: it is a mistake, not a wish for the largest video."""
MIN_FRAME_SIDE = 16
"""The shortest side made: the VAE's /8 and H.264's even sides, rounded to 16."""


def parse_frame_size(text: str) -> tuple[int, int]:
    """``"WIDTHxHEIGHT"`` (e.g. ``"1280x720"``) as two integers, each from 1 to :data:`MAX_FRAME_SIDE`.

    Raises:
        MoraError: not two positive integers joined by ``x``, or a side longer than :data:`MAX_FRAME_SIDE`.
    """
    width, sep, height = str(text).strip().lower().partition("x")
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses.
    if not (sep and _DIGITS.fullmatch(width) and _DIGITS.fullmatch(height) and int(width) > 0 and int(height) > 0):
        raise MoraError(f"size must be WIDTHxHEIGHT in pixels, e.g. 1280x720, not '{str(text)[:40]}'")
    if max(len(width), len(height)) > 5 or max(int(width), int(height)) > MAX_FRAME_SIDE:
        shown = f"{width[:8]}{'...' if len(width) > 8 else ''}x{height[:8]}{'...' if len(height) > 8 else ''}"
        raise MoraError(f"size {shown}: each side must be at most {MAX_FRAME_SIDE} pixels")
    return int(width), int(height)


_DIGITS = re.compile(r"[0-9]+")


def fit_frame_size(profile: ModelProfile, width: int, height: int) -> tuple[int, int]:
    """The frame size closest to ``width`` x ``height`` that ``profile`` makes.

    A size within the profile's own pixel count (its ``text_to_image`` width times height, what its models are
    made for) is kept, rounded to multiples of 16; a larger one is scaled down to that pixel count keeping its
    aspect ratio, so ``1280x720`` on a 1024x576 profile is ``1024x576`` and on the 64x64 ``tiny`` one ``80x48``.
    Each side is at least 16 and the product never exceeds the budget: a very thin aspect (``100000x1``) keeps
    its short side at 16 and gives up aspect on the long one (``256x16`` on ``tiny``).
    """
    budget = profile.text_to_image.width * profile.text_to_image.height
    scale = min(1.0, (budget / (width * height)) ** 0.5)
    # Round down to 16 (the VAE's /8 and H.264's even sides), never below 16.
    fitted = [max(MIN_FRAME_SIDE, int(side * scale) // 16 * 16) for side in (width, height)]
    # Raising the short side to 16 may overshoot the budget: the long side then takes what is left of it.
    longest = max(MIN_FRAME_SIDE, budget // MIN_FRAME_SIDE // 16 * 16)
    fitted = [min(side, longest) for side in fitted]
    return fitted[0], fitted[1]


def with_frame_size(profile: ModelProfile, width: int, height: int) -> ModelProfile:
    """``profile`` drawing its first frames (and so its videos) at the fitted ``width`` x ``height``."""
    width, height = fit_frame_size(profile, width, height)
    section = profile.text_to_image.model_copy(update={"width": width, "height": height})
    return profile.model_copy(update={"text_to_image": section})


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
        modified = path.stat().st_mtime_ns
    except OSError as error:
        raise MoraError(f"cannot read profile {path}: {error.strerror or error}") from None
    # A copy: callers may adjust their profile (a --dtype override) without touching the cached one.
    return _parse_profile(path, modified).model_copy(deep=True)


@functools.lru_cache(maxsize=32)
def _parse_profile(path: Path, modified: int) -> ModelProfile:
    # Cached by file and modification time: a chat session loads its profile once per request, and
    # YAML parsing plus validation is ~15 ms of every run's orchestration overhead otherwise.
    return load_yaml_model(path, ModelProfile, "profile")


def load_yaml_model(path: Path, model: type[T], what: str) -> T:
    """Read a YAML file into the pydantic ``model``.

    Raises:
        MoraError: ``cannot read <what> <file>``, ``<file> is not valid YAML (...)``, or ``<file>: <field>: <problem>``.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MoraError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise MoraError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise MoraError(f"{path}: {where}: {first['msg']}") from None
