"""A4: the image-to-video agent that animates a first frame, chaining segments to the requested length."""

from __future__ import annotations

import time

from autogen_core import CancellationToken

from mora_agents.agents._stage_agent import ToolAgent
from mora_agents.media import load_image
from mora_agents.messages import ImageToVideoRequest, VideoArtifact


class ImageToVideoAgent(ToolAgent):
    """Turns an :class:`ImageToVideoRequest` into a :class:`VideoArtifact` with its one tool.

    Frames stream from the tool straight into the MP4 writer; the file appears only when complete. The request's
    prompt goes to the tool, which hands it to prompt-conditioned models only (the manifest's ``prompt_used``).

    Args:
        name: agent name (an identifier).
        tool: a :class:`mora_tools.image_to_video.ImageToVideoTool` or anything called the same way; it must
            expose ``settings.fps``.
        workspace: where the MP4 is written; the request's image is read from it.
        progress: receives per-step progress.
    """

    role = "image_to_video"
    request_type = ImageToVideoRequest
    output_type = VideoArtifact

    async def handle(self, request: ImageToVideoRequest, stage: str, token: CancellationToken) -> VideoArtifact:
        started = time.perf_counter()
        image = load_image(self.workspace.path(request.image.path))
        fps = self.tool.settings.fps
        num_frames = max(1, round(request.duration * fps))
        # A continuation leaves out the first frame: it re-renders the frame the input video ends on.
        skip = 1 if request.skip_first_frame else 0

        def generate(append, cancel):
            seen = 0

            def on_frame(frame):
                nonlocal seen
                if seen >= skip:
                    append(frame)
                seen += 1

            return self.tool(
                image,
                num_frames=num_frames + skip,
                seed=request.seed,
                on_frame=on_frame,
                prompt=request.prompt,
                progress=self.progress,
                stage=stage,
                cancel=cancel,
            )

        relative, output, written = await self.write_video(stage, fps, generate, token)
        return self.video_artifact(
            relative,
            started=started,
            model_id=output.model_id,
            parameters={
                "duration": request.duration,
                "first_frame": request.image.path,
                "skip_first_frame": request.skip_first_frame,
                **output.parameters,
            },
            seed=request.seed,
            width=image.width,
            height=image.height,
            fps=fps,
            num_frames=written,
            segments=output.segments,
        )
