"""Runs an SOP: imports inputs, checks each step's condition, binds its inputs, sends its agent a
``StructuredMessage``, loops reviews, and assembles the output.

The runner talks to agents only through AutoGen messages (``on_messages``), and writes the manifest
atomically after every iteration, so a killed run leaves a complete manifest of what finished.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel, ValidationError

from mora_agents.errors import CancelledError, MoraError
from mora_agents.messages import (
    ArtifactReady,
    EnhancedPrompt,
    ImageArtifact,
    ReviewDecided,
    ReviewDecision,
    ReviewRequest,
    ReviewRequested,
    StageNote,
    StageStarted,
    StudioEvent,
    VideoArtifact,
)
from mora_agents.sop._bindings import Binding
from mora_agents.sop._schema import AGENT_ROLES, SopSpec, StepSpec, role_of
from mora_agents.sop._values import MediaFormat, RunValues
from mora_agents.workspace import IterationRecord, RunManifest, StageRecord, Workspace

EventSink = Callable[[StudioEvent], None]
"""Receives every typed event of a run (:data:`~mora_agents.messages.StudioEvent`), in order."""


class SopRunner:
    """Execute one SOP for one request.

    Args:
        spec: the validated SOP.
        agents: one agent per role the SOP names (``prompt_enhancer``, ``text_to_image``, ...).
        reviewer: the human proxy that answers review requests.
        workspace: the run folder.
        manifest: the run's manifest, already holding the request; filled and saved as stages finish.
        media: frame size and rate of the run (input media are fitted to it).
        events: receives the run's typed events (stage started, artifact ready, review requested / decided, notes).
        on_stage_end: called after each stage that ran (the studio applies its memory policy there).
    """

    def __init__(
        self,
        spec: SopSpec,
        agents: Mapping[str, BaseChatAgent],
        reviewer: BaseChatAgent,
        workspace: Workspace,
        manifest: RunManifest,
        media: MediaFormat,
        events: EventSink | None = None,
        on_stage_end: Callable[[], None] | None = None,
    ) -> None:
        missing = sorted(roles_used(spec) - set(agents))
        if missing:
            raise ValueError(f"no agent given for role(s) {', '.join(missing)}")
        self.spec = spec
        self.agents = agents
        self.reviewer = reviewer
        self.workspace = workspace
        self.manifest = manifest
        self.values = RunValues(spec, workspace, media)
        self._sink = events or (lambda event: None)
        self.on_stage_end = on_stage_end or (lambda: None)

    def emit(self, event: StudioEvent) -> None:
        self._sink(event.model_copy(update={"run_id": self.manifest.run_id}))

    def note(self, stage: str, text: str) -> None:
        self.emit(StageNote(stage=stage, text=text))

    async def run(self, cancellation_token: CancellationToken | None = None) -> RunManifest:
        """Run every step in order; on failure the manifest is saved as ``failed`` and the error re-raised.

        A manifest that already holds stages (a run that was killed or failed) is resumed: finished and
        skipped stages are kept as they are, the interrupted one and those after it run again.
        """
        token = cancellation_token or CancellationToken()
        started = time.perf_counter()
        finished = self._finished_stages()
        self.manifest.status, self.manifest.error = "running", None
        try:
            bound = self.spec.bind_inputs(self.manifest.request.inputs)
            # Media work (decoding an input video, re-encoding it) runs off the event loop: a server's other
            # requests go on meanwhile. Here and below, the thread touches only this run's folder.
            if finished or self.manifest.inputs:
                await asyncio.to_thread(self.values.restore_inputs, bound, self.manifest.inputs)
            else:
                await asyncio.to_thread(self.values.import_inputs, bound)
            self.manifest.inputs = {k: v for k, v in self.values.inputs.items() if isinstance(v, BaseModel)}
            for step in self.spec.steps:
                if step.id in finished:
                    self._restore(finished[step.id])
                else:
                    await self._run_step(step, token)
            if not isinstance(self.spec.output, str):
                joined = [Binding.parse(value).describe() for value in self.spec.output.join]
                self.note("output", "joining " + " and ".join(joined))
            self.manifest.output = await asyncio.to_thread(self._publish_output)
            self.manifest.status = "completed"
        except BaseException as error:
            self.manifest.status = "failed"
            self.manifest.error = str(error).splitlines()[0] if str(error) else type(error).__name__
            for stage in self.manifest.stages:
                if stage.status == "running":
                    stage.status = "failed"
            raise
        finally:
            self.manifest.seconds = round(time.perf_counter() - started, 3)
            self.workspace.save_manifest(self.manifest)
        return self.manifest

    def _finished_stages(self) -> dict[str, StageRecord]:
        """Stages a previous attempt finished; the rest of the manifest is dropped, with the files only the
        dropped stages had written (a killed stage can leave a result the manifest never recorded)."""
        finished = {record.id: record for record in finished_stages(self.manifest)}
        self.manifest.stages = list(finished.values())
        self.manifest.warnings = [w for w in self.manifest.warnings if w.split(":")[0] in finished]
        records = [*finished.values(), *self.manifest.superseded]  # earlier versions stay viewable
        kept = {it.output.path for r in records for it in r.iterations if hasattr(it.output, "path")}
        stages = self.workspace.path("stages")
        if finished and stages.is_dir():
            for path in stages.iterdir():
                # Extracted frames go too: they are made again, with the same pixels, when needed.
                if path.is_file() and self.workspace.relative(path) not in kept:
                    path.unlink()
        return finished

    def _restore(self, record: StageRecord) -> None:
        self.note(record.id, f"kept from the interrupted run ({record.status})")
        if record.status == "completed":
            self.values.results[record.id] = record.result

    def _publish_output(self) -> ImageArtifact | VideoArtifact | None:
        output = self.spec.output
        if isinstance(output, str):
            if output not in self.values.results:
                raise MoraError(f"task '{self.spec.name}': the output step '{output}' was skipped")
            result = self.values.results[output]
        else:
            result = self.values.join(output.join, "output")
        if not isinstance(result, ImageArtifact | VideoArtifact):
            return None
        name = "video.mp4" if isinstance(result, VideoArtifact) else "image.png"
        return result.model_copy(update={"path": self.workspace.publish(result.path, name)})

    async def _run_step(self, step: StepSpec, token: CancellationToken) -> None:
        started = time.perf_counter()
        record = StageRecord(id=step.id, agent=step.role)
        self.manifest.stages.append(record)
        condition = step.condition()
        if condition is not None and not self.values.holds(condition):
            record.status = "skipped"
            self.workspace.save_manifest(self.manifest)
            self.note(step.id, f"skipped (when: {step.when})")
            return
        self.workspace.save_manifest(self.manifest)
        bound = await asyncio.to_thread(self._bind, step)  # may extract a frame from a long video
        seed = self.manifest.request.seed + self.manifest.reseeds.get(step.id, 0)
        max_iterations = step.review.max_iterations if step.review else 1
        edited_by: str | None = None
        candidate: BaseModel | None = None
        while True:
            if candidate is None:
                self.emit(StageStarted(stage=step.id, iteration=len(record.iterations) + 1, agent=step.role))
            output = candidate or await self._ask_agent(step.role, step, bound, seed, token)
            iteration = IterationRecord(index=len(record.iterations) + 1, output=output, edited_by=edited_by)
            record.iterations.append(iteration)
            self._note(step, output)
            self.emit(ArtifactReady(stage=step.id, iteration=iteration.index, artifact=output))
            if step.review is None:
                break
            decision = await self._review(step, iteration.index, max_iterations, output, token)
            iteration.decision = decision
            if decision.action == "accept":
                break
            if iteration.index >= max_iterations:
                # The paper's rule: at most max_iterations per stage; the last result stands.
                iteration.refused = True
                record.review_exhausted = True
                self.manifest.warnings.append(
                    f"{step.id}: '{decision}' refused after {max_iterations} iterations; the last result stands"
                )
                self.note(step.id, f"{max_iterations} iterations reached, '{decision}' refused")
                break
            if decision.action == "regenerate":
                seed, edited_by, candidate = seed + 1, None, None
            else:
                bound, candidate = await self._apply_edit(step, bound, output, decision, seed, token)
                edited_by = role_of(step.review.on_edit)
            self.workspace.save_manifest(self.manifest)
        result = record.result
        self.values.results[step.id] = result
        if isinstance(result, ImageArtifact | VideoArtifact):
            suffix = ".mp4" if isinstance(result, VideoArtifact) else ".png"
            self.workspace.publish(result.path, f"{step.id}{suffix}")
        record.status = "completed"
        record.seconds = round(time.perf_counter() - started, 3)
        self.workspace.save_manifest(self.manifest)
        self.on_stage_end()

    def _bind(self, step: StepSpec) -> dict[str, Any]:
        return {
            name: self.values.resolve(binding, f"step '{step.id}' with.{name}")
            for name, binding in step.parsed_bindings().items()
        }

    def _note(self, step: StepSpec, output: BaseModel) -> None:
        if isinstance(output, EnhancedPrompt):
            self.manifest.enhanced_prompt = output
            if output.warning:
                self.manifest.warnings.append(f"{step.id}: {output.warning}")
        self.workspace.save_manifest(self.manifest)

    async def _ask_agent(
        self, role: str, step: StepSpec, values: dict[str, Any], seed: int, token: CancellationToken
    ) -> BaseModel:
        request_type = AGENT_ROLES[role].request_type
        payload = {name: value for name, value in values.items() if name in request_type.model_fields}
        if "seed" in request_type.model_fields:
            payload["seed"] = seed
        try:
            request = request_type.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(map(str, first["loc"]))
            raise MoraError(f"step '{step.id}': {role} got a bad '{field}' ({first['msg']})") from None
        message = StructuredMessage[request_type](content=request, source="sop", metadata={"stage": step.id})
        response = await self.agents[role].on_messages([message], token)
        return response.chat_message.content

    def _request_text(self) -> str:
        """The run's text inputs (prompt, instruction), as the user gave them."""
        inputs = self.manifest.request.inputs
        texts = [str(inputs[name]) for name, spec in self.spec.inputs.items() if spec.type == "text" and name in inputs]
        return "; ".join(texts)

    async def _review(
        self, step: StepSpec, index: int, max_iterations: int, output: BaseModel, token: CancellationToken
    ) -> ReviewDecision:
        request = ReviewRequest(
            stage=step.id,
            iteration=index,
            max_iterations=max_iterations,
            artifact=output,
            can_edit=step.review.on_edit is not None,
            request=self._request_text(),
        )
        self.emit(ReviewRequested(request=request))
        message = StructuredMessage[ReviewRequest](content=request, source="sop", metadata={"stage": step.id})
        try:
            response = await self.reviewer.on_messages([message], token)
        except asyncio.CancelledError:
            if not token.is_cancelled():
                raise
            # A reviewer awaiting a person (a server's) is cancelled through the token: say so in one sentence.
            raise CancelledError(f"the run was cancelled while waiting for the review of stage '{step.id}'") from None
        decision = response.chat_message.content
        self.emit(ReviewDecided(stage=step.id, iteration=index, decision=decision))
        return decision

    async def _apply_edit(
        self,
        step: StepSpec,
        bound: dict[str, Any],
        output: BaseModel,
        decision: ReviewDecision,
        seed: int,
        token: CancellationToken,
    ) -> tuple[dict[str, Any], BaseModel | None]:
        """Hand the instruction to the ``on_edit`` agent.

        An agent that returns the step's own kind of result (A3 editing an image) gives the next candidate
        directly; one that returns something else (A1 revising a prompt) updates the step's inputs of the
        same name, and the step runs again.
        """
        role = role_of(step.review.on_edit)
        values = {**bound, "instruction": decision.instruction}
        export = getattr(type(output), "export_name", None)
        if export:
            values[export] = output
        edited = await self._ask_agent(role, step, values, seed, token)
        self.note(step.id, f"edit '{decision.instruction}' applied by {role}")
        if type(edited) is type(output):
            return bound, edited
        if isinstance(edited, EnhancedPrompt) and edited.warning:
            self.manifest.warnings.append(f"{step.id} edit: {edited.warning}")
        updates = {name: getattr(edited, name) for name in bound if name in type(edited).model_fields}
        return {**bound, **updates}, None


