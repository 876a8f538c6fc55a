"""A3's tool: edit an image by a written instruction with an InstructPix2Pix-style pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tools.loading import load_pipeline, quiet_libraries
from tools.profiles import ImageToImageSettings, ModelProfile
from tools.progress import CancelToken, NullProgress, ProgressSink, StepCallback


@dataclass
class ImageToImageOutput:
    """Output of :class:`ImageToImageTool`, in the manner of a diffusers ``BaseOutput``."""

    image: Image.Image
    model_id: str
    parameters: dict[str, Any] = field(default_factory=dict)


class ImageToImageTool:
    """Edit an image as an instruction says ("make it snow"), with ``StableDiffusionInstructPix2PixPipeline``.

    The edited image always has the input image's size.

    Args:
        pipe (`StableDiffusionInstructPix2PixPipeline`): the editing pipeline.
        settings (`ImageToImageSettings`): steps and the text and image guidance scales.
        model_id (`str`): how the manifest names the model.
    """

    def __init__(self, pipe, settings: ImageToImageSettings, model_id: str) -> None:
        self.pipe = pipe
        self.settings = settings
        self.model_id = model_id

    @classmethod
    def from_profile(cls, profile: ModelProfile, device: str | None = None) -> ImageToImageTool:
        quiet_libraries()  # before the import: transformers warns while diffusers imports
        from diffusers import StableDiffusionInstructPix2PixPipeline

        settings = profile.image_to_image
        pipe = load_pipeline(
            StableDiffusionInstructPix2PixPipeline,
            settings.model,
            role="image_to_image",
            profile=profile,
            device=device,
            # Edits of our own generated frames need no NSFW filter; the tiny model has none to load.
            safety_checker=None,
            requires_safety_checker=False,
        )
        return cls(pipe, settings, settings.model)

    def __call__(
        self,
        image: Image.Image,
        instruction: str,
        *,
        seed: int,
        progress: ProgressSink | None = None,
        stage: str = "image_to_image",
        cancel: CancelToken | None = None,
    ) -> ImageToImageOutput:
        """Edit ``image`` as ``instruction`` says.

        Args:
            image (`PIL.Image.Image`): the image to edit; the result has its size.
            instruction (`str`): the edit, phrased as an instruction ("turn the car blue").
            seed (`int`): seeds one CPU generator, so seeds reproduce across devices.
            progress (`ProgressSink`, *optional*): receives one event per denoising step.
            stage (`str`): the name progress events carry.
            cancel (`CancelToken`, *optional*): stops the pipeline at the next step when set.
        """
        import torch

        s = self.settings
        progress = progress or NullProgress()
        callback = StepCallback(progress, stage, cancel)
        generator = torch.Generator("cpu").manual_seed(seed)
        source = image.convert("RGB")
        progress.start(stage, s.steps, "edit")
        try:
            edited = self.pipe(
                prompt=instruction,
                image=source,
                num_inference_steps=s.steps,
                guidance_scale=s.guidance_scale,
                image_guidance_scale=s.image_guidance_scale,
                generator=generator,
                output_type="pil",
                callback_on_step_end=callback,
            ).images[0]
        finally:
            progress.finish(stage)
        # The pipeline rounds the size down to a multiple of the VAE's scale factor; the edit must replace
        # the original frame exactly, so bring it back.
        if edited.size != source.size:
            edited = edited.resize(source.size, Image.Resampling.LANCZOS)
        parameters = {
            "steps": s.steps,
            "guidance_scale": s.guidance_scale,
            "image_guidance_scale": s.image_guidance_scale,
            "instruction": instruction,
            "denoising_steps_run": callback.steps,
        }
        return ImageToImageOutput(image=edited, model_id=self.model_id, parameters=parameters)
