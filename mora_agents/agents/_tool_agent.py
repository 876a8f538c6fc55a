"""The stage agents that call one generative tool (A2-A5): the call, its retry out of memory, the artifact it writes.

A role agent says only what differs: how its request becomes the tool's inputs, and what its artifact records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from autogen_core import CancellationToken
from PIL import Image

from mora_agents.agents._stage_agent import StageAgent
from mora_agents.errors import MoraError
from mora_agents.media import VideoFileWriter, save_png
from mora_agents.messages import ImageArtifact, VideoArtifact
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file
from mora_tools.loading.memory import is_out_of_memory
from mora_tools.pipelines.progress import CancelToken, ProgressSink

T = TypeVar("T")


class ToolAgent(StageAgent):
    """A stage agent that calls one generative tool and writes its result into the run's workspace.

    Subclasses set :attr:`role` (their system prompt is ``prompts/<role>.txt``, used as the AutoGen
    ``description``). Results are written atomically under ``stages/`` and described by an artifact.
    """

    role: ClassVar[str]

    def __init__(self, name: str, tool: Any, workspace: Workspace, progress: ProgressSink | None = None) -> None:
        super().__init__(name, role_prompt(self.role), progress)
        self.tool = tool
        self.workspace = workspace
        self.memory_fallback: str | None = None
        """Set when the last tool call ran out of memory and succeeded on its retry (goes into the manifest)."""

    async def run_blocking(self, func: Callable[[CancelToken], T], stage: str, token: CancellationToken) -> T:
        """Run the tool call; after an out-of-memory error, once more with the tool reloaded in low-memory mode.

        Tools loaded through :class:`mora_tools.loading.memory.ModelMemory` know how to reload that way; others fail
        at once.
        """
        self.memory_fallback = None
        try:
            return await super().run_blocking(func, stage, token)
        except Exception as error:  # noqa: BLE001 - only memory errors are handled, the rest re-raised
            if not (is_out_of_memory(error) and hasattr(self.tool, "fall_back_to_low_memory")):
                raise
            message = str(error).splitlines()[0]
        # Retried outside the except block: the traceback's frames still hold the failed call's tensors.
        self.tool.fall_back_to_low_memory()
        try:
            result = await super().run_blocking(func, stage, token)
        except Exception as error:  # noqa: BLE001
            if is_out_of_memory(error):
                raise MoraError(
                    f"stage '{stage}' ran out of memory, even retried with CPU offload and VAE slicing/tiling: "
                    "use a smaller profile or resolution, or free the device's memory"
                ) from None
            raise
        levers = ", ".join(self.tool.memory_levers()) or "a fresh load (no offload or VAE lever applies here)"
        self.memory_fallback = f"out of memory ({message[:120]}); retried once with {levers}"
        return result

    def _recorded(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.memory_fallback:
            fields["parameters"] = {**fields.get("parameters", {}), "memory_fallback": self.memory_fallback}
        return fields

    def new_file(self, stage: str, suffix: str) -> tuple[str, Path]:
        """A fresh ``stages/<stage>[_n]<suffix>``: regenerated iterations keep their own files."""
        relative = self.workspace.unique_name(f"stages/{stage}", suffix)
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        return relative, path


class ImageToolAgent(ToolAgent):
    """A tool agent that makes one image: the tool gets the role's inputs and the request's seed, and returns an
    output with ``image``, ``model_id`` and ``parameters``; the image is written as a PNG.

    Subclasses implement :meth:`tool_inputs` and :meth:`recorded_inputs`.
    """

    output_type = ImageArtifact

    def tool_inputs(self, request: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The tool's positional and keyword inputs for ``request`` (besides seed, progress, stage and cancel)."""
        raise NotImplementedError

    def recorded_inputs(self, request: Any) -> dict[str, Any]:
        """What the artifact's ``parameters`` record of ``request``, before the tool's own parameters."""
        raise NotImplementedError

    async def handle(self, request: Any, stage: str, token: CancellationToken) -> ImageArtifact:
        started = time.perf_counter()
        args, kwargs = self.tool_inputs(request)
        output = await self.run_blocking(
            lambda cancel: self.tool(
                *args, seed=request.seed, progress=self.progress, stage=stage, cancel=cancel, **kwargs
            ),
            stage,
            token,
        )
        return self.save_image(
            output.image,
            stage,
            started=started,
            model_id=output.model_id,
            parameters={**self.recorded_inputs(request), **output.parameters},
            seed=request.seed,
        )

    def save_image(self, image: Image.Image, stage: str, *, started: float, **fields: Any) -> ImageArtifact:
        """Write ``image`` as a PNG and describe it; ``fields`` are the artifact's model_id, parameters, seed."""
        relative, path = self.new_file(stage, ".png")
        save_png(image, path)
        return ImageArtifact(
            path=relative,
            sha256=sha256_file(path),
            seconds=round(time.perf_counter() - started, 3),
            width=image.width,
            height=image.height,
            **self._recorded(fields),
        )


