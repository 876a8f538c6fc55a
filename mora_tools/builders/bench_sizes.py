"""Size tables of the `bench` and `bench-cpu` profiles' random-weight models (see :mod:`mora_tools.builders.bench`).

Full size: every config reproduces the published checkpoint's ``config.json``; cpu size: the same classes and block
layouts with widths cut. Plain dicts of constructor keyword arguments, for :mod:`mora_tools.builders.architectures`.
"""

from __future__ import annotations

from typing import Any

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

TIME_EMBED = SDXL_BASE_UNET["addition_time_embed_dim"]  # each SDXL time id becomes 256 features, at every size

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
    "projection_class_embeddings_input_dim": 6 * TIME_EMBED + CPU_OPENCLIP_TEXT["projection_dim"],
}
# SDXL refiner UNet, width / 6 (384 -> 64), heads 64 wide; 4 transformer layers kept.
CPU_SDXL_REFINER_UNET: dict[str, Any] = SDXL_REFINER_UNET | {
    "sample_size": 32,
    "block_out_channels": [64, 128, 256, 256],
    "attention_head_dim": [1, 2, 4, 4],
    "cross_attention_dim": CPU_OPENCLIP_TEXT["hidden_size"],
    "projection_class_embeddings_input_dim": 5 * TIME_EMBED + CPU_OPENCLIP_TEXT["projection_dim"],
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
