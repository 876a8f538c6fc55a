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
(meta) parameters and each parameter is then filled from one seeded Gaussian pool (see :func:`_materialise`);
the full SDXL base pipeline builds in about 11 s instead of 40 s with the default initialisation.
Tokenizers are the locally built byte-level ones of :mod:`mora_tools.tiny`; the text encoders keep CLIP's real
vocabulary size (49408) and 77 positions, so their embedding tables weigh what the real ones do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mora_tools.tiny import build_tiny_clip_tokenizer, cache_root

# Bump when a config or the initialisation below changes, so stale caches are rebuilt rather than reused.
VERSION = "v1"

# --------------------------------------------------------------------------------------------------------
# Full-size configs, as published (the keys that shape the architecture; the rest are the classes' defaults).
# --------------------------------------------------------------------------------------------------------

# stabilityai/stable-diffusion-xl-base-1.0 unet/config.json
SDXL_BASE_UNET: dict[str, Any] = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [320, 640, 1280],
    "layers_per_block": 2,
    "transformer_layers_per_block": [1, 2, 10],
    # diffusers' historical name: these are numbers of heads (head width 64 everywhere).
    "attention_head_dim": [5, 10, 20],
    "cross_attention_dim": 2048,  # 768 (text_encoder) + 1280 (text_encoder_2) hidden states, concatenated
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    # 1280 (pooled text_encoder_2) + 6 time ids (original size, crop, target size) x 256
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
}

# stabilityai/stable-diffusion-xl-refiner-1.0 unet/config.json (generative-models' sd_xl_refiner.yaml: 384
# model channels, channel_mult [1, 2, 4, 4], attention at levels 2 and 3 only, transformer depth 4, context 1280)
SDXL_REFINER_UNET: dict[str, Any] = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [384, 768, 1536, 1536],
    "layers_per_block": 2,
    "transformer_layers_per_block": 4,
    "attention_head_dim": [6, 12, 24, 24],
    "cross_attention_dim": 1280,  # text_encoder_2 only
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    # 1280 (pooled text_encoder_2) + 5 time ids (original size, crop, aesthetic score) x 256
    "projection_class_embeddings_input_dim": 2560,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
}

# stabilityai/stable-diffusion-xl-base-1.0 text_encoder/config.json (OpenAI CLIP ViT-L/14's text tower); also
# timbrooks/instruct-pix2pix text_encoder/config.json, the same model as Stable Diffusion 1.5's.
CLIP_VIT_L_TEXT: dict[str, Any] = {
    "vocab_size": 49408,
    "max_position_embeddings": 77,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    # Real ids; eos_token_id 2 makes CLIP pool at the highest token id, which is also <|endoftext|> in the
    # local byte-level tokenizer.
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}

# stabilityai/stable-diffusion-xl-base-1.0 text_encoder_2/config.json (OpenCLIP ViT-bigG/14's text tower with
# its projection); the refiner's text_encoder_2 is the same model.
OPENCLIP_BIGG_TEXT: dict[str, Any] = CLIP_VIT_L_TEXT | {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "projection_dim": 1280,
    "hidden_act": "gelu",
}

# stabilityai/stable-diffusion-xl-base-1.0 vae/config.json (the refiner ships the same VAE)
SDXL_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}

# stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json (EulerDiscreteScheduler; the refiner's
# is the same)
SDXL_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}

# timbrooks/instruct-pix2pix unet/config.json: Stable Diffusion 1.5's UNet with 8 input channels (the noisy
# latents and the input image's latents, concatenated).
INSTRUCT_PIX2PIX_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "attention_head_dim": 8,  # 8 heads at every level (diffusers' historical name)
    "cross_attention_dim": 768,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
}

# timbrooks/instruct-pix2pix vae/config.json: Stable Diffusion's VAE (SDXL's layout, SD's scaling factor).
INSTRUCT_PIX2PIX_VAE: dict[str, Any] = SDXL_VAE | {"sample_size": 512, "scaling_factor": 0.18215, "force_upcast": True}