class VideoToolAgent(ToolAgent):
    """A tool agent that makes a clip of ``request.duration`` seconds from images: the tool streams its frames
    (``on_frame``) straight into the MP4 writer, and the file appears only when complete.

    Subclasses implement :meth:`tool_images`, :meth:`frame_rate` and :meth:`recorded`, and may leave out the first
    frames the tool makes (:meth:`skipped_frames`).
    """

    output_type = VideoArtifact

    def tool_images(self, request: Any) -> list[Image.Image]:
        """The tool's image inputs for ``request``, in order; the first one gives the clip's size."""
        raise NotImplementedError

    def frame_rate(self) -> float:
        """The clip's frames per second."""
        raise NotImplementedError

    def skipped_frames(self, request: Any) -> int:
        """How many frames the tool makes first that the clip leaves out (made on top of the duration's)."""
        return 0

    def recorded(self, request: Any, output: Any) -> dict[str, Any]:
        """The artifact's ``parameters`` (the request's inputs, then the tool's ``output.parameters``) and any other
        field the role's artifact records."""
        raise NotImplementedError

    async def handle(self, request: Any, stage: str, token: CancellationToken) -> VideoArtifact:
        started = time.perf_counter()
        images = self.tool_images(request)
        fps = self.frame_rate()
        num_frames = max(1, round(request.duration * fps))
        skip = self.skipped_frames(request)

        def generate(append: Callable[[Any], None], cancel: CancelToken) -> Any:
            seen = 0

            def on_frame(frame: Any) -> None:
                nonlocal seen
                if seen >= skip:
                    append(frame)
                seen += 1

            return self.tool(
                *images,
                num_frames=num_frames + skip,
                seed=request.seed,
                on_frame=on_frame if skip else append,
                prompt=request.prompt,
                progress=self.progress,
                stage=stage,
                cancel=cancel,
            )

        relative, output, written = await self.write_video(stage, fps, generate, token)
        return self.video_artifact(
            relative,
            started=started,
            model_id=output.model_id,
            seed=request.seed,
            width=images[0].width,
            height=images[0].height,
            fps=fps,
            num_frames=written,
            **self.recorded(request, output),
        )

    async def write_video(
        self, stage: str, fps: float, generate: Callable[[Callable, CancelToken], T], token: CancellationToken
    ) -> tuple[str, T, int]:
        """Run ``generate(on_frame, cancel)`` in a worker thread, streaming its frames into a new MP4.

        Returns:
            The file's workspace-relative path, what ``generate`` returned, and the frames written.
        """
        relative, path = self.new_file(stage, ".mp4")

        def run(cancel: CancelToken) -> tuple[T, int]:
            with VideoFileWriter(path, fps=fps) as writer:
                result = generate(writer.append, cancel)
            return result, writer.num_frames

        result, frames = await self.run_blocking(run, stage, token)
        return relative, result, frames

    def video_artifact(self, relative: str, *, started: float, **fields: Any) -> VideoArtifact:
        """Describe the MP4 at ``relative``; ``fields`` are the artifact's other fields."""
        return VideoArtifact(
            path=relative,
            sha256=sha256_file(self.workspace.path(relative)),
            seconds=round(time.perf_counter() - started, 3),
            **self._recorded(fields),
        )
