"""A5: the video-connection agent that makes a transition from one clip's last frame to the next one's first."""

from __future__ import annotations

from typing import Any

from PIL import Image

from mora_agents.agents._tool_agent import VideoToolAgent
from mora_agents.media import load_image
from mora_agents.messages import VideoArtifact, VideoConnectionRequest
from mora_agents.workspace import Workspace
from mora_tools.pipelines.progress import ProgressSink


class VideoConnectionAgent(VideoToolAgent):
    """Turns a :class:`VideoConnectionRequest` into the transition :class:`VideoArtifact`.

    The manifest records which method made it (``first_last_frame`` or the ``a4_blend`` fallback) in the
    artifact's ``parameters.method``.

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.pipelines.video_connection.VideoConnectionTool` or anything called the same way.
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

    def tool_images(self, request: VideoConnectionRequest) -> list[Image.Image]:
        first = load_image(self.workspace.path(request.first.path))
        last = load_image(self.workspace.path(request.last.path))
        return [first, last if last.size == first.size else last.resize(first.size)]

    def frame_rate(self) -> float:
        return self.fps

    def recorded(self, request: VideoConnectionRequest, output: Any) -> dict[str, Any]:
        parameters = {
            "method": output.method,
            "first": request.first.path,
            "last": request.last.path,
            "duration": request.duration,
            **output.parameters,
        }
        return {"parameters": parameters}
