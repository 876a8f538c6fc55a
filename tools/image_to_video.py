"""A4's tool: animate a first frame with an SVD-style pipeline, chaining segments to any length.

Each segment starts from the previous segment's last frame (the paper's chaining, App. A.3). Frames are
handed to ``on_frame`` as soon as a segment is decoded and then dropped, so memory holds one segment,
whatever the duration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tools.loading import load_pipeline, quiet_libraries
from tools.profiles import ImageToVideoSettings, ModelProfile
from tools.progress import CancelToken, NullProgress, ProgressSink, StepCallback


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


class ImageToVideoTool:
    """Image to video with ``StableVideoDiffusionPipeline``, chained by last frame.

    Args:
        pipe (`StableVideoDiffusionPipeline`): the video pipeline.
        settings (`ImageToVideoSettings`): frames per segment, fps, steps, motion conditioning.
        model_id (`str`): how the manifest names the model.
    """

    def __init__(self, pipe, settings: ImageToVideoSettings, model_id: str) -> None:
        self.pipe = pipe
        self.settings = settings
        self.model_id = model_id

    @classmethod
    def from_profile(cls, profile: ModelProfile, device: str | None = None) -> ImageToVideoTool:
        quiet_libraries()  # before the import: transformers warns while diffusers imports
        from diffusers import StableVideoDiffusionPipeline

        settings = profile.image_to_video
        pipe = load_pipeline(
            StableVideoDiffusionPipeline, settings.model, role="image_to_video", profile=profile, device=device
        )
        return cls(pipe, settings, settings.model)

    def __call__(
        self,
        image: Image.Image,
        *,
        num_frames: int,
        seed: int,
        on_frame: Callable[[Image.Image], None],
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
        written, condition = 0, image
        try:
            for segment in range(total_segments):
                frames = self.pipe(
                    condition,
                    height=image.height,
                    width=image.width,
                    num_frames=s.frames_per_segment,
                    num_inference_steps=s.steps,
                    min_guidance_scale=s.min_guidance_scale,
                    max_guidance_scale=s.max_guidance_scale,
                    fps=s.fps,
                    motion_bucket_id=s.motion_bucket_id,
                    noise_aug_strength=s.noise_aug_strength,
                    decode_chunk_size=s.decode_chunk_size,
                    generator=generator,
                    output_type="pil",
                    callback_on_step_end=callback,
                ).frames[0]
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
            "motion_bucket_id": s.motion_bucket_id,
            "noise_aug_strength": s.noise_aug_strength,
            "decode_chunk_size": s.decode_chunk_size,
            "min_guidance_scale": s.min_guidance_scale,
            "max_guidance_scale": s.max_guidance_scale,
        }
        return ImageToVideoOutput(written, total_segments, s.fps, self.model_id, parameters)
