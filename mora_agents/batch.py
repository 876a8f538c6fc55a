"""``mora batch``: many requests, one run folder each, and ``batch.json`` saying how each went.

On the local engine the requests run one after another; on Ray they run concurrently, so they pipeline through
the roles' actors (A2 draws request n+1 while A4 animates request n). Running a batch again into the same folder
keeps what completed and resumes what did not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from autogen_core import CancellationToken
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mora_agents.containment import resolve_inside
from mora_agents.errors import CancelledError, MoraError
from mora_agents.messages import StepProgress, StudioEvent, VideoRequest
from mora_agents.sop import SopSpec, find_sop
from mora_agents.studio import Studio, StudioConfig
from mora_agents.workspace import MANIFEST_NAME, Workspace, sha256_file, write_text_atomic
from mora_tools.loading.memory import ModelMemory
from mora_tools.loading.profiles import load_profile

BATCH_FILE = "batch.json"
DEFAULT_TASK = "text_to_video"


class BatchItem(BaseModel):
    """One request of a YAML batch file."""

    model_config = ConfigDict(extra="forbid")

    task: str = DEFAULT_TASK
    inputs: dict[str, str | float | int] = Field(default_factory=dict)
    seed: int | None = Field(default=None, ge=0)
    """``None``: the batch's ``--seed``."""


class BatchResult(BaseModel):
    """How one request went (an entry of ``batch.json``)."""

    index: int
    task: str
    status: str
    """``completed``, ``failed`` or ``cancelled``."""
    run: str
    """The run folder, relative to the batch folder."""
    output: str | None = None
    """The output file, relative to the batch folder."""
    sha256: str | None = None
    seconds: float | None = None
    """Wall time from the request's start to its end (on Ray, with requests pipelined, waits included)."""
    error: str | None = None


