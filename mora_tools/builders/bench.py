"""Random-weight pipelines with real architectures, for benchmarks: the `bench` and `bench-cpu` profiles.

Two sizes of the `paper` profile's models (SDXL base 1.0 + refiner 1.0, InstructPix2Pix, SVD-XT):

- **full size** (``sdxl-base-1.0``, ``sdxl-refiner-1.0``, ``instruct-pix2pix``, ``svd-xt``): every config below
  reproduces the published checkpoint's ``config.json`` (layers, channels, heads, cross-attention widths, added
  embeddings, vocabulary size, positions), so GPU time and memory are those of the real models even though the
  pictures are noise. Saved in float16, as the official weights ship, which halves the disk (18.4 GiB for
  the four: SDXL base 6.5, refiner 5.7, SVD-XT 4.2, InstructPix2Pix 2.0);
- **cpu size** (``cpu/sdxl-base``, ``cpu/sdxl-refiner``, ``cpu/instruct-pix2pix``, ``cpu/svd``): the same classes
  and block layouts with widths cut (UNet depths kept), sized so that a 2 s text-to-video run of `bench-cpu` is
  about 20 s of model work on a 2-core CPU while each stage's models still hold 0.4-1.4 GB (saved in float32).

Each model is built on first use into ``cache_root()/random/VERSION/<name>`` with ``save_pretrained`` (staged in
a temporary folder and renamed, so a killed build leaves nothing half-saved) and loaded like any real model with
``from_pretrained``. Only the model asked for is built: the full-size ones hold gigabytes.

Building is deterministic (``torch.manual_seed(0)`` before each part) and fast: modules are created with empty
(meta) parameters and each parameter is then filled from one seeded Gaussian pool (see
:func:`~mora_tools.builders.weights.materialise`);
the full SDXL base pipeline builds in about 11 s instead of 40 s with the default initialisation.
Sizes are in :mod:`~mora_tools.builders.bench_sizes`, the builders shared with the tiny models in
:mod:`~mora_tools.builders.architectures`. Tokenizers are the locally built byte-level ones of
:mod:`~mora_tools.builders.text_tokenizers`; the text encoders keep CLIP's real
vocabulary size (49408) and 77 positions, so their embedding tables weigh what the real ones do.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mora_agents.atomic_files import write_atomically
from mora_tools.builders import architectures
from mora_tools.builders.bench_sizes import (
    CLIP_VIT_H_VISION,
    CLIP_VIT_L_TEXT,
    CPU_CLIP_TEXT,
    CPU_CLIP_VISION,
    CPU_IMAGE_VAE,
    CPU_INSTRUCT_PIX2PIX_UNET,
    CPU_INSTRUCT_PIX2PIX_VAE,
    CPU_OPENCLIP_TEXT,
    CPU_SDXL_BASE_UNET,
    CPU_SDXL_REFINER_UNET,
    CPU_SVD_UNET,
    CPU_SVD_VAE,
    INSTRUCT_PIX2PIX_SCHEDULER,
    INSTRUCT_PIX2PIX_UNET,
    INSTRUCT_PIX2PIX_VAE,
    OPENCLIP_BIGG_TEXT,
    SDXL_BASE_UNET,
    SDXL_REFINER_UNET,
    SDXL_SCHEDULER,
    SDXL_VAE,
    SVD_XT_SCHEDULER,
    SVD_XT_UNET,
    SVD_XT_VAE,
)
from mora_tools.builders.weights import materialise, model_components
from mora_tools.cache import cache_root, quiet_libraries

# Bump when a config or the initialisation changes, so stale caches are rebuilt rather than reused.
VERSION = "v1"

# CLIPImageProcessor's defaults are the repo's feature_extractor/preprocessor_config.json (224, CLIP's mean and std).
SVD_XT_FEATURE_EXTRACTOR: dict[str, Any] = {}


@dataclass(frozen=True)
class RandomModel:
    """One random-weight pipeline: what it mirrors, its component configs, and how it is stored."""

    mirrors: str
    """The Hugging Face repo whose architecture it reproduces (at cpu size: whose family it shrinks)."""
    build: Callable[..., Any]
    """Builds the pipeline from ``configs`` (called with ``empty=True``: parameters on the meta device)."""
    configs: dict[str, dict[str, Any]]
    """Component name -> constructor keyword arguments."""
    dtype: str
    """``float16`` (full size, as the official weights ship) or ``float32`` (cpu size)."""


RANDOM_MODELS: dict[str, RandomModel] = {
    "sdxl-base-1.0": RandomModel(
        "stabilityai/stable-diffusion-xl-base-1.0",
        architectures.build_sdxl_base,
        {
            "unet": SDXL_BASE_UNET,
            "text_encoder": CLIP_VIT_L_TEXT,
            "text_encoder_2": OPENCLIP_BIGG_TEXT,
            "vae": SDXL_VAE,
            "scheduler": SDXL_SCHEDULER,
        },
        "float16",
    ),
    "sdxl-refiner-1.0": RandomModel(
        "stabilityai/stable-diffusion-xl-refiner-1.0",
        architectures.build_sdxl_refiner,
        {"unet": SDXL_REFINER_UNET, "text_encoder_2": OPENCLIP_BIGG_TEXT, "vae": SDXL_VAE, "scheduler": SDXL_SCHEDULER},
        "float16",
    ),
    "instruct-pix2pix": RandomModel(
        "timbrooks/instruct-pix2pix",
        architectures.build_instruct_pix2pix,
        {
            "unet": INSTRUCT_PIX2PIX_UNET,
            "text_encoder": CLIP_VIT_L_TEXT,
            "vae": INSTRUCT_PIX2PIX_VAE,
            "scheduler": INSTRUCT_PIX2PIX_SCHEDULER,
        },
        "float16",
    ),
    "svd-xt": RandomModel(
        "stabilityai/stable-video-diffusion-img2vid-xt",
        architectures.build_svd,
        {
            "unet": SVD_XT_UNET,
            "image_encoder": CLIP_VIT_H_VISION,
            "vae": SVD_XT_VAE,
            "scheduler": SVD_XT_SCHEDULER,
            "feature_extractor": SVD_XT_FEATURE_EXTRACTOR,
        },
        "float16",
    ),
    "cpu/sdxl-base": RandomModel(
        "stabilityai/stable-diffusion-xl-base-1.0",
        architectures.build_sdxl_base,
        {
            "unet": CPU_SDXL_BASE_UNET,
            "text_encoder": CPU_CLIP_TEXT,
            "text_encoder_2": CPU_OPENCLIP_TEXT,
            "vae": CPU_IMAGE_VAE,
            "scheduler": SDXL_SCHEDULER,
        },
        "float32",
    ),
    "cpu/sdxl-refiner": RandomModel(
        "stabilityai/stable-diffusion-xl-refiner-1.0",
        architectures.build_sdxl_refiner,
        {
            "unet": CPU_SDXL_REFINER_UNET,
            "text_encoder_2": CPU_OPENCLIP_TEXT,
            "vae": CPU_IMAGE_VAE,
            "scheduler": SDXL_SCHEDULER,
        },
        "float32",
    ),
    "cpu/instruct-pix2pix": RandomModel(
        "timbrooks/instruct-pix2pix",
        architectures.build_instruct_pix2pix,
        {
            "unet": CPU_INSTRUCT_PIX2PIX_UNET,
            "text_encoder": CPU_CLIP_TEXT,
            "vae": CPU_INSTRUCT_PIX2PIX_VAE,
            "scheduler": INSTRUCT_PIX2PIX_SCHEDULER,
        },
        "float32",
    ),
    "cpu/svd": RandomModel(
        "stabilityai/stable-video-diffusion-img2vid-xt",
        architectures.build_svd,
        {
            "unet": CPU_SVD_UNET,
            "image_encoder": CPU_CLIP_VISION,
            "vae": CPU_SVD_VAE,
            "scheduler": SVD_XT_SCHEDULER,
            "feature_extractor": SVD_XT_FEATURE_EXTRACTOR,
        },
        "float32",
    ),
}


def build_random_pipeline(name: str, *, empty: bool = False, dtype: Any = None):
    """Build the pipeline ``name`` (a key of :data:`RANDOM_MODELS`) in memory, without saving it.

    Args:
        name: which model.
        empty: leave the parameters on the ``meta`` device (no memory, no values): to count parameters or
            inspect the architecture of a full-size model in a fraction of a second.
        dtype: the parameters' dtype (a ``torch.dtype``); defaults to the model's storage dtype (float16 at
            full size, float32 at cpu size).

    Raises:
        ValueError: unknown name.
    """
    import torch

    spec = _spec(name)
    pipe = spec.build(spec.configs, empty=True)
    if not empty:
        dtype = dtype or getattr(torch, spec.dtype)
        # One seed per part, in a fixed order, so the same name gives the same weights on every machine.
        for component in model_components(pipe):
            torch.manual_seed(0)
            materialise(component, dtype)
    return pipe


def random_models_root() -> Path:
    """Where the random-weight models of this :data:`VERSION` are (or will be) saved; nothing is built."""
    return cache_root() / "random" / VERSION


def random_model_path(name: str) -> Path:
    """Folder of the random-weight pipeline ``name``, built and saved with ``save_pretrained`` on first use.

    Raises:
        ValueError: unknown name.
        OSError: not enough free disk for the model (checked before writing).
    """
    _spec(name)
    path = random_models_root() / name
    if not (path / "model_index.json").is_file():
        _build_and_save(name, path)
    return path


def _spec(name: str) -> RandomModel:
    if name not in RANDOM_MODELS:
        raise ValueError(f"unknown random model '{name}', expected one of {', '.join(RANDOM_MODELS)}")
    return RANDOM_MODELS[name]


def _build_and_save(name: str, path: Path) -> None:
    quiet_libraries()
    pipe = build_random_pipeline(name)
    size = sum(p.numel() * p.element_size() for c in model_components(pipe) for p in c.parameters())
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if free < size * 1.05:
        raise OSError(
            f"building random model '{name}' needs {size / 2**30:.1f} GiB of disk in {path.parent}, "
            f"only {free / 2**30:.1f} GiB free: free some space or set MORA_CACHE_DIR to a larger disk"
        )
    # A folder already in place is either another process's finished build (kept: theirs is as good as ours) or
    # an interrupted older layout (replaced).
    write_atomically(path, pipe.save_pretrained, done=lambda folder: (folder / "model_index.json").is_file())
