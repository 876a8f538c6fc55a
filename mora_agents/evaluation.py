"""Evaluate a produced video, or a whole run folder, with the paper's metrics for its task (issue 7).

A run folder knows its task (``manifest.sop``), its inputs (``manifest.inputs``, the request's prompt), its output and
how A4 chained it (the profile's ``frames_per_segment``), so :func:`evaluate_run` picks the task's metrics from
:data:`TASK_METRICS`, feeds each metric what it needs, and stores the results in the manifest's ``evaluation`` section
(atomically: the manifest is rewritten through a temporary file). A bare video gets the metrics its inputs allow
(:func:`evaluate_video`).

Metrics whose model is missing, or whose input the run does not have, are reported without a value and with the
reason, and the rest still run; a metric asked for by name (``metrics=[...]``) that cannot run is an error instead,
because the caller asked for exactly that number.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mora_agents.errors import ModelUnavailableError, MoraError
from mora_agents.media import link_atomic
from mora_agents.messages import ImageArtifact, VideoArtifact
from mora_agents.workspace import (
    MANIFEST_NAME,
    EvaluationRecord,
    MetricRecord,
    RunManifest,
    Workspace,
    now_iso,
    write_text_atomic,
)
from mora_tools.metrics.clip_scores import IMAGING_QUALITY_REASON
from mora_tools.metrics.result import MetricResult

# --- which metrics ------------------------------------------------------------------------------------------------

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
"""Every metric :func:`evaluate_video` computes."""

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


# --- what a video is evaluated against ----------------------------------------------------------------------------


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


# --- computing ----------------------------------------------------------------------------------------------------


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
    from mora_tools.metrics.frames import probe_video
    from mora_tools.metrics.models import MODEL_METRICS, MetricModels

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
    from mora_tools.metrics.motion import weight_free_metrics

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
    from tools import metrics as m

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


# --- records ------------------------------------------------------------------------------------------------------


def to_record(result: MetricResult) -> MetricRecord:
    """A :class:`MetricResult` as stored in a manifest (JSON has no infinity: an open range end is ``None``)."""
    lo, hi = result.range
    return MetricRecord(
        value=result.value,
        range=(None if lo == float("-inf") else lo, None if hi == float("inf") else hi),
        method=result.method,
        reason=result.reason,
        details=_json_safe(result.details),
    )


def _json_safe(value):
    # Details may hold numpy scalars or infinities; JSON takes neither.
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def make_record(
    results: dict[str, MetricResult], metrics_profile: str, video: str, task: str | None = None
) -> EvaluationRecord:
    """Bundle results as an :class:`EvaluationRecord` (stamped now)."""
    return EvaluationRecord(
        metrics_profile=metrics_profile,
        when=now_iso(),
        video=video,
        task=task,
        metrics={name: to_record(result) for name, result in results.items()},
    )


def write_json(record: EvaluationRecord, path: str | os.PathLike) -> None:
    """Write ``record`` to ``path`` atomically (the parent folder is created).

    Raises:
        MoraError: the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, record.model_dump_json(indent=2))
    except OSError as error:
        raise MoraError(f"cannot write {path}: {error.strerror or error}") from None


# --- entry points -------------------------------------------------------------------------------------------------


def is_run_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run folder (a folder with a manifest)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST_NAME).is_file()


def evaluate_video(
    video: str | os.PathLike,
    *,
    prompt: str | None = None,
    image: str | os.PathLike | None = None,
    input_videos: Sequence[str | os.PathLike] = (),
    metrics: Sequence[str] | None = None,
    metrics_profile: str = "real",
    device: str | None = None,
) -> EvaluationRecord:
    """Evaluate a bare video file; see :func:`compute_metrics` for the rules.

    Raises:
        MoraError: one sentence (unreadable video, unknown metric, a named metric's missing input or model).
    """
    inputs = EvalInputs(
        video=Path(video),
        prompt=prompt,
        image=Path(image) if image is not None else None,
        input_videos=[Path(v) for v in input_videos],
    )
    if inputs.image is not None and not inputs.image.is_file():
        raise MoraError(f"--image {inputs.image} does not exist")
    for clip in inputs.input_videos:
        if not clip.is_file():
            raise MoraError(f"--input-video {clip} does not exist")
    results = compute_metrics(inputs, metrics, metrics_profile, device=device)
    return make_record(results, metrics_profile, str(video))


