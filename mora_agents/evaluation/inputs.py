"""What a video is evaluated against (:class:`EvalInputs`), and what each metric needs besides the video."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NEEDS: dict[str, str] = {
    "appearance_style": "prompt",
    "temporal_style": "prompt",
    "video_text_integration": "prompt",
    "tcon": "input_video",
    "tmean": "two_input_videos",
}
"""What a metric needs besides the video."""

_NEED_WORDS = {
    "prompt": "the prompt text (--prompt, or a run whose request has a prompt)",
    "input_video": "an input video (--input-video, or a run of a task with an input video)",
    "two_input_videos": "the clips before and after it (--input-video twice, or a connect_videos run)",
}


@dataclass
class EvalInputs:
    """The video and everything its metrics may use."""

    video: Path
    """The video to score."""
    prompt: str | None = None
    image: Path | None = None
    """The task's input image (VideoTI mixes its caption into the request text)."""
    input_videos: list[Path] = field(default_factory=list)
    """``tcon``: the first is the input; ``tmean``: the clips before and after."""
    connecting_clip: Path | None = None
    """``tmean`` scores this clip (a connect_videos run's transition); ``None``: the video itself."""
    boundaries: list[int] | None = None
    """``seam_drift``: frame indices where segments start; ``None``: scan every pair for hard cuts."""

    def missing(self, metric: str) -> str | None:
        """The missing input of ``metric`` in words, or ``None`` when it has everything."""
        need = NEEDS.get(metric)
        have = {
            None: True,
            "prompt": bool(self.prompt and self.prompt.strip()),
            "input_video": len(self.input_videos) >= 1,
            "two_input_videos": len(self.input_videos) >= 2,
        }[need]
        return None if have else _NEED_WORDS[need]  # type: ignore[index]


__all__ = ["NEEDS", "EvalInputs"]
