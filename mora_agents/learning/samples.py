"""A decided set's training sample: the chosen candidate's video and first frame linked under ``samples/<set-id>/``,
and ``metadata.jsonl`` rebuilt from every decided set."""

from __future__ import annotations

from pathlib import Path

from mora_agents.learning.candidate_runs import set_file, set_folder
from mora_agents.learning.dataset import (
    FIRST_FRAME_NAME,
    SAMPLES_DIR,
    VIDEO_NAME,
    CandidateRecord,
    SetState,
    SynthesisSettings,
    TrainingSample,
    write_metadata,
)
from mora_agents.media import link_atomic


def make_sample(
    root: Path, settings: SynthesisSettings, state: SetState, chosen: int, decided_by: str
) -> TrainingSample:
    """Link the chosen candidate's video and first frame under ``samples/<set-id>/`` of the data folder ``root``
    and describe them."""
    record = state.candidates[chosen]
    set_dir = set_folder(root, state.set_id)
    sample_dir = root / SAMPLES_DIR / state.set_id
    sample_dir.mkdir(parents=True, exist_ok=True)
    video = record.video
    link_atomic(set_file(set_dir, video.path, state.set_id), sample_dir / VIDEO_NAME)
    _first_frame(set_dir, state.set_id, record, (video.width, video.height), sample_dir / FIRST_FRAME_NAME)
    return TrainingSample(
        file_name=f"{SAMPLES_DIR}/{state.set_id}/{VIDEO_NAME}",
        first_frame=f"{SAMPLES_DIR}/{state.set_id}/{FIRST_FRAME_NAME}",
        prompt=record.prompt,
        seed_prompt=state.seed_prompt,
        set_id=state.set_id,
        sop=settings.sop,
        profile=settings.profile,
        seed=record.seed,
        width=video.width,
        height=video.height,
        fps=video.fps,
        num_frames=video.num_frames,
        criterion=state.criterion,
        votes=state.votes.verdicts if state.votes else [],
        decided_by=decided_by,
        chosen=chosen,
        candidates=settings.candidates,
        iteration=settings.iteration,
    )


def rebuild_metadata(root: Path, settings: SynthesisSettings, states: dict[str, SetState]) -> None:
    """Write ``metadata.jsonl`` from the decided sets of ``states``, linking a sample again where it is missing."""
    samples = []
    for set_id in sorted(states):
        state = states[set_id]
        if state.status != "decided" or state.sample is None:
            continue
        sample_dir = root / SAMPLES_DIR / set_id
        if not (sample_dir / VIDEO_NAME).is_file() or not (sample_dir / FIRST_FRAME_NAME).is_file():
            # Killed between linking and saving, or removed by hand: the candidate runs still hold the media.
            state.sample = make_sample(root, settings, state, state.chosen or 0, state.sample.decided_by)
        samples.append(state.sample)
    write_metadata(root, samples)


def _first_frame(set_dir: Path, set_id: str, record: CandidateRecord, size: tuple[int, int], target: Path) -> None:
    """The image A4 animated, at the video's size; the video's own first frame when the run kept no image."""
    from mora_agents.media import fit_frame, load_image, save_png, video_frame

    if record.first_frame is None:
        save_png(fit_frame(video_frame(set_file(set_dir, record.video.path, set_id), "first"), size), target)
        return
    source = set_file(set_dir, record.first_frame, set_id)
    image = load_image(source)
    if image.size == size:
        link_atomic(source, target)
    else:
        # Training pairs the frame with the video pixel for pixel: fit it the way A4's input was fitted.
        save_png(fit_frame(image, size), target)
