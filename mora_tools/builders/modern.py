"""Tiny random-weight models of the `tiny-modern` profile: Wan2.1 FLF2V, Wan2.2-I2V-A14B, FLUX.1-dev and
FLUX.1-Kontext-dev, after diffusers' fast tests (these architectures have no bench size).

Each part is seeded before it is built (``torch.manual_seed``), so the same library versions give the same weights.
"""

from __future__ import annotations

from mora_tools.builders.text_tokenizers import build_clip_tokenizer, build_t5_tokenizer
from mora_tools.builders.tiny_sizes import TINY_CLIP_TEXT, TINY_CLIP_VISION, TINY_IMAGE_VAE


def _wan_vae():
    """Wan's ``AutoencoderKLWan``, shrunk: 8x in space and 4x in time (so Wan pipelines want
    ``num_frames % 4 == 1``), with the 16 latent channels Wan2.1's and Wan2.2-A14B's latent statistics expect."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )


def _umt5(tokenizer):
    """A 2-layer UMT5 encoder over :func:`build_t5_tokenizer`'s vocabulary: Wan encodes text with UMT5-XXL."""
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(**_t5_sizes(tokenizer)))


def _t5_sizes(tokenizer) -> dict:
    """The sizes of every tiny T5-family text encoder here (FLUX's T5, Wan's UMT5), over ``tokenizer``."""
    return {
        "vocab_size": len(tokenizer),
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 37,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }


def _wan_i2v_transformer(**image_conditioning):
    """A 2-layer ``WanTransformer3DModel`` for image-to-video: 36 input channels, 16 noisy latent channels + 16
    of the conditioning frames' latents + 4 of the frame mask. ``image_conditioning`` adds Wan2.1's CLIP image
    tokens (``image_dim``, ``pos_embed_seq_len``); Wan2.2-A14B has none."""
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=36,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        # As the real model: the rotary table then covers any number of latent frames we ask for.
        rope_max_seq_len=1024,
        **image_conditioning,
    )


def build_tiny_wan_flf2v():
    """Tiny ``WanImageToVideoPipeline`` conditioned on a first and a last frame (Wan2.1 FLF2V), after diffusers'
    ``WanFLFToVideoPipelineFastTests``.

    Text goes through a local T5 tokenizer (:func:`build_t5_tokenizer`) and a 2-layer UMT5 encoder, as
    Wan2.1 uses UMT5. The image encoder keeps ``image_size=224``, as the processor resizes every frame to 224; a
    32-pixel patch gives 49 patches + 1 class token per frame, and ``pos_embed_seq_len`` is twice that because
    FLF2V encodes both end frames.
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    tokenizer = build_t5_tokenizer()
    torch.manual_seed(0)
    vae = _wan_vae()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    torch.manual_seed(0)
    text_encoder = _umt5(tokenizer)
    image_tokens = (224 // 32) ** 2 + 1
    torch.manual_seed(0)
    transformer = _wan_i2v_transformer(image_dim=32, pos_embed_seq_len=2 * image_tokens)
    torch.manual_seed(0)
    # Wan takes the penultimate hidden states, not the projection: a plain CLIPVisionModel, as Wan2.1 ships.
    image_encoder = CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP_VISION))
    image_processor = CLIPImageProcessor(crop_size=224, size=224)
    return WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        image_processor=image_processor,
        image_encoder=image_encoder,
        transformer=transformer,
        transformer_2=None,
    )


def build_tiny_wan_i2v():
    """Tiny ``WanImageToVideoPipeline`` shaped like Wan2.2-I2V-A14B, after diffusers'
    ``Wan22ImageToVideoPipelineFastTests``: a prompt-conditioned image-to-video model (no last frame).

    Wan2.2-A14B is a mixture of two experts: ``transformer`` denoises the high-noise steps (timesteps at or above
    ``boundary_ratio`` x 1000), ``transformer_2`` the rest; 0.9 is the real model's boundary, so with 2 steps each
    expert runs one. It has no CLIP image encoder: the first frame conditions only through its VAE latents. The
    scheduler is the real model's UniPC in flow-matching mode. VAE and text encoder are Wan2.1's, as in Wan2.2-A14B.
    """
    import torch
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    tokenizer = build_t5_tokenizer()
    torch.manual_seed(0)
    vae = _wan_vae()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    torch.manual_seed(0)
    text_encoder = _umt5(tokenizer)
    torch.manual_seed(0)
    transformer = _wan_i2v_transformer()
    torch.manual_seed(1)  # another seed: the two experts are different networks
    transformer_2 = _wan_i2v_transformer()
    return WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        image_processor=None,
        image_encoder=None,
        transformer=transformer,
        transformer_2=transformer_2,
        boundary_ratio=0.9,
    )


def build_tiny_flux():
    """Tiny ``FluxPipeline`` (FLUX.1-dev) and ``FluxKontextPipeline`` (FLUX.1-Kontext-dev), after diffusers'
    ``FluxPipelineFastTests`` / ``FluxKontextPipelineFastTests``.

    Both are one architecture: a ``FluxTransformer2DModel`` with a guidance embedding (the dev models are
    guidance-distilled: ``guidance_scale`` is an input of the network, not classifier-free guidance), CLIP-L for the
    pooled prompt and T5 for the token sequence (local tokenizers: :func:`build_clip_tokenizer`,
    :func:`build_t5_tokenizer`), and a 16-channel VAE whose latents are packed 2x2 into tokens
    (``in_channels = 16 * 4``). Kontext-dev ships the very same text encoders and VAE as FLUX.1-dev, so the two
    tiny pipelines share those modules too; only the transformers differ (Kontext appends the input image's
    tokens to the sequence, which needs no other weights).
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    tokenizer = build_clip_tokenizer()
    tokenizer_2 = build_t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_CLIP_TEXT))
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(T5Config(**_t5_sizes(tokenizer_2)))
    torch.manual_seed(0)
    # FLUX.1's VAE: 16 latent channels, no quant convs, and its latent shift and scale.
    vae = AutoencoderKL(
        **TINY_IMAGE_VAE
        | {
            "latent_channels": 16,
            "use_quant_conv": False,
            "use_post_quant_conv": False,
            "shift_factor": 0.1159,
            "scaling_factor": 0.3611,
        }
    )

    def transformer():
        return FluxTransformer2DModel(
            patch_size=1,
            in_channels=16 * 4,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,  # T5's hidden size
            pooled_projection_dim=32,  # CLIP's pooled output
            guidance_embeds=True,
            axes_dims_rope=[4, 4, 8],  # sums to attention_head_dim
        )

    # FLUX.1-dev's scheduler: the shift grows with the image's token count.
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=256,
        base_shift=0.5,
        max_image_seq_len=4096,
        max_shift=1.15,
        shift=3.0,
        use_dynamic_shifting=True,
    )
    common = {
        "scheduler": scheduler,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "image_encoder": None,
        "feature_extractor": None,
    }
    torch.manual_seed(0)
    flux = FluxPipeline(transformer=transformer(), **common)
    torch.manual_seed(1)
    kontext = FluxKontextPipeline(transformer=transformer(), **common)
    return flux, kontext
