"""Runs an SOP: binds each step's inputs, sends its agent a ``StructuredMessage``, loops reviews.

The runner talks to agents only through AutoGen messages (``on_messages``), and writes the manifest
atomically after every iteration, so a killed run leaves a complete manifest of what finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel, ValidationError

from mora_agents.errors import MoraError
from mora_agents.messages import EnhancedPrompt, ImageArtifact, ReviewDecision, ReviewRequest, VideoArtifact
from mora_agents.sop._schema import AGENT_ROLES, ROLE_ALIASES, SopSpec, StepSpec, resolve_output
from mora_agents.workspace import IterationRecord, RunManifest, StageRecord, Workspace

EventSink = Callable[[str], None]


class SopRunner:
    """Execute one SOP for one request.

    Args:
        spec: the validated SOP.
        agents: one agent per role the SOP names (``prompt_enhancer``, ``text_to_image``, ...).
        reviewer: the human proxy that answers review requests.
        workspace: the run folder.
        manifest: the run's manifest, already holding the request; filled and saved as stages finish.
        events: receives one line per finished iteration (for the CLI).
    """

    def __init__(
        self,
        spec: SopSpec,
        agents: Mapping[str, BaseChatAgent],
        reviewer: BaseChatAgent,
        workspace: Workspace,
        manifest: RunManifest,
        events: EventSink | None = None,
    ) -> None:
        missing = [step.role for step in spec.steps if step.role not in agents]
        if missing:
            raise ValueError(f"no agent given for role(s) {', '.join(sorted(set(missing)))}")
        self.spec = spec
        self.agents = agents
        self.reviewer = reviewer
        self.workspace = workspace
        self.manifest = manifest
        self.events = events or (lambda line: None)

    async def run(self, cancellation_token: CancellationToken | None = None) -> RunManifest:
        """Run every step in order; on failure the manifest is saved as ``failed`` and the error re-raised."""
        token = cancellation_token or CancellationToken()
        started = time.perf_counter()
        inputs = self.spec.bind_inputs(self.manifest.request.inputs)
        results: dict[str, BaseModel] = {}
        try:
            for step in self.spec.steps:
                results[step.id] = await self._run_step(step, inputs, results, token)
            output = results[self.spec.output]
            if isinstance(output, ImageArtifact | VideoArtifact):
                suffix = ".mp4" if isinstance(output, VideoArtifact) else ".png"
                name = "video.mp4" if suffix == ".mp4" else f"{self.spec.output}{suffix}"
                output = output.model_copy(update={"path": self.workspace.publish(output.path, name)})
            self.manifest.output = output if not isinstance(output, EnhancedPrompt) else None
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

    async def _run_step(
        self, step: StepSpec, inputs: dict[str, Any], results: dict[str, BaseModel], token: CancellationToken
    ) -> BaseModel:
        started = time.perf_counter()
        record = StageRecord(id=step.id, agent=step.role)
        self.manifest.stages.append(record)
        self.workspace.save_manifest(self.manifest)
        bound = self._bind(step, inputs, results)
        seed = self.manifest.request.seed
        max_iterations = step.review.max_iterations if step.review else 1
        edited_by: str | None = None
        while True:
            output = await self._ask_agent(step.role, step, bound, seed, token)
            iteration = IterationRecord(index=len(record.iterations) + 1, output=output, edited_by=edited_by)
            record.iterations.append(iteration)
            if isinstance(output, EnhancedPrompt):
                self.manifest.enhanced_prompt = output
                if output.warning:
                    self.manifest.warnings.append(f"{step.id}: {output.warning}")
            self.workspace.save_manifest(self.manifest)
            self.events(f"{step.id} #{iteration.index}: {_describe(output)}")
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
                self.events(f"{step.id}: {max_iterations} iterations reached, '{decision}' refused")
                break
            if decision.action == "regenerate":
                seed += 1
                edited_by = None
            else:
                bound = await self._apply_edit(step, bound, decision, token)
                edited_by = ROLE_ALIASES.get(step.review.on_edit, step.review.on_edit)
            self.workspace.save_manifest(self.manifest)
        result = record.result
        if isinstance(result, ImageArtifact | VideoArtifact) and step.id != self.spec.output:
            suffix = ".mp4" if isinstance(result, VideoArtifact) else ".png"
            self.workspace.publish(result.path, f"{step.id}{suffix}")
        record.status = "completed"
        record.seconds = round(time.perf_counter() - started, 3)
        self.workspace.save_manifest(self.manifest)
        return result

    def _bind(self, step: StepSpec, inputs: dict[str, Any], results: dict[str, BaseModel]) -> dict[str, Any]:
        bound: dict[str, Any] = {}
        for name, ref in step.references().items():
            if ref.source == "inputs":
                if ref.key not in inputs:
                    raise MoraError(f"task '{self.spec.name}' step '{step.id}' needs the input '{ref.key}'")
                bound[name] = inputs[ref.key]
            else:
                bound[name] = resolve_output(results[ref.source], ref.key)
        return bound

    async def _ask_agent(
        self, role: str, step: StepSpec, values: dict[str, Any], seed: int, token: CancellationToken
    ) -> BaseModel:
        agent_class = AGENT_ROLES[role]
        fields = agent_class.request_type.model_fields
        payload = {name: value for name, value in values.items() if name in fields}
        if "seed" in fields:
            payload["seed"] = seed
        try:
            request = agent_class.request_type.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            raise MoraError(
                f"step '{step.id}': {role} got a bad '{'.'.join(map(str, first['loc']))}' ({first['msg']})"
            ) from None
        message = StructuredMessage[agent_class.request_type](
            content=request, source="sop", metadata={"stage": step.id}
        )
        response = await self.agents[role].on_messages([message], token)
        return response.chat_message.content

    async def _review(
        self, step: StepSpec, index: int, max_iterations: int, output: BaseModel, token: CancellationToken
    ) -> ReviewDecision:
        request = ReviewRequest(
            stage=step.id,
            iteration=index,
            max_iterations=max_iterations,
            artifact=output,
            can_edit=step.review.on_edit is not None,
        )
        message = StructuredMessage[ReviewRequest](content=request, source="sop", metadata={"stage": step.id})
        response = await self.reviewer.on_messages([message], token)
        decision = response.chat_message.content
        self.events(f"{step.id} #{index}: review -> {decision} ({decision.by})")
        return decision

    async def _apply_edit(
        self, step: StepSpec, bound: dict[str, Any], decision: ReviewDecision, token: CancellationToken
    ) -> dict[str, Any]:
        """Hand the instruction to the ``on_edit`` agent; its outputs replace the step's matching inputs."""
        role = ROLE_ALIASES.get(step.review.on_edit, step.review.on_edit)
        edited = await self._ask_agent(role, step, {**bound, "instruction": decision.instruction}, 0, token)
        if isinstance(edited, EnhancedPrompt) and edited.warning:
            self.manifest.warnings.append(f"{step.id} edit: {edited.warning}")
        updates = {name: getattr(edited, name) for name in bound if name in type(edited).model_fields}
        if not updates:
            raise MoraError(f"step '{step.id}': the edit agent '{role}' produces nothing this step takes")
        self.events(f"{step.id}: edit '{decision.instruction}' applied by {role}")
        return {**bound, **updates}


def _describe(output: BaseModel) -> str:
    if isinstance(output, EnhancedPrompt):
        return f"prompt ({output.source}): {output.prompt}"
    return getattr(output, "path", type(output).__name__)
