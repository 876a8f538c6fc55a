"""Which metrics an evaluation computes: the paper's metrics per task (App. A.2; Tables 1-2), the weight-free ones
every evaluation adds, the metrics mora never computes (with the reason), and the checked names of ``--metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mora_agents.errors import MoraError
from mora_agents.evaluation.inputs import EvalInputs
from mora_agents.evaluation.metrics.clip_scores import IMAGING_QUALITY_REASON

WEIGHT_FREE_ALWAYS = ["dynamic_degree", "motion_smoothness", "flicker", "seam_drift"]
"""Weight-free metrics every evaluation adds: they cost no model and catch chaining faults (seams, flicker)."""

PAPER_VIDEO_QUALITY_DIMENSIONS = (
    "subject_consistency",
    "background_consistency",
    "motion_smoothness",
    "aesthetic_quality",
    "dynamic_degree",
    "imaging_quality",
)
"""The six VBench dimensions whose mean is the paper's "Video Quality" column (Table 1: Sora's six give 0.797)."""

NOT_COMPUTED: dict[str, str] = {
    "imaging_quality": "imaging_quality (MUSIQ) is not computed: " + IMAGING_QUALITY_REASON,
}
"""Metrics the paper reports that mora never computes, with the reason; left out of every task's list, and an error
when asked for by name (a number that is always missing would only hide it)."""

VIDEO_QUALITY_DIMENSIONS = tuple(name for name in PAPER_VIDEO_QUALITY_DIMENSIONS if name not in NOT_COMPUTED)
"""The five of the paper's six that mora computes; ``video_quality`` is their mean, not comparable to Table 1."""

TASK_METRICS: dict[str, list[str]] = {
    # Paper §4.1 "Metrics" and Table 1 (text-to-video): VBench's video-quality dimensions (Object = subject
    # consistency, Background Consistency, Motion Smoothness, Aesthetic Quality, Dynamic Degree; Imaging Quality is
    # not computed: NOT_COMPUTED), the two video-condition-consistency ones (Temporal Style, Appearance Style: §4.1
    # names both, Table 1 prints Temporal Style) and the Video Length column.
    "text_to_video": [
        "video_quality",
        *VIDEO_QUALITY_DIMENSIONS,
        "temporal_style",
        "appearance_style",
        "video_length",
    ],
    # Table 2, "Image-to-Video Generation": VideoTI, Motion Smoothness, Dynamic Degree (and Imaging Quality).
    "image_to_video": ["video_text_integration", "motion_smoothness", "dynamic_degree"],
    # Table 2, "Extend Videos": TCON, Temporal Style (and Imaging Quality).
    "extend_video": ["tcon", "temporal_style"],
    # Table 2, "Video-to-Video Editing": Temporal Style (and Imaging Quality). TCON is our addition: App. A.2 defines
    # it for any input-output video pair, and an edit should keep the input's motion.
    "edit_video": ["temporal_style", "tcon"],
    # Table 2, "Connect Videos": Tmean (and Imaging Quality).
    "connect_videos": ["tmean"],
    # Table 2, "Simulate Digital Worlds": Appearance Style (and Imaging Quality).
    "digital_world": ["appearance_style"],
}
"""Each built-in task's metrics, as the paper reports them (App. A.2; Tables 1-2) less :data:`NOT_COMPUTED`;
:func:`task_metrics` adds :data:`WEIGHT_FREE_ALWAYS`."""

MODEL_BASED = (
    "subject_consistency",
    "background_consistency",
    "aesthetic_quality",
    "appearance_style",
    "temporal_style",
    "video_text_integration",
    "tcon",
    "tmean",
)
WEIGHT_FREE = ("dynamic_degree", "motion_smoothness", "flicker", "frame_consistency", "seam_drift")
KNOWN_METRICS = (*MODEL_BASED, *WEIGHT_FREE, "video_length", "video_quality")
"""Every metric :func:`~mora_agents.evaluation.scoring.compute_metrics` computes."""


def task_metrics(task: str | None) -> list[str] | None:
    """The task's metrics plus :data:`WEIGHT_FREE_ALWAYS`; ``None`` for a task the paper does not report."""
    if task not in TASK_METRICS:
        return None
    return list(dict.fromkeys([*TASK_METRICS[task], *WEIGHT_FREE_ALWAYS]))


def parse_metrics(text: str | Sequence[str] | None) -> list[str] | None:
    """``"a,b"`` (or a list) -> checked metric names; ``None`` stays ``None`` (the default set).

    Raises:
        MoraError: an unknown name, in one sentence listing the known ones.
    """
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    names = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not names:
        raise MoraError(f"--metrics is empty: name one or more of {', '.join(KNOWN_METRICS)}")
    for name in names:
        if name in NOT_COMPUTED:
            raise MoraError(NOT_COMPUTED[name])
    unknown = [name for name in names if name not in KNOWN_METRICS]
    if unknown:
        raise MoraError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}: "
            f"the known metrics are {', '.join(KNOWN_METRICS)}"
        )
    return names


def default_metrics(inputs: EvalInputs) -> list[str]:
    """A bare video's metrics: those that need only the video, plus those its given inputs allow."""
    names = [
        "video_quality",
        "subject_consistency",
        "background_consistency",
        "aesthetic_quality",
        "video_length",
        *WEIGHT_FREE_ALWAYS,
    ]
    if inputs.missing("temporal_style") is None:
        names += ["temporal_style", "appearance_style", "video_text_integration"]
    if inputs.missing("tmean") is None:
        names.append("tmean")
    elif inputs.missing("tcon") is None:
        names.append("tcon")
    return names


__all__ = [
    "KNOWN_METRICS",
    "MODEL_BASED",
    "NOT_COMPUTED",
    "PAPER_VIDEO_QUALITY_DIMENSIONS",
    "TASK_METRICS",
    "VIDEO_QUALITY_DIMENSIONS",
    "WEIGHT_FREE",
    "WEIGHT_FREE_ALWAYS",
    "default_metrics",
    "parse_metrics",
    "task_metrics",
]