def run_inputs(workspace: Workspace, manifest: RunManifest) -> EvalInputs:
    """What a run's metrics are computed against: its output, prompt, imported inputs and seam positions.

    Raises:
        MoraError: the run has no video output.
    """
    output = manifest.output
    if not isinstance(output, VideoArtifact):
        state = f"its status is {manifest.status}" if output is None else "its output is an image"
        raise MoraError(f"run {workspace.root} has no output video to evaluate ({state})")
    prompt = manifest.request.inputs.get("prompt")
    image = next((a for a in manifest.inputs.values() if isinstance(a, ImageArtifact)), None)
    videos = [manifest.inputs[k] for k in ("video", "video2") if isinstance(manifest.inputs.get(k), VideoArtifact)]
    parts = output.parameters.get("parts")
    connecting = None
    if manifest.sop == "connect_videos" and isinstance(parts, list) and len(parts) == 3:
        connecting = workspace.path(str(parts[1]))  # clip 1, the transition, clip 2
    return EvalInputs(
        video=workspace.path(output.path),
        prompt=str(prompt) if prompt is not None else None,
        image=workspace.path(image.path) if image is not None else None,
        input_videos=[workspace.path(v.path) for v in videos],
        connecting_clip=connecting,
        boundaries=run_boundaries(manifest),
    )


def run_boundaries(manifest: RunManifest) -> list[int] | None:
    """Frame indices where the run's output changes segment: the seams of a join (``frames_per_part``) and, inside
    each A4-chained part, every ``frames_per_segment``; ``None`` when unknown (then ``seam_drift`` scans)."""
    from mora_tools.metrics.drift import segment_boundaries

    output = manifest.output
    if not isinstance(output, VideoArtifact):
        return None
    made = {
        stage_output.path: stage_output
        for stage in manifest.stages
        for iteration in stage.iterations
        if isinstance(stage_output := iteration.output, VideoArtifact)
    }
    made[output.path] = output
    per_segment = _frames_per_segment(manifest.profile)
    parts, counts = output.parameters.get("parts"), output.parameters.get("frames_per_part")
    if not (isinstance(parts, list) and isinstance(counts, list) and len(parts) == len(counts)):
        parts, counts = [output.path], [output.num_frames]
    boundaries, start = [], 0
    for part, count in zip(parts, counts, strict=True):
        if start > 0:
            boundaries.append(start)
        artifact = made.get(str(part))
        if artifact is not None and artifact.segments > 1:
            if per_segment is None:
                return None  # a chained part whose segment length is unknown: scan instead of guessing
            boundaries += [start + b for b in segment_boundaries(int(count), per_segment)]
        start += int(count)
    return boundaries


def _frames_per_segment(profile: str) -> int | None:
    # A profile may be a name or a YAML path (possibly gone since the run): then the seams are unknown.
    from mora_tools.profiles import load_profile

    try:
        return load_profile(profile).image_to_video.frames_per_segment
    except (MoraError, OSError, ValueError):
        return None


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    metrics: Sequence[str] | None = None,
    metrics_profile: str = "real",
    prompt: str | None = None,
    image: str | os.PathLike | None = None,
    input_videos: Sequence[str | os.PathLike] = (),
    device: str | None = None,
) -> EvaluationRecord:
    """Evaluate a run folder with its task's metrics and store them in its manifest (``evaluation``).

    ``prompt``, ``image`` and ``input_videos`` override what the run recorded (for example a prompt for an
    extend_video run, which has none).

    Raises:
        MoraError: one sentence (no manifest, no output video, unreadable video, unknown metric, a named metric's
            missing input or model).
    """
    workspace = Workspace(Path(run_dir))
    manifest = workspace.load_manifest()
    inputs = run_inputs(workspace, manifest)
    if prompt is not None:
        inputs.prompt = prompt
    if image is not None:
        inputs.image = Path(image)
    if input_videos:
        inputs.input_videos = [Path(v) for v in input_videos]
        inputs.connecting_clip = None
    names = metrics if metrics is not None else task_metrics(manifest.sop) or default_metrics(inputs)
    results = compute_metrics(inputs, names, metrics_profile, strict=metrics is not None, device=device)
    record = make_record(results, metrics_profile, manifest.output.path, manifest.sop)  # type: ignore[union-attr]
    # Re-read just before writing: the manifest is only ever replaced whole, so keep whatever changed meanwhile.
    latest = workspace.load_manifest()
    latest.evaluation = record
    workspace.save_manifest(latest)
    return record


