"""A3: the image-to-image agent that edits an image by an instruction (and transfers styles)."""

from __future__ import annotations

from typing import Any

from mora_agents.agents._tool_agent import ImageToolAgent
from mora_agents.media import load_image
from mora_agents.messages import ImageArtifact, ImageToImageRequest


class ImageToImageAgent(ImageToolAgent):
    """Turns an :class:`ImageToImageRequest` into an edited :class:`ImageArtifact` of the same size.

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.pipelines.image_to_image.ImageToImageTool` or anything called the same way.
        workspace: where the input is read and the PNG written.
        progress: receives per-step progress.
    """

    role = "image_to_image"
    request_type = ImageToImageRequest
    output_type = ImageArtifact

    def tool_inputs(self, request: ImageToImageRequest) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (load_image(self.workspace.path(request.image.path)), request.instruction), {}

    def recorded_inputs(self, request: ImageToImageRequest) -> dict[str, Any]:
        return {"source": request.image.path}
