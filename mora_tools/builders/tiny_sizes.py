"""Size tables of the tiny models (the `tiny` and `tiny-modern` profiles): the architectures of
:mod:`mora_tools.builders.bench_sizes`, shrunk to run in seconds on a CPU (the pattern of diffusers' own fast tests).

Plain dicts of constructor keyword arguments, for :mod:`mora_tools.builders.architectures` and
:mod:`mora_tools.builders.modern`.
"""

from __future__ import annotations

from typing import Any

# A 2-layer CLIP text tower over :func:`~mora_tools.builders.text_tokenizers.build_clip_tokenizer`'s vocabulary:
# 256 bytes in two forms plus <|startoftext|> (512) and <|endoftext|> (513, also the padding token).
TINY_CLIP_TEXT: dict[str, Any] = {
    "vocab_size": 514,
    "bos_token_id": 512,
    "eos_token_id": 513,
    "pad_token_id": 513,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "hidden_act": "gelu",
    "projection_dim": 32,
    "max_position_embeddings": 77,
}

# A tiny CLIP vision tower. image_size stays 224: pipelines resize every image to 224 before encoding, whatever the
# config says; a 32-pixel patch keeps that to 49 tokens.
TINY_CLIP_VISION: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 224,
    "intermediate_size": 37,
    "patch_size": 32,
}

# An AutoencoderKL with three blocks: latents are 1/4 of the image size, so a 64x64 image denoises as 16x16, as cheap
# on a CPU as an image can be.
TINY_IMAGE_VAE: dict[str, Any] = {
    "block_out_channels": [32, 32, 64],
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "latent_channels": 4,
    "sample_size": 128,
    "norm_num_groups": 8,
}

_SDXL_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": (2, 4),
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 8,
    "transformer_layers_per_block": (1, 1),
    "norm_num_groups": 8,
}
# SDXL adds its micro-conditioning time ids (8 features each here) to the pooled text embedding (32). The base sees
# both encoders' hidden states (32 + 32) and 6 time ids (original size, crop, target size); the refiner sees
# text_encoder_2 only, and 5 time ids (the aesthetic score replaces the target size).
TINY_SDXL_BASE_UNET: dict[str, Any] = _SDXL_UNET | {
    "projection_class_embeddings_input_dim": 6 * 8 + 32,
    "cross_attention_dim": 64,
}
TINY_SDXL_REFINER_UNET: dict[str, Any] = _SDXL_UNET | {
    "projection_class_embeddings_input_dim": 5 * 8 + 32,
    "cross_attention_dim": 32,
}
TINY_SDXL_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "steps_offset": 1,
    "beta_schedule": "scaled_linear",
    "timestep_spacing": "leading",
}

# InstructPix2Pix: the UNet takes 8 channels, the noisy latents and the input image's latents, concatenated.
TINY_INSTRUCT_PIX2PIX_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 16,
    "in_channels": 8,
    "out_channels": 4,
    # Attention only at the lower resolution: on a CPU, full-resolution attention dominates the time.
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "norm_num_groups": 8,
}
# The scheduler timbrooks/instruct-pix2pix ships with.
TINY_INSTRUCT_PIX2PIX_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}

TINY_SVD_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 16,
    "in_channels": 8,
    "out_channels": 4,
    # Attention only at the lower resolution: on a CPU, full-resolution attention dominates the time.
    "down_block_types": ("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),
    "up_block_types": ("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
    "cross_attention_dim": 32,
    "num_attention_heads": 8,
    # Three added time ids (fps, motion bucket, noise augmentation) of 32 features each.
    "projection_class_embeddings_input_dim": 96,
    "addition_time_embed_dim": 32,
}
# Three blocks: latents are 1/4 of the frame size, so a 64x64 frame denoises as 16x16.
TINY_SVD_VAE: dict[str, Any] = {
    "block_out_channels": [32, 32, 64],
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "latent_channels": 4,
}
# The image encoder keeps image_size=224: the pipeline resizes every image to 224 before encoding, whatever the config
# says. A 32-pixel patch keeps that to 49 tokens.
TINY_SVD_IMAGE_ENCODER: dict[str, Any] = TINY_CLIP_VISION | {"projection_dim": 32}
TINY_SVD_FEATURE_EXTRACTOR: dict[str, Any] = {"crop_size": 224, "size": 224}


def tiny_clip_text_config():
    """The tiny CLIP text tower's ``CLIPTextConfig`` (:data:`TINY_CLIP_TEXT`), for other tiny CLIP-based models."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(**TINY_CLIP_TEXT)