# timbrooks/instruct-pix2pix scheduler/scheduler_config.json (EulerAncestralDiscreteScheduler)
INSTRUCT_PIX2PIX_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
}

# stabilityai/stable-video-diffusion-img2vid-xt unet/config.json (also UNetSpatioTemporalConditionModel's defaults)
SVD_XT_UNET: dict[str, Any] = {
    "sample_size": 96,
    "in_channels": 8,  # noisy latents + the conditioning frame's latents
    "out_channels": 4,
    "down_block_types": [
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ],
    "up_block_types": [
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "transformer_layers_per_block": 1,
    "num_attention_heads": [5, 10, 20, 20],
    "cross_attention_dim": 1024,  # the image encoder's projection
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768,  # 3 added time ids (fps, motion bucket, noise augmentation) x 256
    "num_frames": 25,
}

# stabilityai/stable-video-diffusion-img2vid-xt image_encoder/config.json (OpenCLIP ViT-H/14's image tower with
# its projection). image_size stays 224 at every size: CLIPImageProcessor resizes every frame to 224.
CLIP_VIT_H_VISION: dict[str, Any] = {
    "image_size": 224,
    "patch_size": 14,
    "num_channels": 3,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "projection_dim": 1024,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}

# stabilityai/stable-video-diffusion-img2vid-xt vae/config.json (an image encoder and a temporal decoder)
SVD_XT_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "force_upcast": True,
}

# stabilityai/stable-video-diffusion-img2vid-xt scheduler/scheduler_config.json (EulerDiscreteScheduler, EDM-style)
SVD_XT_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "v_prediction",
    "interpolation_type": "linear",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "use_karras_sigmas": True,
}

# --------------------------------------------------------------------------------------------------------
# CPU-size configs: the same classes, block types, UNet depths (layers and transformer layers per block) and
# added embeddings, with widths cut. What a weight costs differs by where it sits, and that sets the cuts:
# - text and image encoders see 77 or 257 tokens once per call: cut least (width / 2.5 to / 3, depth kept), they
#   carry much of each stage's memory for little time; the vocabulary (49408) and 77 positions stay real;
# - SDXL's and InstructPix2Pix's UNets see every latent position at every step: width / 3.3 to / 6;
# - SVD's UNet sees 8 frames x 2 (guidance) at every step, and its VAE decodes every frame: width / 10 and / 4-8
#   (32 channels is the floor: its GroupNorms have 32 groups).
# Measured on 2 cores, with bench-cpu.yaml's settings (256x128, 8 + 4 steps): A2 about 6 s with 338M parameters
# loaded, each 8-frame SVD segment about 7 s with 121M, an edit about 4 s with 105M.
# Image sizes must divide by 64: the refiner's and SVD's UNets have 4 levels over latents 1/8 of the image.
# --------------------------------------------------------------------------------------------------------

_TIME_EMBED = SDXL_BASE_UNET["addition_time_embed_dim"]  # each SDXL time id becomes 256 features, at every size

