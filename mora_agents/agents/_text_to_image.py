"""A2: the text-to-image agent that draws a video's first frame."""

from __future__ import annotations

from typing import Any

from mora_agents.agents._tool_agent import ImageToolAgent
from mora_agents.messages import ImageArtifact, TextToImageRequest


class TextToImageAgent(ImageToolAgent):
    """Turns a :class:`TextToImageRequest` into an :class:`ImageArtifact` with its one tool.

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.pipelines.text_to_image.TextToImageTool` or anything called the same way.
        workspace: where the PNG is written.
        progress: receives per-step progress.
    """

    role = "text_to_image"
    request_type = TextToImageRequest
    output_type = ImageArtifact

    def tool_inputs(self, request: TextToImageRequest) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # The size this agent's settings say: a request's size overrides the profile's without reloading the tool.
        return (request.prompt,), {"width": self.tool.settings.width, "height": self.tool.settings.height}

    def recorded_inputs(self, request: TextToImageRequest) -> dict[str, Any]:
        return {"prompt": request.prompt}
