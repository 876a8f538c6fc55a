"""A5: the video-connection agent that makes a transition from one clip's last frame to the next one's first."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import StageAgent
from mora_agents.media import VideoFileWriter, load_image
from mora_agents.messages import VideoArtifact, VideoConnectionRequest
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file
from tools.progress import ProgressSink


class VideoConnectionAgent(StageAgent):
    """Turns a :class:`VideoConnectionRequest` into the transition :class:`VideoArtifact`.

    The manifest records which method made it (``first_last_frame`` or the ``a4_blend`` fallback) in the
    artifact's ``parameters.method``.

    Args:
        name: agent name (an identifier).
        tool: a :class:`tools.video_connection.VideoConnectionTool` or anything called the same way; it must
            expose ``fps``.
        workspace: where the end frames are read and the MP4 written.
        progress: receives per-step progress.
    """

    request_type = VideoConnectionRequest
    output_type = VideoArtifact

    def __init__(self, name: str, tool, workspace: Workspace, fps: int, progress: ProgressSink | None = None) -> None:
        super().__init__(name, role_prompt("video_connection"), progress)
        self.tool = tool
        self.workspace = workspace
        self.fps = fps

    async def handle(self, request: VideoConnectionRequest, stage: str, token: CancellationToken) -> VideoArtifact:
        started = time.perf_counter()
        first = load_image(self.workspace.path(request.first.path))
        last = load_image(self.workspace.path(request.last.path))
        if last.size != first.size:
            last = last.resize(first.size)
        num_frames = max(1, round(request.duration * self.fps))
        relative = self.workspace.unique_name(f"stages/{stage}", ".mp4")
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)

        def generate(cancel):
            with VideoFileWriter(path, fps=self.fps) as writer:
                output = self.tool(
                    first,
                    last,
                    num_frames=num_frames,
                    seed=request.seed,
                    on_frame=writer.append,
                    prompt=request.prompt,
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
                "method": output.method,
                "first": request.first.path,
                "last": request.last.path,
                "duration": request.duration,
                **output.parameters,
            },
            seed=request.seed,
            seconds=round(time.perf_counter() - started, 3),
            width=first.width,
            height=first.height,
            fps=self.fps,
            num_frames=written,
        )
