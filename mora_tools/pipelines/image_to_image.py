"""A3's tool: edit an image by a written instruction, with any diffusers instruction-editing pipeline
(InstructPix2Pix, FLUX.1 Kontext, ...): the pipeline class comes from the model's ``model_index.json``, and the
call passes only the keywords that pipeline takes (:mod:`mora_tools.pipelines.calls`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from mora_tools.cache import quiet_libraries
from mora_tools.loading.models import load_pipeline
from mora_tools.loading.profiles import ImageToImageSettings, ModelProfile
from mora_tools.pipelines.calls import check_pipeline, pipeline_kwargs, recorded
from mora_tools.pipelines.progress import CancelToken, NullProgress, ProgressSink, StepCallback


@dataclass
class ImageToImageOutput:
    """Output of :class:`ImageToImageTool`, in the manner of a diffusers ``BaseOutput``."""

    image: Image.Image
    model_id: str
    parameters: dict[str, Any] = field(default_factory=dict)


class ImageToImageTool:
    """Edit an image as an instruction says ("make it snow").

    The edited image always has the input image's size: pipelines that take a size are asked for it, and
    whatever size comes back (Kontext works at about one megapixel) is scaled to it.

    Args:
        pipe (`DiffusionPipeline`): the editing pipeline, e.g. ``StableDiffusionInstructPix2PixPipeline`` or
            ``FluxKontextPipeline``; it must take ``image`` and ``prompt``.
        settings (`ImageToImageSettings`): steps, the guidance scale(s), extra call arguments.
        model_id (`str`): how the manifest names the model.
    """

    def __init__(self, pipe, settings: ImageToImageSettings, model_id: str) -> None:
        check_pipeline(
            pipe,
            needs=("image", "prompt"),
            call_args=settings.call_args,
            role="image_to_image",
            model=settings.model,
            what="an instruction-editing pipeline that takes an image and a prompt",
        )
        self.pipe = pipe
        self.settings = settings
        self.model_id = model_id

    @classmethod
    def from_profile(cls, profile: ModelProfile, device: str | None = None) -> ImageToImageTool:
        """Load the profile's editing model as the pipeline class its ``model_index.json`` names."""
        quiet_libraries()  # before the import: transformers warns while diffusers imports
        from diffusers import DiffusionPipeline

        settings = profile.image_to_image
        pipe = load_pipeline(
            DiffusionPipeline,
            settings.model,
            role="image_to_image",
            profile=profile,
            device=device,
            # Edits of our own generated frames need no NSFW filter; the tiny model has none to load. Pipelines
            # without a safety checker (FLUX) ignore both keywords.
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
        offered = {
            "prompt": instruction,
            "image": source,
            "num_inference_steps": s.steps,
            "guidance_scale": s.guidance_scale,
            # InstructPix2Pix's pull toward the input image; Kontext has no such knob and never gets it.
            "image_guidance_scale": s.image_guidance_scale,
            # Pipelines that take a size (Kontext) are asked for the input's; InstructPix2Pix keeps it anyway.
            "width": source.width,
            "height": source.height,
            "generator": generator,
            "output_type": "pil",
            "callback_on_step_end": callback,
        }
        kwargs = pipeline_kwargs(self.pipe, offered, s.call_args)
        progress.start(stage, s.steps, "edit")
        try:
            edited = self.pipe(**kwargs).images[0]
        finally:
            progress.finish(stage)
        # Pipelines round the size to a multiple of their latent patch, and Kontext scales it to its working
        # area; the edit must replace the original frame exactly, so bring it back.
        if edited.size != source.size:
            edited = edited.resize(source.size, Image.Resampling.LANCZOS)
        parameters = {
            "steps": s.steps,
            **recorded(kwargs, "guidance_scale", "image_guidance_scale"),
            **s.call_args,
            "instruction": instruction,
            "denoising_steps_run": callback.steps,
        }
        return ImageToImageOutput(image=edited, model_id=self.model_id, parameters=parameters)
