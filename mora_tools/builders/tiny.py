"""Random-weight miniatures of the architectures the profiles name, for tests and offline demos (``tiny/<name>``).

Each miniature is built from a size table (:mod:`~mora_tools.builders.tiny_sizes`, the pattern of diffusers' own fast
tests), saved once with ``save_pretrained`` into the mora cache, and from then on loaded with ``from_pretrained`` like
any real model, so the real loading and inference code runs in seconds on a CPU. The weights are random: the images
are noise. Building is deterministic (``torch.manual_seed(0)`` before each part), so the same seed gives
byte-identical outputs on any machine with the same library versions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mora_agents.atomic_files import write_atomically
from mora_tools.builders import architectures, modern
from mora_tools.builders.bench_sizes import SVD_XT_SCHEDULER
from mora_tools.builders.tiny_sizes import (
    TINY_CLIP_TEXT,
    TINY_IMAGE_VAE,
    TINY_INSTRUCT_PIX2PIX_SCHEDULER,
    TINY_INSTRUCT_PIX2PIX_UNET,
    TINY_SDXL_BASE_UNET,
    TINY_SDXL_REFINER_UNET,
    TINY_SDXL_SCHEDULER,
    TINY_SVD_FEATURE_EXTRACTOR,
    TINY_SVD_IMAGE_ENCODER,
    TINY_SVD_UNET,
    TINY_SVD_VAE,
)
from mora_tools.cache import cache_root, quiet_libraries

# Bump when a size table or a builder changes, so stale caches are rebuilt rather than reused.
TINY_VERSION = "v3"

TINY_BUILDERS: dict[str, Callable[[], Any]] = {
    "sdxl-base": lambda: architectures.build_sdxl_base(
        {
            "vae": TINY_IMAGE_VAE,
            "text_encoder": TINY_CLIP_TEXT,
            "text_encoder_2": TINY_CLIP_TEXT,
            "unet": TINY_SDXL_BASE_UNET,
            "scheduler": TINY_SDXL_SCHEDULER,
        },
        empty=False,
    ),
    "sdxl-refiner": lambda: architectures.build_sdxl_refiner(
        {
            "vae": TINY_IMAGE_VAE,
            "text_encoder_2": TINY_CLIP_TEXT,
            "unet": TINY_SDXL_REFINER_UNET,
            "scheduler": TINY_SDXL_SCHEDULER,
        },
        empty=False,
    ),
    "svd": lambda: architectures.build_svd(
        {
            "vae": TINY_SVD_VAE,
            "image_encoder": TINY_SVD_IMAGE_ENCODER,
            "feature_extractor": TINY_SVD_FEATURE_EXTRACTOR,
            "unet": TINY_SVD_UNET,
            "scheduler": SVD_XT_SCHEDULER,  # the published one: a scheduler has no size
        },
        empty=False,
    ),
    "instruct-pix2pix": lambda: architectures.build_instruct_pix2pix(
        {
            "vae": TINY_IMAGE_VAE,
            "text_encoder": TINY_CLIP_TEXT,
            "unet": TINY_INSTRUCT_PIX2PIX_UNET,
            "scheduler": TINY_INSTRUCT_PIX2PIX_SCHEDULER,
        },
        empty=False,
    ),
    "wan-flf2v": modern.build_tiny_wan_flf2v,
    "flux": lambda: modern.build_tiny_flux()[0],
    "flux-kontext": lambda: modern.build_tiny_flux()[1],
    "wan-i2v": modern.build_tiny_wan_i2v,
}
"""Each tiny model's name (``tiny/<name>`` in a profile) and what builds its pipeline in memory."""
TINY_MODELS = tuple(TINY_BUILDERS)


def tiny_model_path(name: str) -> Path:
    """Folder of one tiny model; all of them are built on first use (they take seconds together)."""
    if name not in TINY_MODELS:
        raise ValueError(f"unknown tiny model '{name}', expected one of {', '.join(TINY_MODELS)}")
    root = tiny_models_root()
    if not all((root / model / "model_index.json").is_file() for model in TINY_MODELS):
        write_atomically(root, _save_all)
    return root / name


def tiny_models_root() -> Path:
    """Where the tiny models of this :data:`TINY_VERSION` are (or will be) saved; nothing is built."""
    return cache_root() / "tiny" / TINY_VERSION


def build_tiny_pipeline(name: str):
    """Build the tiny pipeline ``name`` (one of :data:`TINY_MODELS`) in memory, without saving it.

    Raises:
        ValueError: unknown name.
    """
    if name not in TINY_BUILDERS:
        raise ValueError(f"unknown tiny model '{name}', expected one of {', '.join(TINY_MODELS)}")
    return TINY_BUILDERS[name]()


def _save_all(folder: Path) -> None:
    quiet_libraries()
    flux, kontext = modern.build_tiny_flux()  # one build: the two share their text encoders and VAE
    for name in TINY_MODELS:
        pipe = {"flux": flux, "flux-kontext": kontext}.get(name) or build_tiny_pipeline(name)
        pipe.save_pretrained(folder / name)
