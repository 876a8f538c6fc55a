"""A3: the image-to-image agent that edits an image by an instruction (and transfers styles)."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import ToolAgent
from mora_agents.media import load_image
from mora_agents.messages import ImageArtifact, ImageToImageRequest


class ImageToImageAgent(ToolAgent):
    """Turns an :class:`ImageToImageRequest` into an edited :class:`ImageArtifact` of the same size.

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.image_to_image.ImageToImageTool` or anything called the same way.
        workspace: where the input is read and the PNG written.
        progress: receives per-step progress.
    """

    role = "image_to_image"
    request_type = ImageToImageRequest
    output_type = ImageArtifact

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
        return self.save_image(
            output.image,
            stage,
            started=started,
            model_id=output.model_id,
            parameters={"source": request.image.path, **output.parameters},
            seed=request.seed,
        )
