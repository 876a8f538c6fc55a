"""A4: the image-to-video agent that animates a first frame, chaining segments to the requested length."""

from __future__ import annotations

from typing import Any

from PIL import Image

from mora_agents.agents._tool_agent import VideoToolAgent
from mora_agents.media import load_image
from mora_agents.messages import ImageToVideoRequest, VideoArtifact


class ImageToVideoAgent(VideoToolAgent):
    """Turns an :class:`ImageToVideoRequest` into a :class:`VideoArtifact` with its one tool.

    Frames stream from the tool straight into the MP4 writer; the file appears only when complete. The request's
    prompt goes to the tool, which hands it to prompt-conditioned models only (the manifest's ``prompt_used``).

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.pipelines.image_to_video.ImageToVideoTool` or anything called the same way; it must
            expose ``settings.fps``.
        workspace: where the MP4 is written; the request's image is read from it.
        progress: receives per-step progress.
    """

    role = "image_to_video"
    request_type = ImageToVideoRequest
    output_type = VideoArtifact

    def tool_images(self, request: ImageToVideoRequest) -> list[Image.Image]:
        return [load_image(self.workspace.path(request.image.path))]

    def frame_rate(self) -> float:
        return self.tool.settings.fps

    def skipped_frames(self, request: ImageToVideoRequest) -> int:
        # A continuation leaves out the first frame: it re-renders the frame the input video ends on.
        return 1 if request.skip_first_frame else 0

    def recorded(self, request: ImageToVideoRequest, output: Any) -> dict[str, Any]:
        parameters = {
            "duration": request.duration,
            "first_frame": request.image.path,
            "skip_first_frame": request.skip_first_frame,
            **output.parameters,
        }
        return {"parameters": parameters, "segments": output.segments}
