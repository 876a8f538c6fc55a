"""A2's tool: text to first frame, with any diffusers text-to-image pipeline (SDXL base handing over to its
refiner, FLUX.1, ...): the pipeline class comes from the model's ``model_index.json``, and the call passes only
the keywords that pipeline takes (:mod:`mora_tools.pipelines.calls`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mora_tools.adapters.apply import apply_adapters
from mora_tools.cache import quiet_libraries
from mora_tools.loading.models import load_pipeline
from mora_tools.loading.profiles import ModelProfile, TextToImageSettings
from mora_tools.pipelines.calls import check_pipeline, pipeline_kwargs
from mora_tools.pipelines.progress import CancelToken, NullProgress, ProgressSink, StepCallback


@dataclass
class TextToImageOutput:
    """Output of :class:`TextToImageTool`, in the manner of a diffusers ``BaseOutput``."""

    image: Image.Image
    model_id: str
    parameters: dict[str, Any] = field(default_factory=dict)


class TextToImageTool:
    """Generate one image from a prompt. With a refiner, the base denoises up to ``refiner_start`` and the refiner
    finishes (SDXL); without one the base does it all (FLUX.1 and other single-stage models).

    Args:
        base (`DiffusionPipeline`): the text-to-image pipeline (``StableDiffusionXLPipeline``, ``FluxPipeline``, ...).
        refiner (`StableDiffusionXLImg2ImgPipeline`, *optional*): the refiner; ``None`` lets the base finish.
        settings (`TextToImageSettings`): steps, size, guidance, hand-over point.
        model_id (`str`): how the manifest names the model(s).
        device (`str`, defaults to ``"cpu"``): where the pipelines run; generators live on the CPU so
            seeds reproduce across devices.
        adapters (`dict`, *optional*): what :func:`mora_tools.adapters.apply.apply_adapters` applied to ``base``
            (recorded in every output's ``parameters["adapters"]``); ``None`` or empty: the model as it is.
    """

    def __init__(
        self,
        base,
        refiner,
        settings: TextToImageSettings,
        model_id: str,
        device: str = "cpu",
        adapters: dict[str, Any] | None = None,
    ) -> None:
        check_pipeline(
            base,
            needs=("prompt", "width", "height"),
            call_args=settings.call_args,
            role="text_to_image",
            model=settings.base,
            what="a text-to-image pipeline",
        )
        self.base = base
        self.refiner = refiner
        self.settings = settings
        self.model_id = model_id
        self.device = device
        self.adapters = dict(adapters or {})

    @classmethod
    def from_profile(
        cls, profile: ModelProfile, device: str | None = None, adapters: str | Path | None = None
    ) -> TextToImageTool:
        """Load the profile's base and refiner, each as the pipeline class its ``model_index.json`` names; the
        refiner reuses the base's ``text_encoder_2`` and ``vae``, as SDXL's refiner is meant to.

        Args:
            profile (`ModelProfile`): the model profile.
            device (`str`, *optional*): where the pipelines run; ``None``: the best found.
            adapters (`str` or `Path`, *optional*): a ``mora learn train`` run (or its ``adapters/``) whose
                ``text_to_image`` LoRA and modulation token are applied to the base (the refiner is never trained).
        """
        quiet_libraries()  # before the import: transformers warns while diffusers imports
        from diffusers import DiffusionPipeline

        settings = profile.text_to_image
        common = {"profile": profile, "device": device}
        base = load_pipeline(DiffusionPipeline, settings.base, role="text_to_image base", **common)
        refiner = None
        if settings.refiner:
            refiner = load_pipeline(
                DiffusionPipeline,
                settings.refiner,
                role="text_to_image refiner",
                text_encoder_2=base.text_encoder_2,
                vae=base.vae,
                **common,
            )
        applied = apply_adapters(base, "text_to_image", adapters)
        model_id = settings.base + (f" + {settings.refiner}" if settings.refiner else "")
        return cls(base, refiner, settings, model_id, device=str(base.device), adapters=applied)

    def __call__(
        self,
        prompt: str,
        *,
        seed: int,
        negative_prompt: str | None = None,
        progress: ProgressSink | None = None,
        stage: str = "text_to_image",
        cancel: CancelToken | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> TextToImageOutput:
        """Generate the image.

        Args:
            prompt (`str`): what to draw.
            seed (`int`): seeds one CPU generator shared by base and refiner.
            negative_prompt (`str`, *optional*): defaults to the profile's; pipelines that take none never get it,
                and FLUX.1 uses it only for true classifier-free guidance (``true_cfg_scale`` > 1 in ``call_args``).
            progress (`ProgressSink`, *optional*): receives one event per denoising step.
            stage (`str`): the name progress events carry.
            cancel (`CancelToken`, *optional*): stops the pipeline at the next step when set.
            width (`int`, *optional*), height (`int`, *optional*): the frame size, overriding the profile's (a
                request's size, already fitted by :func:`mora_tools.loading.profiles.fit_frame_size`).
        """
        import torch

        s = self.settings
        progress = progress or NullProgress()
        callback = StepCallback(progress, stage, cancel)
        generator = torch.Generator("cpu").manual_seed(seed)
        negative_prompt = negative_prompt if negative_prompt is not None else s.negative_prompt
        call = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "num_inference_steps": s.steps,
            "guidance_scale": s.guidance_scale,
            "generator": generator,
            "callback_on_step_end": callback,
        }
        size = {"width": width or s.width, "height": height or s.height}
        progress.start(stage, s.steps, "first frame")
        try:
            if self.refiner is None:
                kwargs = pipeline_kwargs(self.base, {**call, **size, "output_type": "pil"}, s.call_args)
                image = self.base(**kwargs).images[0]
            else:
                # 1. The base denoises up to the hand-over point and returns latents.
                base_call = {**call, **size, "denoising_end": s.refiner_start, "output_type": "latent"}
                kwargs = pipeline_kwargs(self.base, base_call, s.call_args)
                latents = self.base(**kwargs).images
                # 2. The refiner takes the same schedule from there to the end.
                refiner_call = {**call, "image": latents, "denoising_start": s.refiner_start, "output_type": "pil"}
                image = self.refiner(**pipeline_kwargs(self.refiner, refiner_call, {})).images[0]
        finally:
            progress.finish(stage)
        parameters = {
            "steps": s.steps,
            "guidance_scale": s.guidance_scale,
            **size,
            "refiner_start": s.refiner_start if self.refiner is not None else None,
            # What the pipeline really got (None when it takes no negative prompt).
            "negative_prompt": kwargs.get("negative_prompt"),
            **s.call_args,
            "denoising_steps_run": callback.steps,
        }
        if self.adapters:
            parameters["adapters"] = dict(self.adapters)
        return TextToImageOutput(image=image, model_id=self.model_id, parameters=parameters)
