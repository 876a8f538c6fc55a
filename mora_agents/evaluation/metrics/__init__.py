"""Quality metrics for generated videos (issue 7): one module per metric family, each returning a
:class:`MetricResult` (a value in a documented range plus the method that produced it).

Weight-free metrics, always available: :mod:`~mora_agents.evaluation.metrics.motion` (``dynamic_degree``,
``motion_smoothness``, ``flicker``; classical optical flow after VBench's rules) and
:mod:`~mora_agents.evaluation.metrics.drift` (``seam_drift``, ``frame_consistency``), all over the streaming reader
:mod:`~mora_agents.evaluation.metrics.frames`. Importing this package costs numpy and pydantic only: OpenCV loads on
the first metric computed.
"""

from mora_agents.evaluation.metrics.drift import frame_consistency, seam_drift, segment_boundaries
from mora_agents.evaluation.metrics.frames import Frame, VideoInfo, iter_frames, probe_video
from mora_agents.evaluation.metrics.motion import (
    WEIGHT_FREE_METRICS,
    dynamic_degree,
    flicker,
    motion_smoothness,
    weight_free_metrics,
)
from mora_agents.evaluation.metrics.result import MetricResult

__all__ = [
    "WEIGHT_FREE_METRICS",
    "Frame",
    "MetricResult",
    "VideoInfo",
    "dynamic_degree",
    "flicker",
    "frame_consistency",
    "iter_frames",
    "motion_smoothness",
    "probe_video",
    "seam_drift",
    "segment_boundaries",
    "weight_free_metrics",
]

# Model-based metrics (models named by a metrics profile: profiles/*.yaml here). Importing them costs no torch either:
# models load on first use.
from mora_agents.evaluation.metrics.captioner import Captioner, OpenAICaptioner, captioner_from_env  # noqa: E402
from mora_agents.evaluation.metrics.clip_scores import (  # noqa: E402
    aesthetic_quality,
    appearance_style,
    imaging_quality,
    temporal_style,
)
from mora_agents.evaluation.metrics.features import background_consistency, subject_consistency  # noqa: E402
from mora_agents.evaluation.metrics.models import MetricModels, check_metrics_profile  # noqa: E402
from mora_agents.evaluation.metrics.paper import (  # noqa: E402
    tcon,
    tmean,
    video_length,
    video_text_integration,
)
from mora_agents.evaluation.metrics.profiles import MetricsProfile, load_metrics_profile  # noqa: E402

__all__ += [
    "Captioner",
    "MetricModels",
    "MetricsProfile",
    "OpenAICaptioner",
    "aesthetic_quality",
    "appearance_style",
    "background_consistency",
    "captioner_from_env",
    "check_metrics_profile",
    "imaging_quality",
    "load_metrics_profile",
    "subject_consistency",
    "tcon",
    "temporal_style",
    "tmean",
    "video_length",
    "video_text_integration",
]
