"""The driver's side of a role on Ray: an AutoGen agent that hands each stage to the role's actor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import ray
from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from ray.exceptions import RayActorError, RayTaskError

from mora_agents.agents import AgentRole
from mora_agents.errors import MoraError
from mora_agents.workspace import Workspace
from mora_tools.pipelines.progress import ProgressSink

POLL_SECONDS = 0.25
"""How often the driver collects a running stage's progress from its actor."""


class RemoteStageAgent(BaseChatAgent):
    """Stands in for a role's :class:`~mora_agents.agents.StageAgent` in the SOP runner; the work runs in the actor.

    The runner sees the same messages either way: a ``StructuredMessage`` request in, the artifact back (files by
    reference on the shared workspace). The actor's progress is replayed into ``progress``; cancelling the
    token cancels the actor's call. An actor that dies mid-stage is restarted by Ray and the stage re-run there
    (``max_task_retries``); with the same seed it writes the same files.

    Args:
        role: the role it plays.
        actor: the role's :class:`~mora_agents.cluster.RoleActor` handle.
        info: what the actor's ``describe`` said (description; A1's ``model_name``).
        workspace: the run folder (its path must be the same on every node).
        progress: the run's progress sink.
    """

    def __init__(
        self, role: AgentRole, actor: Any, info: dict[str, Any], workspace: Workspace, progress: ProgressSink
    ) -> None:
        super().__init__(name=role.agent_name, description=info["description"])
        self.role = role
        self.actor = actor
        self.workspace = workspace
        self.progress = progress
        self.model_name = info.get("model_name")
        """A1: how the manifest names the LLM (as the local agent's ``model_name``)."""

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[self.role.agent.output_type],)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        last = messages[-1]
        stage = last.metadata.get("stage", self.name)
        call_id = uuid.uuid4().hex
        ref = self.actor.run_stage.remote(str(self.workspace.root.resolve()), last.content, stage, call_id)
        cancellation_token.add_callback(lambda: self.actor.cancel.remote(call_id))
        result = await self._follow(ref, call_id, stage)
        message = StructuredMessage[self.role.agent.output_type](
            content=result, source=self.name, metadata={"stage": stage}
        )
        return Response(chat_message=message)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Nothing to reset: stage agents keep no conversation state."""

    async def _follow(self, ref: ray.ObjectRef, call_id: str, stage: str) -> Any:
        """Wait for the stage, replaying its progress as it goes; its error, if any, as the local agent's."""
        done = asyncio.ensure_future(ref)
        while not done.done():
            await asyncio.wait({done}, timeout=POLL_SECONDS)
            await self._replay(call_id, final=done.done())
        try:
            return done.result()
        except RayTaskError as error:
            cause = error.cause
            raise (cause if isinstance(cause, Exception) else MoraError(str(error))) from None
        except RayActorError as error:
            raise MoraError(
                f"stage '{stage}': the {self.role.name} actor died and could not be restarted "
                f"({str(error).splitlines()[0]})"
            ) from None

    async def _replay(self, call_id: str, final: bool) -> None:
        try:
            events = await self.actor.progress.remote(call_id, final)
        except RayActorError:
            return  # dying or restarting: the stage's retry reports afresh
        for kind, stage, n, description in events:
            if kind == "start":
                self.progress.start(stage, n, description)
            elif kind == "advance":
                self.progress.advance(stage, n)
            else:
                self.progress.finish(stage)