# OpenAI CLIP ViT-L/14 text (768 wide, 12 heads) -> 256 wide, 4 heads; 12 layers.
CPU_CLIP_TEXT: dict[str, Any] = CLIP_VIT_L_TEXT | {
    "hidden_size": 256,
    "intermediate_size": 1024,
    "num_hidden_layers": 12,
    "num_attention_heads": 4,
    "projection_dim": 256,
}
# OpenCLIP ViT-bigG/14 text (1280 wide, 20 heads) -> 512 wide, 8 heads; 32 layers.
CPU_OPENCLIP_TEXT: dict[str, Any] = OPENCLIP_BIGG_TEXT | {
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 32,
    "num_attention_heads": 8,
    "projection_dim": 512,
}
# SDXL base UNet, width / 5 (320 -> 64), heads 64 wide as in SDXL; transformer layers [1, 2, 10] kept.
CPU_SDXL_BASE_UNET: dict[str, Any] = SDXL_BASE_UNET | {
    "sample_size": 32,
    "block_out_channels": [64, 128, 256],
    "attention_head_dim": [1, 2, 4],
    "cross_attention_dim": CPU_CLIP_TEXT["hidden_size"] + CPU_OPENCLIP_TEXT["hidden_size"],
    "projection_class_embeddings_input_dim": 6 * _TIME_EMBED + CPU_OPENCLIP_TEXT["projection_dim"],
}
# SDXL refiner UNet, width / 6 (384 -> 64), heads 64 wide; 4 transformer layers kept.
CPU_SDXL_REFINER_UNET: dict[str, Any] = SDXL_REFINER_UNET | {
    "sample_size": 32,
    "block_out_channels": [64, 128, 256, 256],
    "attention_head_dim": [1, 2, 4, 4],
    "cross_attention_dim": CPU_OPENCLIP_TEXT["hidden_size"],
    "projection_class_embeddings_input_dim": 5 * _TIME_EMBED + CPU_OPENCLIP_TEXT["projection_dim"],
}
# SDXL's VAE, width / 4; 2 layers per block kept.
CPU_IMAGE_VAE: dict[str, Any] = SDXL_VAE | {"block_out_channels": [32, 64, 128, 128], "sample_size": 256}
# InstructPix2Pix's (SD 1.5's) UNet, width / 3.3 (320 -> 96), 8 heads as in SD 1.5.
CPU_INSTRUCT_PIX2PIX_UNET: dict[str, Any] = INSTRUCT_PIX2PIX_UNET | {
    "sample_size": 32,
    "block_out_channels": [96, 192, 384, 384],
    "cross_attention_dim": CPU_CLIP_TEXT["hidden_size"],
}
CPU_INSTRUCT_PIX2PIX_VAE: dict[str, Any] = INSTRUCT_PIX2PIX_VAE | {
    "block_out_channels": [32, 64, 128, 128],
    "sample_size": 256,
}
# OpenCLIP ViT-H/14 image tower (1280 wide, 16 heads) -> 512 wide, 8 heads; 32 layers, 14-pixel patches, 224.
CPU_CLIP_VISION: dict[str, Any] = CLIP_VIT_H_VISION | {
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 32,
    "num_attention_heads": 8,
    "projection_dim": 512,
}
# SVD-XT's UNet, width / 10 (320 -> 32); 2 layers and 1 transformer layer per block kept.
CPU_SVD_UNET: dict[str, Any] = SVD_XT_UNET | {
    "sample_size": 32,
    "block_out_channels": [32, 64, 128, 128],
    "num_attention_heads": [1, 1, 2, 2],
    "cross_attention_dim": CPU_CLIP_VISION["projection_dim"],
    "num_frames": 8,
}
# SVD-XT's VAE, width / 4 at full resolution and / 8 below.
CPU_SVD_VAE: dict[str, Any] = SVD_XT_VAE | {"block_out_channels": [32, 32, 64, 64], "sample_size": 256}


# --------------------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomModel:
    """One random-weight pipeline: what it mirrors, its component configs, and how it is stored."""

    mirrors: str
    """The Hugging Face repo whose architecture it reproduces (at cpu size: whose family it shrinks)."""
    build: Callable[[dict[str, dict[str, Any]]], Any]
    """Builds the pipeline from ``configs`` (parameters still on the meta device)."""
    configs: dict[str, dict[str, Any]]
    """Component name -> constructor keyword arguments."""
    dtype: str
    """``float16`` (full size, as the official weights ship) or ``float32`` (cpu size)."""


def _clip_text(config: dict[str, Any], with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    model_class = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return model_class(CLIPTextConfig(**config))


def _build_sdxl_base(configs: dict[str, dict[str, Any]]):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    tokenizer = build_tiny_clip_tokenizer()
    with _empty_weights():
        vae = AutoencoderKL(**configs["vae"])
        text_encoder = _clip_text(configs["text_encoder"])
        text_encoder_2 = _clip_text(configs["text_encoder_2"], with_projection=True)
        unet = UNet2DConditionModel(**configs["unet"])
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**configs["scheduler"]),
    )


