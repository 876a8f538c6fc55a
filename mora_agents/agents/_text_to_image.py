"""A2: the text-to-image agent that draws a video's first frame."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import StageAgent
from mora_agents.media import save_png
from mora_agents.messages import ImageArtifact, TextToImageRequest
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file
from tools.progress import ProgressSink


class TextToImageAgent(StageAgent):
    """Turns a :class:`TextToImageRequest` into an :class:`ImageArtifact` with its one tool.

    Args:
        name: agent name (an identifier).
        tool: a :class:`tools.text_to_image.TextToImageTool` or anything called the same way.
        workspace: where the PNG is written.
        progress: receives per-step progress.
    """

    request_type = TextToImageRequest
    output_type = ImageArtifact

    def __init__(self, name: str, tool, workspace: Workspace, progress: ProgressSink | None = None) -> None:
        super().__init__(name, role_prompt("text_to_image"), progress)
        self.tool = tool
        self.workspace = workspace

    async def handle(self, request: TextToImageRequest, stage: str, token: CancellationToken) -> ImageArtifact:
        started = time.perf_counter()
        output = await self.run_blocking(
            lambda cancel: self.tool(
                request.prompt, seed=request.seed, progress=self.progress, stage=stage, cancel=cancel
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
            parameters={"prompt": request.prompt, **output.parameters},
            seed=request.seed,
            seconds=round(time.perf_counter() - started, 3),
            width=output.image.width,
            height=output.image.height,
        )
