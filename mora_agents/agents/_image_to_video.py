"""A4: the image-to-video agent that animates a first frame, chaining segments to the requested length."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import StageAgent
from mora_agents.media import VideoFileWriter, load_image
from mora_agents.messages import ImageToVideoRequest, VideoArtifact
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file
from tools.progress import ProgressSink


class ImageToVideoAgent(StageAgent):
    """Turns an :class:`ImageToVideoRequest` into a :class:`VideoArtifact` with its one tool.

    Frames stream from the tool straight into the MP4 writer; the file appears only when complete.

    Args:
        name: agent name (an identifier).
        tool: a :class:`tools.image_to_video.ImageToVideoTool` or anything called the same way; it must
            expose ``settings.fps``.
        workspace: where the MP4 is written; the request's image is read from it.
        progress: receives per-step progress.
    """

    request_type = ImageToVideoRequest
    output_type = VideoArtifact

    def __init__(self, name: str, tool, workspace: Workspace, progress: ProgressSink | None = None) -> None:
        super().__init__(name, role_prompt("image_to_video"), progress)
        self.tool = tool
        self.workspace = workspace

    async def handle(self, request: ImageToVideoRequest, stage: str, token: CancellationToken) -> VideoArtifact:
        started = time.perf_counter()
        image = load_image(self.workspace.path(request.image.path))
        fps = self.tool.settings.fps
        num_frames = max(1, round(request.duration * fps))
        relative = self.workspace.unique_name(f"stages/{stage}", ".mp4")
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)

        # A continuation leaves out the first frame: it re-renders the frame the input video ends on.
        skip = 1 if request.skip_first_frame else 0

        def generate(cancel):
            with VideoFileWriter(path, fps=fps) as writer:
                seen = 0

                def on_frame(frame):
                    nonlocal seen
                    if seen >= skip:
                        writer.append(frame)
                    seen += 1

                output = self.tool(
                    image,
                    num_frames=num_frames + skip,
                    seed=request.seed,
                    on_frame=on_frame,
                    progress=self.progress,
                    stage=stage,
                    cancel=cancel,
                )
            return output, writer.num_frames

        output, written = await self.run_blocking(generate, stage, token)
        return VideoArtifact(
            path=relative,
            sha256=sha256_file(path),
            model_id=output.model_id,
            parameters={
                "duration": request.duration,
                "first_frame": request.image.path,
                "skip_first_frame": request.skip_first_frame,
                **output.parameters,
            },
            seed=request.seed,
            seconds=round(time.perf_counter() - started, 3),
            width=image.width,
            height=image.height,
            fps=fps,
            num_frames=written,
            segments=output.segments,
        )
