"""A4's tool: animate a first frame with any diffusers image-to-video pipeline, chaining segments to any length.

The pipeline class comes from the model's ``model_index.json`` and the call passes only the keywords that
pipeline takes (:mod:`mora_tools.pipelines.calls`): SVD gets its motion conditioning and no text, a prompt-conditioned
model (Wan) gets the prompt, a negative prompt and one guidance scale. Each segment starts from the previous
segment's last frame (the paper's chaining, App. A.3). Frames are handed to ``on_frame`` as soon as a segment is
decoded and then dropped, so memory holds one segment, whatever the duration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mora_agents.errors import MoraError
from mora_tools.adapters.apply import apply_adapters
from mora_tools.cache import quiet_libraries
from mora_tools.loading.models import load_pipeline
from mora_tools.loading.profiles import ImageToVideoSettings, ModelProfile
from mora_tools.pipelines.calls import check_pipeline, pipeline_kwargs, recorded, takes, temporal_compression
from mora_tools.pipelines.progress import CancelToken, NullProgress, ProgressSink, StepCallback

# Settings of the pipeline call the manifest records, when the pipeline takes them.
_RECORDED = (
    *("fps", "motion_bucket_id", "noise_aug_strength", "decode_chunk_size", "min_guidance_scale"),
    *("max_guidance_scale", "guidance_scale", "negative_prompt"),
)


@dataclass
class ImageToVideoOutput:
    """What :class:`ImageToVideoTool` produced (the frames themselves went to ``on_frame``)."""

    num_frames: int
    segments: int
    fps: int
    model_id: str
    parameters: dict[str, Any] = field(default_factory=dict)


def segments_needed(num_frames: int, frames_per_segment: int) -> int:
    """Segments to make ``num_frames``: the first gives ``frames_per_segment`` frames, each later one
    ``frames_per_segment - 1`` (its first frame repeats the seam frame and is dropped)."""
    if num_frames <= frames_per_segment:
        return 1
    return 1 + math.ceil((num_frames - frames_per_segment) / (frames_per_segment - 1))


def frames_at_least(minimum: int, temporal_factor: int) -> int:
    """The smallest video length ``temporal_factor * k + 1`` (``k >= 1``) of at least ``minimum`` frames: the only
    lengths a pipeline whose VAE folds ``temporal_factor`` frames into one latent frame makes (Wan: 4k + 1)."""
    return max(1, math.ceil((minimum - 1) / temporal_factor)) * temporal_factor + 1


class ImageToVideoTool:
    """Image to video, chained by last frame: SVD, Wan2.x I2V, or any pipeline that takes ``image`` and
    ``num_frames``.

    A pipeline whose VAE compresses time (Wan: 4x) makes ``4k + 1`` frames only: ``frames_per_segment`` must be
    such a length, and the last segment asks for the shortest such length that holds the frames still missing
    (a 1 s clip at 16 fps from Wan2.2 costs 17 frames, not the 81 of a full segment).

    Args:
        pipe (`DiffusionPipeline`): the video pipeline (``StableVideoDiffusionPipeline``,
            ``WanImageToVideoPipeline``, ...).
        settings (`ImageToVideoSettings`): frames per segment, fps, steps, guidance, motion conditioning.
        model_id (`str`): how the manifest names the model.
        adapters (`dict`, *optional*): what :func:`mora_tools.adapters.apply.apply_adapters` applied to ``pipe``
            (recorded in the output's ``parameters["adapters"]``); ``None`` or empty: the model as it is.

    Raises:
        MoraError: the pipeline cannot animate an image, or ``frames_per_segment`` is a length it cannot make.
    """

    def __init__(
        self, pipe, settings: ImageToVideoSettings, model_id: str, adapters: dict[str, Any] | None = None
    ) -> None:
        check_pipeline(
            pipe,
            needs=("image", "num_frames"),
            call_args=settings.call_args,
            role="image_to_video",
            model=model_id,
            what="an image-to-video pipeline",
        )
        factor = temporal_compression(pipe)
        if factor and (settings.frames_per_segment - 1) % factor:
            lower = (settings.frames_per_segment - 1) // factor * factor + 1
            raise MoraError(
                f"image_to_video.frames_per_segment is {settings.frames_per_segment}, but '{model_id}' "
                f"({type(pipe).__name__}) makes {factor}k + 1 frames: use {max(lower, factor + 1)} "
                f"or {lower + factor}"
            )
        self.pipe = pipe
        self.settings = settings
        self.model_id = model_id
        self.temporal_factor = factor
        self.takes_prompt = takes(pipe, "prompt")
        self.adapters = dict(adapters or {})

    @classmethod
    def from_profile(
        cls, profile: ModelProfile, device: str | None = None, adapters: str | Path | None = None
    ) -> ImageToVideoTool:
        """Load the profile's video model as the pipeline class its ``model_index.json`` names.

        Args:
            profile (`ModelProfile`): the model profile.
            device (`str`, *optional*): where the pipeline runs; ``None``: the best found.
            adapters (`str` or `Path`, *optional*): a ``mora learn train`` run (or its ``adapters/``) whose
                ``image_to_video`` LoRA and modulation token are applied to the pipeline's denoiser.
        """
        quiet_libraries()  # before the import: transformers warns while diffusers imports
        from diffusers import DiffusionPipeline

        settings = profile.image_to_video
        pipe = load_pipeline(DiffusionPipeline, settings.model, role="image_to_video", profile=profile, device=device)
        applied = apply_adapters(pipe, "image_to_video", adapters)
        return cls(pipe, settings, settings.model, adapters=applied)

    def segment_length(self, wanted: int) -> int:
        """Frames to ask the pipeline for when ``wanted`` more are needed (seam frame included)."""
        if self.temporal_factor is None:
            # Models without temporal compression (SVD) are tuned for their full segment length: always make it.
            return self.settings.frames_per_segment
        return min(self.settings.frames_per_segment, frames_at_least(wanted, self.temporal_factor))

    def __call__(
        self,
        image: Image.Image,
        *,
        num_frames: int,
        seed: int,
        on_frame: Callable[[Image.Image], None],
        prompt: str | None = None,
        progress: ProgressSink | None = None,
        stage: str = "image_to_video",
        cancel: CancelToken | None = None,
    ) -> ImageToVideoOutput:
        """Generate ``num_frames`` frames starting from ``image`` and pass each to ``on_frame`` in order.

        Args:
            image (`PIL.Image.Image`): the first frame; its size is the video's size.
            num_frames (`int`): exact number of frames to produce.
            seed (`int`): seeds one CPU generator used across all segments.
            on_frame (`Callable`): receives every frame once, in order.
            prompt (`str`, *optional*): what the video shows, for prompt-conditioned pipelines (Wan); every
                segment gets it. Pipelines without text conditioning (SVD) ignore it, and the output says so
                (``prompt_used``).
            progress (`ProgressSink`, *optional*): one event per denoising step of every segment.
            stage (`str`): the name progress events carry.
            cancel (`CancelToken`, *optional*): stops at the next step when set.
        """
        import torch

        if num_frames < 1:
            raise ValueError(f"`num_frames` must be at least 1, got {num_frames}")
        s = self.settings
        progress = progress or NullProgress()
        callback = StepCallback(progress, stage, cancel)
        generator = torch.Generator("cpu").manual_seed(seed)
        total_segments = segments_needed(num_frames, s.frames_per_segment)
        progress.start(stage, total_segments * s.steps, f"video, {total_segments} segment(s)")
        offered = {
            # Wan refuses a missing prompt; an empty one is its unconditional text.
            "prompt": prompt or "",
            "negative_prompt": s.negative_prompt,
            "height": image.height,
            "width": image.width,
            "num_inference_steps": s.steps,
            "guidance_scale": s.guidance_scale,
            "min_guidance_scale": s.min_guidance_scale,
            "max_guidance_scale": s.max_guidance_scale,
            # SVD's fps is micro-conditioning (how fast things move); Wan takes none: 16 fps is built in.
            "fps": s.fps,
            "motion_bucket_id": s.motion_bucket_id,
            "noise_aug_strength": s.noise_aug_strength,
            "decode_chunk_size": s.decode_chunk_size,
            "generator": generator,
            "output_type": "pil",
            "callback_on_step_end": callback,
        }
        if s.guidance_scale is None:
            del offered["guidance_scale"]  # the pipeline's own default
        if s.negative_prompt is None:
            del offered["negative_prompt"]
        kwargs = pipeline_kwargs(self.pipe, offered, s.call_args)
        lengths = []
        written, condition = 0, image
        try:
            for segment in range(total_segments):
                # A continuation re-renders the seam frame first: it needs one frame more than it delivers.
                length = self.segment_length(num_frames - written + (1 if segment else 0))
                lengths.append(length)
                frames = self.pipe(image=condition, num_frames=length, **kwargs).frames[0]
                # A continuation's first frame re-renders the seam frame already written: drop it.
                new_frames = frames if segment == 0 else frames[1:]
                for frame in new_frames[: num_frames - written]:
                    on_frame(frame)
                    written += 1
                condition = frames[-1]
                del frames, new_frames
        finally:
            progress.finish(stage)
        parameters = {
            "steps": s.steps,
            "frames_per_segment": s.frames_per_segment,
            "fps": s.fps,
            **recorded(kwargs, *_RECORDED),
            **s.call_args,
            "prompt_used": self.takes_prompt,
            "prompt": kwargs["prompt"] if self.takes_prompt else None,
        }
        if self.temporal_factor is not None:
            parameters["frames_generated"] = lengths
        if self.adapters:
            parameters["adapters"] = dict(self.adapters)
        return ImageToVideoOutput(written, total_segments, s.fps, self.model_id, parameters)
