"""The four architectures of the `paper` profile (SDXL base and refiner, InstructPix2Pix, SVD), built from size tables.

One builder per pipeline class, taking ``configs`` (component name -> constructor keyword arguments: a size table of
:mod:`~mora_tools.builders.tiny_sizes` or :mod:`~mora_tools.builders.bench_sizes`) and ``empty`` (how the weights
start: see :mod:`~mora_tools.builders.weights`). Tokenizers are the locally built ones of
:mod:`~mora_tools.builders.text_tokenizers`.
"""

from __future__ import annotations

from typing import Any

from mora_tools.builders.text_tokenizers import build_clip_tokenizer
from mora_tools.builders.weights import new_module

Configs = dict[str, dict[str, Any]]
"""Component name -> constructor keyword arguments."""


def _clip_text(config: dict[str, Any], *, empty: bool, with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    model_class = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return new_module(lambda: model_class(CLIPTextConfig(**config)), empty=empty)


def build_sdxl_base(configs: Configs, *, empty: bool):
    """A ``StableDiffusionXLPipeline`` (two CLIP text encoders sharing one tokenizer, a UNet, a VAE)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    tokenizer = build_clip_tokenizer()
    return StableDiffusionXLPipeline(
        vae=new_module(lambda: AutoencoderKL(**configs["vae"]), empty=empty),
        text_encoder=_clip_text(configs["text_encoder"], empty=empty),
        text_encoder_2=_clip_text(configs["text_encoder_2"], empty=empty, with_projection=True),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=new_module(lambda: UNet2DConditionModel(**configs["unet"]), empty=empty),
        scheduler=EulerDiscreteScheduler(**configs["scheduler"]),
    )


def build_sdxl_refiner(configs: Configs, *, empty: bool):
    """A ``StableDiffusionXLImg2ImgPipeline`` shaped as SDXL's refiner (``text_encoder_2`` only, aesthetic score)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel

    # The refiner ships its own text_encoder_2 and VAE, the same models as the base's (and, here, the same
    # random weights: same configs, same seeds), so it loads alone or with the base's passed in.
    return StableDiffusionXLImg2ImgPipeline(
        vae=new_module(lambda: AutoencoderKL(**configs["vae"]), empty=empty),
        text_encoder=None,
        text_encoder_2=_clip_text(configs["text_encoder_2"], empty=empty, with_projection=True),
        tokenizer=None,
        tokenizer_2=build_clip_tokenizer(),
        unet=new_module(lambda: UNet2DConditionModel(**configs["unet"]), empty=empty),
        scheduler=EulerDiscreteScheduler(**configs["scheduler"]),
        # As stabilityai/stable-diffusion-xl-refiner-1.0 model_index.json.
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )


def build_instruct_pix2pix(configs: Configs, *, empty: bool):
    """A ``StableDiffusionInstructPix2PixPipeline`` (its UNet takes the noisy and the input image's latents)."""
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )

    # The real repo also ships the NSFW safety checker; our A3 tool loads with safety_checker=None.
    return StableDiffusionInstructPix2PixPipeline(
        vae=new_module(lambda: AutoencoderKL(**configs["vae"]), empty=empty),
        text_encoder=_clip_text(configs["text_encoder"], empty=empty),
        tokenizer=build_clip_tokenizer(),
        unet=new_module(lambda: UNet2DConditionModel(**configs["unet"]), empty=empty),
        scheduler=EulerAncestralDiscreteScheduler(**configs["scheduler"]),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_svd(configs: Configs, *, empty: bool):
    """A ``StableVideoDiffusionPipeline`` (a CLIP image encoder, a spatio-temporal UNet, a temporal-decoder VAE)."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    image_encoder_config = configs["image_encoder"]
    return StableVideoDiffusionPipeline(
        vae=new_module(lambda: AutoencoderKLTemporalDecoder(**configs["vae"]), empty=empty),
        image_encoder=new_module(
            lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**image_encoder_config)), empty=empty
        ),
        unet=new_module(lambda: UNetSpatioTemporalConditionModel(**configs["unet"]), empty=empty),
        scheduler=EulerDiscreteScheduler(**configs["scheduler"]),
        feature_extractor=CLIPImageProcessor(**configs["feature_extractor"]),
    )