def read_requests(
    path: Path, seed: int = 0, sop_dirs: list[Path] | None = None, duration: float | None = None
) -> list[VideoRequest]:
    """The requests of a batch file: a text file of prompts (one per line; ``#`` starts a comment) for
    ``text_to_video``, or a YAML list of ``{task, inputs, seed}``.

    Image and video inputs are paths relative to the file's folder and must stay inside it. ``seed`` and
    ``duration`` go to the requests that give none (``duration``: of tasks that take one).

    Raises:
        MoraError: an unreadable or empty file, an entry that does not validate, an unknown task, a missing input
            or a media path outside the file's folder, naming the entry.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MoraError(f"cannot read batch file {path}: {getattr(error, 'strerror', None) or error}") from None
    if path.suffix in (".yaml", ".yml"):
        entries = _yaml_entries(path, text)
    else:
        lines = [line.strip() for line in text.splitlines()]
        entries = [{"inputs": {"prompt": line}} for line in lines if line and not line.startswith("#")]
    requests = [_request(path, number, entry, seed, duration, sop_dirs) for number, entry in enumerate(entries, 1)]
    if not requests:
        raise MoraError(f"batch file {path} holds no requests")
    return requests


def _yaml_entries(path: Path, text: str) -> list:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MoraError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, list):
        kind = type(data).__name__
        raise MoraError(f"{path}: a batch file is a list of requests ({{task, inputs, seed}}), not a {kind}")
    return data


def _request(
    path: Path, number: int, entry, seed: int, duration: float | None, sop_dirs: list[Path] | None
) -> VideoRequest:
    where = f"{path}: request {number}"
    try:
        item = BatchItem.model_validate(entry)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(the entry)"
        raise MoraError(f"{where}: {field}: {first['msg']}") from None
    spec = find_sop(item.task, sop_dirs)
    inputs = dict(item.inputs)
    if duration is not None and "duration" in spec.inputs:
        inputs.setdefault("duration", duration)
    for name, value in inputs.items():
        if name in spec.inputs and spec.inputs[name].type in ("image", "video"):
            inputs[name] = str(resolve_inside(path.parent, str(value), what=where, folder="the batch file's folder"))
    try:
        spec.bind_inputs(inputs)
    except MoraError as error:
        raise MoraError(f"{where}: {error}") from None
    return VideoRequest(task=spec.name, inputs=inputs, seed=seed if item.seed is None else item.seed)


def run_name(index: int, task: str) -> str:
    """The run folder of request ``index`` (from 1): ``001-text_to_video``, the same on every re-run."""
    return f"{index:03d}-{task}"


class Batch:
    """Runs a batch's requests through one studio (and so one set of loaded models).

    Args:
        requests: what to run, in order.
        out_dir: the batch folder: one run folder per request, ``batch.json``.
        config: the studio's configuration (its ``engine`` decides sequential or pipelined).
        sop_dirs: extra SOP folders.
        parallel: engine ``ray``: how many requests run at once (``None``: all of them).
        on_event: receives each request's events, with its index (``(index, event)``).
    """

    def __init__(
        self,
        requests: list[VideoRequest],
        out_dir: Path,
        config: StudioConfig,
        sop_dirs: list[Path] | None = None,
        parallel: int | None = None,
        on_event: Callable[[int, StudioEvent], None] | None = None,
    ) -> None:
        self.requests = requests
        self.out_dir = Path(out_dir)
        self.config = config
        self.specs = [find_sop(request.task, sop_dirs) for request in requests]
        concurrent = config.engine == "ray"
        self.parallel = max(1, parallel or len(requests)) if concurrent else 1
        self.on_event = on_event or (lambda index, event: None)
        # Local: one memory for the whole batch, so under `keep` the models load once, not once per request (on
        # Ray the actors keep theirs).
        self.memory = None if concurrent else ModelMemory.for_profile(load_profile(config.profile), config.memory)
        self.studio = Studio(config, self.memory)
        self.results: dict[int, BatchResult] = {}

    async def run(self, cancellation_token: CancellationToken | None = None) -> list[BatchResult]:
        """Run every request (keeping completed runs of an earlier try); ``batch.json`` is rewritten as each ends.

        Cancelling the token cancels the requests running and every one not started."""
        self.token = cancellation_token or CancellationToken()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        slots = asyncio.Semaphore(self.parallel)

        async def one(index: int) -> None:
            async with slots:
                self.results[index] = await self._run_one(index)
                self._save(time.perf_counter() - started)

        try:
            await asyncio.gather(*(one(index) for index in range(1, len(self.requests) + 1)))
        finally:
            if self.memory is not None:
                self.memory.release_all()
        self._save(time.perf_counter() - started)
        return [self.results[index] for index in sorted(self.results)]

    async def _run_one(self, index: int) -> BatchResult:
        request, spec = self.requests[index - 1], self.specs[index - 1]
        name = run_name(index, spec.name)
        folder = self.out_dir / name
        started = time.perf_counter()
        emit = lambda event: self.on_event(index, event)  # noqa: E731
        try:
            if (folder / MANIFEST_NAME).is_file():
                workspace, manifest = await self.studio.resume(folder, on_event=emit, cancellation_token=self.token)
            else:
                workspace, manifest = await self.studio.run(
                    spec, request, self.out_dir, on_event=emit, cancellation_token=self.token, run_id=name
                )
        except MoraError as error:
            status = "cancelled" if isinstance(error, CancelledError) else "failed"
            return BatchResult(index=index, task=spec.name, status=status, run=name, error=str(error),
                               seconds=round(time.perf_counter() - started, 3))  # fmt: skip
        return self._result(index, spec, workspace, manifest, time.perf_counter() - started)

    def _result(self, index: int, spec: SopSpec, workspace: Workspace, manifest, seconds: float) -> BatchResult:
        output = manifest.output.path if manifest.output else None
        path = workspace.path(output) if output else None
        return BatchResult(
            index=index,
            task=spec.name,
            status=manifest.status,
            run=workspace.root.name,
            output=f"{workspace.root.name}/{output}" if output else None,
            sha256=sha256_file(path) if path else None,
            seconds=round(seconds, 3),
            error=manifest.error,
        )

    def _save(self, seconds: float) -> None:
        record = {
            "engine": self.config.engine,
            "profile": self.config.profile,
            "requests": len(self.requests),
            "seconds": round(seconds, 3),
            "results": [self.results[index].model_dump() for index in sorted(self.results)],
        }
        write_text_atomic(self.out_dir / BATCH_FILE, json.dumps(record, indent=2) + "\n")


def prefixed(index: int, event: StudioEvent) -> StudioEvent:
    """``event`` with its progress bar named after its request (``#2 first_frame``), for one console."""
    if isinstance(event, StepProgress):
        return event.model_copy(update={"task": f"#{index} {event.task}"})
    return event
