"""Reading a run folder for evaluation: whether a path is one, and what its metrics are computed against (its output,
prompt, imported inputs and the frames where segments meet)."""

from __future__ import annotations

import os
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.evaluation.inputs import EvalInputs
from mora_agents.messages import ImageArtifact, VideoArtifact
from mora_agents.workspace import MANIFEST_NAME, RunManifest, Workspace


def is_run_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run folder (a folder with a manifest)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST_NAME).is_file()


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
    from mora_agents.evaluation.metrics.drift import segment_boundaries

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
    from mora_tools.loading.profiles import load_profile

    try:
        return load_profile(profile).image_to_video.frames_per_segment
    except (MoraError, OSError, ValueError):
        return None


__all__ = ["is_run_folder", "run_boundaries", "run_inputs"]