def finished_stages(manifest: RunManifest) -> list[StageRecord]:
    """The stages a run finished (completed or skipped), up to the first one it did not."""
    finished = []
    for record in manifest.stages:
        if record.status not in ("completed", "skipped"):
            break
        finished.append(record)
    return finished


def reopen_stage(manifest: RunManifest, stage: str | None = None) -> RunManifest:
    """Make a finished run's ``stage`` (and every stage after it) to be made again by the next resume, with new
    seeds; ``None``: the whole run, its inputs read again (an input made by an earlier turn may have changed).

    The stages made again move to ``superseded`` with their files, so the earlier versions stay viewable.

    Raises:
        MoraError: the run has no such stage.
    """
    ids = [record.id for record in manifest.stages]
    if stage is not None and stage not in ids:
        raise MoraError(f"run {manifest.run_id} has no stage '{stage}' (it has {', '.join(ids) or 'none'})")
    start = ids.index(stage) if stage is not None else 0
    for record in manifest.stages[start:]:
        # Past every seed this stage has tried, so the next making differs from all of them.
        manifest.reseeds[record.id] = manifest.reseeds.get(record.id, 0) + max(len(record.iterations), 1)
    manifest.superseded.extend(manifest.stages[start:])
    manifest.stages = manifest.stages[:start]
    if stage is None:
        manifest.inputs = {}
    manifest.status, manifest.output, manifest.error = "running", None, None
    return manifest


def roles_used(spec: SopSpec) -> set[str]:
    """Every agent role an SOP needs, edit agents included."""
    roles = {step.role for step in spec.steps}
    return roles | {role_of(step.review.on_edit) for step in spec.steps if step.review and step.review.on_edit}


def describe_output(output: BaseModel) -> str:
    """One line for a stage's result: its path, or the enhanced prompt and where it came from."""
    if isinstance(output, EnhancedPrompt):
        return f"prompt ({output.source}): {output.prompt}"
    return getattr(output, "path", type(output).__name__)
