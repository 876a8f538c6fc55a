"""A candidate set's K runs: reused when finished, resumed when interrupted, made when missing; each one an
ordinary run folder under the set's ``candidates/``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from mora_agents.containment import resolve_inside
from mora_agents.errors import MoraError
from mora_agents.learning.dataset import CANDIDATES_DIR, SETS_DIR, STATE_NAME, CandidateRecord, SetState
from mora_agents.messages import ImageArtifact, VideoArtifact, VideoRequest
from mora_agents.workspace import MANIFEST_NAME, RunManifest, Workspace

SEED_STRIDE = 1_000_000
"""Candidate seeds: ``seed * SEED_STRIDE + set_number * K + k``; distinct for up to a million candidates per seed."""


def candidate_seed(seed: int, set_number: int, candidates: int, index: int) -> int:
    """The run seed of candidate ``index`` of set ``set_number``: the same arguments always give the same videos."""
    return seed * SEED_STRIDE + set_number * candidates + index


def set_folder(root: Path, set_id: str) -> Path:
    """The folder of set ``set_id`` in the data folder ``root``."""
    return root / SETS_DIR / set_id


def set_file(set_dir: Path, name: str, set_id: str) -> Path:
    """A file a set's ``state.json`` names (relative to the set folder), checked to lie inside the set folder."""
    what = f"{STATE_NAME} of set {set_id}"
    return resolve_inside(set_dir, name, what=what, folder="the set folder")


class CandidateRuns:
    """Makes the candidate runs of every set of one synthesis call through the studio, with one model memory.

    Args:
        spec: the task (SOP) that makes each candidate from a prompt.
        settings: the folder's synthesis settings (K, seed, duration).
        config: the studio configuration of the runs.
        memory: the model memory every run shares (policy keep: K runs load the models once).
        progress: receives the runs' stage progress.
        log: called with one line per candidate.
    """

    def __init__(self, spec, settings, config, memory, progress, log: Callable[[str], None]) -> None:
        self.spec = spec
        self.settings = settings
        self.config = config
        self.memory = memory
        self.progress = progress
        self.log = log
        self.made = self.resumed = 0

    def finish(self, state: SetState, set_dir: Path, save: Callable[[SetState], None]) -> None:
        """Finish the set's K candidate runs, saving the state after each one."""
        from mora_agents.studio import ConsoleEvents, resume_task, run_task

        settings = self.settings
        known = {
            record.index: record
            for record in state.candidates
            if set_file(set_dir, record.video.path, state.set_id).is_file()
        }
        for index in range(settings.candidates):
            if index in known:
                continue
            run_dir = set_dir / CANDIDATES_DIR / f"c{index}"
            seed = candidate_seed(settings.seed, state.number, settings.candidates, index)
            inputs: dict[str, str | float | int] = {"prompt": state.prompt}
            if settings.duration is not None:
                inputs["duration"] = settings.duration
            request = VideoRequest(task=self.spec.name, inputs=inputs, seed=seed)
            manifest = _finished_or_resumable(run_dir, request, self.log)
            where = f"{state.set_id} candidate {index + 1}/{settings.candidates} (seed {seed})"
            if manifest is not None and manifest.status == "completed":
                self.log(f"{where}: kept, finished earlier")
            elif manifest is not None:
                self.log(f"{where}: resuming the interrupted run")
                _, manifest = resume_task(run_dir, self.config, ConsoleEvents(self.progress), memory=self.memory)
                self.resumed += 1
            else:
                self.log(f"{where}: making")
                _, manifest = run_task(
                    self.spec,
                    request,
                    run_dir.parent,
                    self.config,
                    ConsoleEvents(self.progress),
                    run_id=run_dir.name,
                    memory=self.memory,
                )
                self.made += 1
            known[index] = _record(state, index, run_dir, manifest)
            state.candidates = [known[i] for i in sorted(known)]
            save(state)
        state.candidates = [known[i] for i in sorted(known)]


def _finished_or_resumable(run_dir: Path, request: VideoRequest, log: Callable[[str], None]) -> RunManifest | None:
    """The run's manifest when it can be reused or resumed; ``None`` (folder removed) when it must be made again."""
    if not run_dir.exists():
        return None
    if (run_dir / MANIFEST_NAME).is_file():
        try:
            manifest = Workspace(run_dir).load_manifest()
        except MoraError as error:
            log(f"{run_dir}: {error}; making it again")
        else:
            output = manifest.output
            if manifest.request != request:
                log(f"{run_dir}: made for another request ({manifest.request.inputs}); making it again")
            elif manifest.status != "completed" or _has_output(run_dir, output):
                return manifest
    # Killed before its manifest existed, or unusable: its seed makes the same run again.
    shutil.rmtree(run_dir)
    return None


def _has_output(run_dir: Path, output: VideoArtifact | ImageArtifact | None) -> bool:
    # Through the run's one checked door: a manifest naming a file outside the run folder is refused.
    return output is not None and Workspace(run_dir).path(output.path).is_file()


def _record(state: SetState, index: int, run_dir: Path, manifest: RunManifest) -> CandidateRecord:
    output = manifest.output
    if not isinstance(output, VideoArtifact):
        raise MoraError(
            f"task '{manifest.sop}' made no video in {run_dir}: synthesis needs a task whose output is a video"
        )
    relative = f"{CANDIDATES_DIR}/{run_dir.name}"
    first = output.parameters.get("first_frame")
    first_frame = f"{relative}/{first}" if isinstance(first, str) and Workspace(run_dir).path(first).is_file() else None
    prompt = manifest.enhanced_prompt.prompt if manifest.enhanced_prompt else state.prompt
    return CandidateRecord(
        index=index,
        run=relative,
        seed=manifest.request.seed,
        video=output.model_copy(update={"path": f"{relative}/{output.path}"}),
        prompt=prompt,
        first_frame=first_frame,
    )
