"""Evaluate a produced video, or a whole run folder, with the paper's metrics for its task (issue 7).

A run folder knows its task (``manifest.sop``), its inputs (``manifest.inputs``, the request's prompt), its output and
how A4 chained it (the profile's ``frames_per_segment``), so :func:`evaluate_run` picks the task's metrics from
:data:`~mora_agents.evaluation.selection.TASK_METRICS`, feeds each metric what it needs, and stores the results in the
manifest's ``evaluation`` section (atomically: the manifest is rewritten through a temporary file). A bare video gets
the metrics its inputs allow (:func:`evaluate_video`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.evaluation.inputs import EvalInputs
from mora_agents.evaluation.record import make_record
from mora_agents.evaluation.run_folder import run_inputs
from mora_agents.evaluation.scoring import compute_metrics
from mora_agents.evaluation.selection import default_metrics, task_metrics
from mora_agents.workspace import EvaluationRecord, Workspace


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
    """Evaluate a bare video file; see :func:`~mora_agents.evaluation.scoring.compute_metrics` for the rules.

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


__all__ = ["evaluate_run", "evaluate_video"]
