"""A5's tool: the transition between two clips, from clip 1's last frame to clip 2's first frame.

Two methods, chosen by the profile's ``video_connection.method``:

- ``first_last_frame``: a Wan2.1 FLF2V-style ``WanImageToVideoPipeline`` generates a video conditioned on both
  end frames (``image=first, last_image=last``). Wan's VAE compresses time 4x, so it only makes
  ``4k + 1`` frames: the tool asks for the smallest such count that holds the two end frames plus the
  transition, drops the two end frames (the clips already show them) and picks the transition's frames at
  evenly spaced times (:func:`transition_frame_indices`).
- ``a4_blend``: for profiles with no first+last-frame model (the paper's SEINE is not in diffusers). A4's
  :class:`~mora_tools.pipelines.image_to_video.ImageToVideoTool` animates ``first`` for ``num_frames + 1`` frames, its
  first frame (a re-render of ``first``) is dropped, and frame ``i`` (1-based) is cross-faded toward ``last`` with
  weight ``i / (num_frames + 1)``, so the transition ends close to clip 2's first frame.

Either way the frames go to ``on_frame`` in order, and only one generator call's frames are held at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from mora_agents.errors import MoraError
from mora_tools.cache import quiet_libraries
from mora_tools.loading.models import load_pipeline
from mora_tools.loading.profiles import ModelProfile, VideoConnectionSettings
from mora_tools.pipelines.calls import check_pipeline, pipeline_kwargs, temporal_compression
from mora_tools.pipelines.image_to_video import frames_at_least
from mora_tools.pipelines.progress import CancelToken, NullProgress, ProgressSink, StepCallback

# Wan's VAE compresses 4 frames into one latent frame after the first: valid lengths are 4k + 1.
WAN_TEMPORAL_FACTOR = 4


@dataclass
class VideoConnectionOutput:
    """What :class:`VideoConnectionTool` produced (the frames themselves went to ``on_frame``)."""

    num_frames: int
    method: str
    model_id: str
    parameters: dict[str, Any] = field(default_factory=dict)


def frames_to_generate(num_frames: int, temporal_factor: int = WAN_TEMPORAL_FACTOR) -> int:
    """The smallest length ``temporal_factor * k + 1`` that holds both end frames and ``num_frames`` between."""
    return frames_at_least(num_frames + 2, temporal_factor)


def transition_frame_indices(num_frames: int, generated: int) -> list[int]:
    """Which of ``generated`` frames (end frames at 0 and ``generated - 1``) become the ``num_frames`` in-between
    frames: those nearest the times a transition of exactly ``num_frames + 2`` frames would show, i.e.
    ``j * (generated - 1) / (num_frames + 1)`` for ``j = 1 .. num_frames``.

    The spacing is at least one frame, so the indices are distinct, increasing, and never an end frame.
    """
    if generated < num_frames + 2:
        raise ValueError(f"`generated` must be at least `num_frames` + 2 = {num_frames + 2}, got {generated}")
    spacing = (generated - 1) / (num_frames + 1)
    # floor(x + 0.5), not round(): Python rounds halves to even, which could pick one frame twice.
    return [math.floor(j * spacing + 0.5) for j in range(1, num_frames + 1)]


class VideoConnectionTool:
    """Generate the frames between two clips.

    Args:
        pipe (`WanImageToVideoPipeline`, *optional*): the first+last-frame pipeline (``first_last_frame``).
        animator (`ImageToVideoTool`, *optional*): A4's tool (``a4_blend``).
        settings (`VideoConnectionSettings`): the method, steps, guidance.
        model_id (`str`): how the manifest names the model.
    """

    def __init__(
        self,
        pipe=None,
        animator=None,
        *,
        settings: VideoConnectionSettings,
        model_id: str,
    ) -> None:
        if settings.method == "first_last_frame" and pipe is None:
            raise ValueError("method 'first_last_frame' needs `pipe`, a WanImageToVideoPipeline, got None")
        if settings.method == "a4_blend" and animator is None:
            raise ValueError("method 'a4_blend' needs `animator`, an ImageToVideoTool, got None")
        if settings.method == "first_last_frame":
            check_pipeline(
                pipe,
                needs=("image", "last_image", "num_frames"),
                call_args=settings.call_args,
                role="video_connection",
                model=model_id,
                what="a pipeline conditioned on a first and a last frame",
            )
        self.pipe = pipe
        self.animator = animator
        self.settings = settings
        self.method = settings.method
        self.model_id = model_id

    @classmethod
    def from_profile(cls, profile: ModelProfile, device: str | None = None, *, animator=None) -> VideoConnectionTool:
        """Load the profile's first+last-frame pipeline, or A4's tool for ``a4_blend``.

        Args:
            profile (`ModelProfile`): names the model and settings.
            device (`str`, *optional*): overrides the automatic choice.
            animator (`ImageToVideoTool`, *optional*): A4's tool (or a ``LazyTool`` of it), for ``a4_blend`` to
                share instead of loading a second copy of the same video model.
        """
        settings = profile.video_connection
        if settings.method == "a4_blend":
            if animator is None:
                from mora_tools.pipelines.image_to_video import ImageToVideoTool

                animator = ImageToVideoTool.from_profile(profile, device)
            return cls(animator=animator, settings=settings, model_id=profile.image_to_video.model)
        quiet_libraries()  # before the import: transformers warns while diffusers imports
        from diffusers import WanImageToVideoPipeline
        from diffusers.utils import is_ftfy_available

        if not is_ftfy_available():
            # Wan's prompt cleaning calls ftfy unconditionally: fail here, not in the middle of a run.
            raise MoraError(
                f"the video_connection model '{settings.model}' (profile '{profile.name}') is a Wan pipeline, "
                "which cleans prompts with ftfy: pip install ftfy"
            )
        pipe = load_pipeline(
            WanImageToVideoPipeline, settings.model, role="video_connection", profile=profile, device=device
        )
        return cls(pipe=pipe, settings=settings, model_id=settings.model)

    def __call__(
        self,
        first: Image.Image,
        last: Image.Image,
        *,
        num_frames: int,
        seed: int,
        on_frame: Callable[[Image.Image], None],
        prompt: str = "",
        progress: ProgressSink | None = None,
        stage: str = "video_connection",
        cancel: CancelToken | None = None,
    ) -> VideoConnectionOutput:
        """Generate ``num_frames`` frames leading from ``first`` to ``last`` and pass each to ``on_frame`` in order.

        The end frames themselves are not delivered: the clips already hold them.

        Args:
            first (`PIL.Image.Image`): clip 1's last frame; its size is the transition's size.
            last (`PIL.Image.Image`): clip 2's first frame.
            num_frames (`int`): exact number of in-between frames to produce.
            seed (`int`): seeds one CPU generator.
            on_frame (`Callable`): receives every frame once, in order.
            prompt (`str`, *optional*, defaults to ``""``): describes the transition, for text-conditioned models
                (the first+last-frame model, or A4's model under ``a4_blend`` when it takes a prompt).
            progress (`ProgressSink`, *optional*): one event per denoising step.
            stage (`str`): the name progress events carry.
            cancel (`CancelToken`, *optional*): stops at the next step when set.
        """
        if num_frames < 1:
            raise ValueError(f"`num_frames` must be at least 1, got {num_frames}")
        first = first.convert("RGB")
        last = last.convert("RGB")
        if self.method == "a4_blend":
            return self._a4_blend(first, last, num_frames, seed, on_frame, prompt, progress, stage, cancel)
        return self._first_last_frame(first, last, num_frames, seed, on_frame, prompt, progress, stage, cancel)

    def _first_last_frame(self, first, last, num_frames, seed, on_frame, prompt, progress, stage, cancel):
        import torch

        s = self.settings
        progress = progress or NullProgress()
        callback = StepCallback(progress, stage, cancel)
        generator = torch.Generator("cpu").manual_seed(seed)
        # 1. Wan makes 4k + 1 frames: the smallest such video holding both end frames and the transition.
        generated = frames_to_generate(num_frames, temporal_compression(self.pipe) or 1)
        indices = transition_frame_indices(num_frames, generated)
        offered = {
            "image": first,
            "last_image": last,
            "prompt": prompt,
            "negative_prompt": s.negative_prompt,
            "height": first.height,
            "width": first.width,
            "num_frames": generated,
            "num_inference_steps": s.steps,
            "guidance_scale": s.guidance_scale,
            "generator": generator,
            "output_type": "pil",
            "callback_on_step_end": callback,
        }
        progress.start(stage, s.steps, f"transition, {num_frames} frame(s)")
        try:
            # 2. One call; with output_type="pil", `frames` is one list of PIL images per video.
            frames = self.pipe(**pipeline_kwargs(self.pipe, offered, s.call_args)).frames[0]
        finally:
            progress.finish(stage)
        # 3. Drop the end frames, keep the evenly spaced in-between ones.
        for index in indices:
            frame = frames[index]
            if frame.size != first.size:
                frame = frame.resize(first.size, Image.Resampling.LANCZOS)
            on_frame(frame)
        del frames
        parameters = {
            "steps": s.steps,
            "guidance_scale": s.guidance_scale,
            "negative_prompt": s.negative_prompt,
            "prompt": prompt,
            **s.call_args,
            "frames_generated": generated,
            "frame_indices": indices,
            "denoising_steps_run": callback.steps,
        }
        return VideoConnectionOutput(num_frames, self.method, self.model_id, parameters)

    def _a4_blend(self, first, last, num_frames, seed, on_frame, prompt, progress, stage, cancel):
        if last.size != first.size:
            last = last.resize(first.size, Image.Resampling.LANCZOS)
        received = 0

        def blend(frame: Image.Image) -> None:
            nonlocal received
            received += 1
            # 1. A4's first frame re-renders `first`, which clip 1 already ends on: drop it.
            if received == 1:
                return
            # 2. Frame i of n moves i / (n + 1) of the way to clip 2's first frame.
            frame = frame.convert("RGB")
            if frame.size != first.size:
                frame = frame.resize(first.size, Image.Resampling.LANCZOS)
            on_frame(Image.blend(frame, last, (received - 1) / (num_frames + 1)))

        # The animator reports its own progress (start, steps, finish) under this stage.
        animated = self.animator(
            first,
            num_frames=num_frames + 1,
            seed=seed,
            on_frame=blend,
            # A prompt-conditioned A4 model animates toward the described transition; SVD ignores it.
            prompt=prompt or None,
            progress=progress,
            stage=stage,
            cancel=cancel,
        )
        parameters = {
            "animator": animated.parameters,
            "segments": animated.segments,
            "blend": f"frame i of {num_frames} is blended toward the last frame with weight i / {num_frames + 1}",
        }
        return VideoConnectionOutput(received - 1, self.method, self.model_id, parameters)