def _build_sdxl_refiner(configs: dict[str, dict[str, Any]]):
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLImg2ImgPipeline,
        UNet2DConditionModel,
    )

    # The refiner ships its own text_encoder_2 and VAE, the same models as the base's (and, here, the same
    # random weights: same configs, same seeds), so it loads alone or with the base's passed in.
    with _empty_weights():
        vae = AutoencoderKL(**configs["vae"])
        text_encoder_2 = _clip_text(configs["text_encoder_2"], with_projection=True)
        unet = UNet2DConditionModel(**configs["unet"])
    return StableDiffusionXLImg2ImgPipeline(
        vae=vae,
        text_encoder=None,
        text_encoder_2=text_encoder_2,
        tokenizer=None,
        tokenizer_2=build_tiny_clip_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(**configs["scheduler"]),
        # As stabilityai/stable-diffusion-xl-refiner-1.0 model_index.json.
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )


def _build_instruct_pix2pix(configs: dict[str, dict[str, Any]]):
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )

    with _empty_weights():
        vae = AutoencoderKL(**configs["vae"])
        text_encoder = _clip_text(configs["text_encoder"])
        unet = UNet2DConditionModel(**configs["unet"])
    # The real repo also ships the NSFW safety checker; our A3 tool loads with safety_checker=None.
    return StableDiffusionInstructPix2PixPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_tiny_clip_tokenizer(),
        unet=unet,
        scheduler=EulerAncestralDiscreteScheduler(**configs["scheduler"]),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _build_svd(configs: dict[str, dict[str, Any]]):
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    with _empty_weights():
        vae = AutoencoderKLTemporalDecoder(**configs["vae"])
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**configs["image_encoder"]))
        unet = UNetSpatioTemporalConditionModel(**configs["unet"])
    return StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**configs["scheduler"]),
        # CLIPImageProcessor's defaults are the repo's feature_extractor/preprocessor_config.json (224, CLIP's
        # mean and std).
        feature_extractor=CLIPImageProcessor(),
    )