# --- VBench export ------------------------------------------------------------------------------------------------

VBENCH_SAMPLES = 5
"""VBench samples 5 videos per prompt, named ``{prompt}-0.mp4`` .. ``{prompt}-4.mp4``."""
VBENCH_MAX_NAME = 180
"""VBench-2.0 keeps the first 180 characters of a too-long prompt in file names (its README-FAQ)."""


def vbench_stem(prompt: str) -> str:
    """The prompt as VBench's file-name stem: slashes (not allowed in names) become spaces; at most 180 chars."""
    stem = re.sub(r"[/\\\x00]", " ", prompt.strip())
    stem = re.sub(r"\s+", " ", stem)
    return stem[:VBENCH_MAX_NAME].rstrip()


def export_vbench(run_dirs: Iterable[str | os.PathLike], out_dir: str | os.PathLike) -> list[Path]:
    """Lay runs' output videos out as VBench expects sampled videos: ``OUT/{prompt}-{index}.mp4``.

    VBench's prompt suite (Vchitect/VBench ``prompts/README.md``) samples 5 videos per prompt and saves them as
    ``$prompt-$index.mp4``, index 0-4; in ``--mode=custom_input`` VBench reads each video's prompt back from its
    name by dropping the ``-<index>`` ending (``get_prompt_from_filename`` in ``vbench/utils.py``). Runs with the
    same prompt get the next free index. Each file is hard-linked (copied where links fail) under a temporary name
    and renamed, so the folder never holds a half-written video.

    Returns:
        `list[Path]`: the files written, in the order of ``run_dirs``.

    Raises:
        MoraError: a run folder without a manifest, without an output video, or without a prompt.
    """
    out = Path(out_dir)
    plan: list[tuple[Path, str]] = []
    for run_dir in run_dirs:
        workspace = Workspace(Path(run_dir))
        manifest = workspace.load_manifest()
        if not isinstance(manifest.output, VideoArtifact) or not workspace.path(manifest.output.path).is_file():
            raise MoraError(f"run {run_dir} has no output video to export (its status is {manifest.status})")
        prompt = str(manifest.request.inputs.get("prompt") or "").strip()
        if not prompt:
            raise MoraError(
                f"run {run_dir} ({manifest.sop}) has no prompt, and VBench names each video after its prompt"
            )
        plan.append((workspace.path(manifest.output.path), vbench_stem(prompt)))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MoraError(f"cannot create {out}: {error.strerror or error}") from None
    written: list[Path] = []
    for source, stem in plan:
        index = 0
        while (out / f"{stem}-{index}.mp4").exists():
            index += 1
        target = out / f"{stem}-{index}.mp4"
        try:
            link_atomic(source, target)
        except OSError as error:
            raise MoraError(f"cannot write {target}: {error.strerror or error}") from None
        written.append(target)
    return written


__all__ = [
    "KNOWN_METRICS",
    "NOT_COMPUTED",
    "PAPER_VIDEO_QUALITY_DIMENSIONS",
    "TASK_METRICS",
    "VIDEO_QUALITY_DIMENSIONS",
    "WEIGHT_FREE_ALWAYS",
    "EvalInputs",
    "compute_metrics",
    "evaluate_run",
    "evaluate_video",
    "export_vbench",
    "is_run_folder",
    "parse_metrics",
    "task_metrics",
    "vbench_stem",
    "video_quality",
    "write_json",
]
