"""A2: the text-to-image agent that draws a video's first frame."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import ToolAgent
from mora_agents.messages import ImageArtifact, TextToImageRequest


class TextToImageAgent(ToolAgent):
    """Turns a :class:`TextToImageRequest` into an :class:`ImageArtifact` with its one tool.

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.text_to_image.TextToImageTool` or anything called the same way.
        workspace: where the PNG is written.
        progress: receives per-step progress.
    """

    role = "text_to_image"
    request_type = TextToImageRequest
    output_type = ImageArtifact

    async def handle(self, request: TextToImageRequest, stage: str, token: CancellationToken) -> ImageArtifact:
        started = time.perf_counter()
        # The size this agent's settings say: a request's size overrides the profile's without reloading the tool.
        size = {"width": self.tool.settings.width, "height": self.tool.settings.height}
        output = await self.run_blocking(
            lambda cancel: self.tool(
                request.prompt, seed=request.seed, progress=self.progress, stage=stage, cancel=cancel, **size
            ),
            stage,
            token,
        )
        return self.save_image(
            output.image,
            stage,
            started=started,
            model_id=output.model_id,
            parameters={"prompt": request.prompt, **output.parameters},
            seed=request.seed,
        )
