"""A3: the image-to-image agent that edits an image by an instruction (and transfers styles)."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import StageAgent
from mora_agents.media import load_image, save_png
from mora_agents.messages import ImageArtifact, ImageToImageRequest
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file
from tools.progress import ProgressSink


class ImageToImageAgent(StageAgent):
    """Turns an :class:`ImageToImageRequest` into an edited :class:`ImageArtifact` of the same size.

    Args:
        name: agent name (an identifier).
        tool: a :class:`tools.image_to_image.ImageToImageTool` or anything called the same way.
        workspace: where the input is read and the PNG written.
        progress: receives per-step progress.
    """

    request_type = ImageToImageRequest
    output_type = ImageArtifact

    def __init__(self, name: str, tool, workspace: Workspace, progress: ProgressSink | None = None) -> None:
        super().__init__(name, role_prompt("image_to_image"), progress)
        self.tool = tool
        self.workspace = workspace

    async def handle(self, request: ImageToImageRequest, stage: str, token: CancellationToken) -> ImageArtifact:
        started = time.perf_counter()
        source = load_image(self.workspace.path(request.image.path))
        output = await self.run_blocking(
            lambda cancel: self.tool(
                source, request.instruction, seed=request.seed, progress=self.progress, stage=stage, cancel=cancel
            ),
            stage,
            token,
        )
        relative = self.workspace.unique_name(f"stages/{stage}", ".png")
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(output.image, path)
        return ImageArtifact(
            path=relative,
            sha256=sha256_file(path),
            model_id=output.model_id,
            parameters={"source": request.image.path, **output.parameters},
            seed=request.seed,
            seconds=round(time.perf_counter() - started, 3),
            width=output.image.width,
            height=output.image.height,
        )