RANDOM_MODELS: dict[str, RandomModel] = {
    "sdxl-base-1.0": RandomModel(
        "stabilityai/stable-diffusion-xl-base-1.0",
        _build_sdxl_base,
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
        _build_sdxl_refiner,
        {"unet": SDXL_REFINER_UNET, "text_encoder_2": OPENCLIP_BIGG_TEXT, "vae": SDXL_VAE, "scheduler": SDXL_SCHEDULER},
        "float16",
    ),
    "instruct-pix2pix": RandomModel(
        "timbrooks/instruct-pix2pix",
        _build_instruct_pix2pix,
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
        _build_svd,
        {"unet": SVD_XT_UNET, "image_encoder": CLIP_VIT_H_VISION, "vae": SVD_XT_VAE, "scheduler": SVD_XT_SCHEDULER},
        "float16",
    ),
    "cpu/sdxl-base": RandomModel(
        "stabilityai/stable-diffusion-xl-base-1.0",
        _build_sdxl_base,
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
        _build_sdxl_refiner,
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
        _build_instruct_pix2pix,
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
        _build_svd,
        {"unet": CPU_SVD_UNET, "image_encoder": CPU_CLIP_VISION, "vae": CPU_SVD_VAE, "scheduler": SVD_XT_SCHEDULER},
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
    pipe = spec.build(spec.configs)
    if not empty:
        dtype = dtype or getattr(torch, spec.dtype)
        # One seed per part, in a fixed order, so the same name gives the same weights on every machine.
        for component in _model_components(pipe):
            torch.manual_seed(0)
            _materialise(component, dtype)
    return pipe


def random_model_path(name: str) -> Path:
    """Folder of the random-weight pipeline ``name``, built and saved with ``save_pretrained`` on first use.

    Raises:
        ValueError: unknown name.
        OSError: not enough free disk for the model (checked before writing).
    """
    spec = _spec(name)
    path = cache_root() / "random" / VERSION / name
    if not (path / "model_index.json").is_file():
        _build_and_save(name, spec, path)
    return path


def _spec(name: str) -> RandomModel:
    if name not in RANDOM_MODELS:
        raise ValueError(f"unknown random model '{name}', expected one of {', '.join(RANDOM_MODELS)}")
    return RANDOM_MODELS[name]


def _build_and_save(name: str, spec: RandomModel, path: Path) -> None:
    # Build into a temporary sibling and rename, so a killed build never leaves a half-saved model.
    from mora_tools.loading import quiet_libraries

    quiet_libraries()
    pipe = build_random_pipeline(name)
    size = sum(p.numel() * p.element_size() for c in _model_components(pipe) for p in c.parameters())
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if free < size * 1.05:
        raise OSError(
            f"building random model '{name}' needs {size / 2**30:.1f} GiB of disk in {path.parent}, "
            f"only {free / 2**30:.1f} GiB free: free some space or set MORA_CACHE_DIR to a larger disk"
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        pipe.save_pretrained(staging)
        del pipe
        if path.exists() and not (path / "model_index.json").is_file():
            shutil.rmtree(path)  # a stale folder of an interrupted older layout
        try:
            os.replace(staging, path)
        except OSError:
            # Another process finished the same model first: theirs is as good as ours.
            if not (path / "model_index.json").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _model_components(pipe) -> list[Any]:
    """The pipeline's ``torch.nn.Module`` components, in the pipeline's own order."""
    import torch

    return [c for c in pipe.components.values() if isinstance(c, torch.nn.Module)]


class _empty_weights:
    """Create modules with their parameters on the ``meta`` device and their buffers real (CLIP's
    ``position_ids`` are computed in ``__init__`` and not saved): :func:`_materialise` fills the parameters."""

    def __enter__(self):
        from accelerate import init_empty_weights

        self._context = init_empty_weights(include_buffers=False)
        return self._context.__enter__()

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


# A prime, so that no two rows of a weight matrix (all shorter than the pool) start at the same pool position.
_POOL_SIZE = 1_048_573


def _materialise(module, dtype) -> None:
    """Give every ``meta`` parameter of ``module`` real memory and deterministic random values, in place.

    Drawing 2.6 billion Gaussians takes as long as the default initialisation (about 30 s for the SDXL UNet on
    two cores); copying windows of one seeded Gaussian pool runs at memory speed instead. Each parameter gets a
    window starting at a random offset, scaled to ``fan_in ** -0.5`` (each layer keeps its input's scale, so
    activations stay finite through every block and step); norms start at weight 1 and biases at 0, as
    PyTorch initialises them.
    """
    import torch

    pool = torch.randn(_POOL_SIZE, dtype=torch.float32)
    pool = torch.cat([pool, pool])  # a window starting anywhere in the first half is contiguous
    shared: dict[int, torch.nn.Parameter] = {}
    for submodule in module.modules():
        is_norm = "norm" in type(submodule).__name__.lower()
        for name, param in list(submodule._parameters.items()):
            if param is None or not param.is_meta:
                continue
            if id(param) in shared:  # tied weights stay tied
                submodule._parameters[name] = shared[id(param)]
                continue
            data = torch.empty(param.shape, dtype=dtype)
            if name == "bias":
                data.zero_()
            elif is_norm and name == "weight":
                data.fill_(1.0)
            else:
                fan_in = param[0].numel() if param.dim() > 1 else 2500  # 1-D weights: std 0.02
                offset = int(torch.randint(0, _POOL_SIZE, ()))
                _fill_periodic(data.view(-1), pool[offset : offset + _POOL_SIZE] * fan_in**-0.5)
            new = torch.nn.Parameter(data, requires_grad=param.requires_grad)
            shared[id(param)] = new
            submodule._parameters[name] = new


def _fill_periodic(flat, window) -> None:
    """``flat[i] = window[i % len(window)]``, in whole-period copies."""
    period = window.numel()
    full, rest = divmod(flat.numel(), period)
    if full:
        flat[: full * period].view(full, period).copy_(window.expand(full, period))
    if rest:
        flat[full * period :].copy_(window[:rest])
