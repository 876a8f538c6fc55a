"""Computing an evaluation's metrics for one video (:func:`compute_metrics`), and mora's Video Quality mean.

Metrics whose model is missing, or whose input is not given, are reported without a value and with the reason, and
the rest still run; a metric asked for by name (``metrics=[...]``) that cannot run is an error instead, because the
caller asked for exactly that number.
"""

from __future__ import annotations

from collections.abc import Sequence

from mora_agents.errors import ModelUnavailableError, MoraError
from mora_agents.evaluation.inputs import EvalInputs
from mora_agents.evaluation.metrics.result import MetricResult
from mora_agents.evaluation.selection import (
    MODEL_BASED,
    NOT_COMPUTED,
    VIDEO_QUALITY_DIMENSIONS,
    WEIGHT_FREE,
    default_metrics,
    parse_metrics,
)


def compute_metrics(
    inputs: EvalInputs,
    metrics: Sequence[str] | None = None,
    metrics_profile: str = "real",
    *,
    strict: bool | None = None,
    device: str | None = None,
) -> dict[str, MetricResult]:
    """Compute ``metrics`` (default: :func:`default_metrics`) for ``inputs.video``.

    Args:
        inputs (`EvalInputs`): the video and its inputs.
        metrics (`Sequence[str]`, *optional*): metric names; checked with :func:`parse_metrics`.
        metrics_profile (`str`, *optional*, defaults to `"real"`): the metrics profile (name or YAML path).
        strict (`bool`, *optional*): a metric that cannot run is an error (``True``) or a result without a value
            and with the reason (``False``); default: strict exactly when ``metrics`` were named.
        device (`str`, *optional*): torch device of the metric models (default: CUDA when present).

    Returns:
        `dict[str, MetricResult]`: one result per metric, in the order asked.

    Raises:
        MoraError: the video is unreadable; in strict mode, a metric's input or model is missing.
    """
    from mora_agents.evaluation.metrics.frames import probe_video
    from mora_agents.evaluation.metrics.models import MODEL_METRICS, MetricModels

    # 1. The video first: an unreadable one is the user's first problem, whatever the metrics.
    probe_video(inputs.video)
    strict = metrics is not None if strict is None else strict
    asked = parse_metrics(metrics) if metrics is not None else default_metrics(inputs)
    # video_quality is the mean of five dimensions: they are computed (and reported) with it.
    extra = list(VIDEO_QUALITY_DIMENSIONS) if "video_quality" in asked else []
    names = [name for name in dict.fromkeys([*asked, *extra]) if name != "video_quality"]

    # 2. Inputs and models: decided up front, so nothing is scored before a strict failure.
    results: dict[str, MetricResult] = {}
    models = MetricModels(metrics_profile, device=device) if set(names) & set(MODEL_BASED) else None
    for name in names:
        missing = inputs.missing(name)
        if missing is not None:
            reason = f"metric `{name}` needs {missing}"
            if strict:
                raise MoraError(reason)
            results[name] = MetricResult.unavailable(name, _range(name), "not computed", reason)
            continue
        if models is not None and (name in MODEL_METRICS or name == "aesthetic_quality"):
            try:
                models.check([name])
            except ModelUnavailableError as error:
                if strict:
                    raise
                results[name] = MetricResult.unavailable(name, _range(name), "model missing", str(error))

    # 3. Weight-free metrics in one streamed pass.
    from mora_agents.evaluation.metrics.motion import weight_free_metrics

    wanted = [name for name in names if name in WEIGHT_FREE and name not in results]
    if wanted:
        results.update(weight_free_metrics(inputs.video, wanted, boundaries=inputs.boundaries))

    # 4. Model-based metrics, one by one (each loads its model on first use).
    for name in names:
        if name not in results:
            results[name] = _model_metric(name, inputs, models)
    if models is not None:
        models.release()
    if "video_quality" in asked:
        results["video_quality"] = video_quality(results, strict=strict)
    return {name: results[name] for name in dict.fromkeys([*asked, *extra])}


def video_quality(results: dict[str, MetricResult], *, strict: bool = False) -> MetricResult:
    """Video Quality as mora computes it: the mean of :data:`VIDEO_QUALITY_DIMENSIONS`, five of the six VBench
    dimensions the paper's Table 1 averages. imaging_quality (MUSIQ) is never computed, so the number is for comparing
    runs with each other, never with the paper's column (``details["comparable_to_paper"]`` is always ``False``).

    With one of the five unavailable too, the value is the mean of the others and the method says which.

    Raises:
        MoraError: in strict mode, one of the five has no value.
    """
    values = {name: results[name].value for name in VIDEO_QUALITY_DIMENSIONS if results[name].value is not None}
    missing = [name for name in VIDEO_QUALITY_DIMENSIONS if name not in values]
    left_out = ", ".join(NOT_COMPUTED)
    method = (
        f"mean of {len(values)} of VBench's video-quality dimensions ({', '.join(values) or 'none'}); "
        f"{left_out} (MUSIQ) is not computed, so this is not the paper's six-dimension Table 1 'Video Quality'"
    )
    if missing and strict:
        raise MoraError(f"metric `video_quality` needs {', '.join(VIDEO_QUALITY_DIMENSIONS)}; "
                        f"{', '.join(missing)} had no value")  # fmt: skip
    if not values:
        return MetricResult.unavailable("video_quality", (0.0, 1.0), method, "no dimension had a value")
    if missing:
        method += f" ({', '.join(missing)} unavailable too)"
    return MetricResult(
        name="video_quality",
        value=sum(values.values()) / len(values),
        range=(0.0, 1.0),
        method=method,
        details={"dimensions": values, "not_computed": list(NOT_COMPUTED), "comparable_to_paper": False},
    )


def _model_metric(name: str, inputs: EvalInputs, models) -> MetricResult:
    from mora_agents.evaluation import metrics as m

    video = inputs.video
    if name == "video_length":
        return m.video_length(video)
    if name == "subject_consistency":
        return m.subject_consistency(video, models)
    if name == "background_consistency":
        return m.background_consistency(video, models)
    if name == "aesthetic_quality":
        return m.aesthetic_quality(video, models)
    if name == "appearance_style":
        return m.appearance_style(video, inputs.prompt or "", models)
    if name == "temporal_style":
        return m.temporal_style(video, inputs.prompt or "", models)
    if name == "tcon":
        return m.tcon(inputs.input_videos[0], video, models)
    if name == "tmean":
        middle = inputs.connecting_clip or video
        return m.tmean(middle, inputs.input_videos[0], inputs.input_videos[1], models)
    if name == "video_text_integration":
        return m.video_text_integration(
            inputs.prompt or "",
            video,
            input_image=inputs.image,
            captioner=m.captioner_from_env(),
            caption_frames=models.profile.video_text_integration.caption_frames,
        )
    raise AssertionError(f"no computation for metric {name}")  # KNOWN_METRICS and this function disagree


_RANGES = {
    "video_length": (0.0, float("inf")),
    "appearance_style": (-1.0, 1.0),
    "temporal_style": (-1.0, 1.0),
    "video_text_integration": (-1.0, 1.0),
    "tcon": (-1.0, 1.0),
    "tmean": (-1.0, 1.0),
    "frame_consistency": (-1.0, 1.0),
}


def _range(name: str) -> tuple[float, float]:
    # Only for results without a value; computed results carry their own range.
    return _RANGES.get(name, (0.0, 1.0))


__all__ = ["compute_metrics", "video_quality"]
