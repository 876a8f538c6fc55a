"""A5: the video-connection agent that makes a transition from one clip's last frame to the next one's first."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import ToolAgent
from mora_agents.media import load_image
from mora_agents.messages import VideoArtifact, VideoConnectionRequest
from mora_agents.workspace import Workspace
from mora_tools.progress import ProgressSink


class VideoConnectionAgent(ToolAgent):
    """Turns a :class:`VideoConnectionRequest` into the transition :class:`VideoArtifact`.

    The manifest records which method made it (``first_last_frame`` or the ``a4_blend`` fallback) in the
    artifact's ``parameters.method``.

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.video_connection.VideoConnectionTool` or anything called the same way.
        workspace: where the end frames are read and the MP4 written.
        fps: the run's frame rate (the transition is joined between clips made at it).
        progress: receives per-step progress.
    """

    role = "video_connection"
    request_type = VideoConnectionRequest
    output_type = VideoArtifact

    def __init__(self, name: str, tool, workspace: Workspace, fps: int, progress: ProgressSink | None = None) -> None:
        super().__init__(name, tool, workspace, progress)
        self.fps = fps

    async def handle(self, request: VideoConnectionRequest, stage: str, token: CancellationToken) -> VideoArtifact:
        started = time.perf_counter()
        first = load_image(self.workspace.path(request.first.path))
        last = load_image(self.workspace.path(request.last.path))
        if last.size != first.size:
            last = last.resize(first.size)
        num_frames = max(1, round(request.duration * self.fps))

        def generate(append, cancel):
            return self.tool(
                first,
                last,
                num_frames=num_frames,
                seed=request.seed,
                on_frame=append,
                prompt=request.prompt,
                progress=self.progress,
                stage=stage,
                cancel=cancel,
            )

        relative, output, written = await self.write_video(stage, self.fps, generate, token)
        return self.video_artifact(
            relative,
            started=started,
            model_id=output.model_id,
            parameters={
                "method": output.method,
                "first": request.first.path,
                "last": request.last.path,
                "duration": request.duration,
                **output.parameters,
            },
            seed=request.seed,
            width=first.width,
            height=first.height,
            fps=self.fps,
            num_frames=written,
        )
