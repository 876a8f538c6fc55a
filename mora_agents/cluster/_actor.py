"""The Ray actor that plays one role: its tool loaded once, a stage at a time, files written to the workspace."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import ray
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel

from mora_agents.agents import ToolOptions, make_agents
from mora_agents.workspace import Workspace
from mora_tools.loading.memory import ModelMemory
from mora_tools.loading.models import cpu_numerics, use_torch_threads

ProgressEvent = tuple[str, str, int, str]
"""``(kind, stage, n, description)``: ``start`` (n = total steps), ``advance`` (n = steps), ``finish``."""


class RecordedProgress:
    """A :class:`~mora_tools.pipelines.progress.ProgressSink` that keeps its events for the driver to collect."""

    def __init__(self) -> None:
        self._events: list[ProgressEvent] = []
        self._lock = threading.Lock()

    def start(self, stage: str, total: int, description: str = "") -> None:
        self._add(("start", stage, total, description))

    def advance(self, stage: str, steps: int = 1) -> None:
        self._add(("advance", stage, steps, ""))

    def finish(self, stage: str) -> None:
        self._add(("finish", stage, 0, ""))

    def _add(self, event: ProgressEvent) -> None:
        with self._lock:
            self._events.append(event)

    def take(self) -> list[ProgressEvent]:
        with self._lock:
            events, self._events = self._events, []
        return events


class _Call:
    def __init__(self) -> None:
        self.token = CancellationToken()
        self.progress = RecordedProgress()


@ray.remote(concurrency_groups={"control": 4})
class RoleActor:
    """One role of the studio on a Ray worker (its GPUs are the ones Ray assigned this process).

    The tool loads on the first stage and stays loaded (``keep``) for every later request. Stages run one at a time
    (the default concurrency group holds one thread); ``progress`` and ``cancel`` answer meanwhile from the
    ``control`` group.

    Args:
        role: the role's name (``text_to_image``, ...).
        profile: the resolved :class:`~mora_tools.loading.profiles.ModelProfile` (frame size and dtype overrides
            applied).
        options: device, adapters and LLM, as the studio was configured.
        threads: torch CPU threads (``None``: torch's default).
    """

    def __init__(self, role: str, profile: Any, options: ToolOptions, threads: int | None) -> None:
        self.threads = threads
        self._use_threads()
        self.role = role
        self.profile = profile
        self.options = options
        self.memory = ModelMemory("keep")
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        """The agent's description and (A1) its LLM's name, plus where this actor runs; builds the agent once."""
        self._use_threads()
        agent = self._agent(Workspace(os.getcwd()), RecordedProgress())
        return {
            "description": agent.description,
            "model_name": getattr(agent, "model_name", None),
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "gpus": [str(gpu) for gpu in ray.get_gpu_ids()],
            "cpu_numerics": cpu_numerics(),
        }

    def run_stage(self, run_root: str, request: BaseModel, stage: str, call_id: str) -> BaseModel:
        """Run one stage of the run in ``run_root`` (a folder every node sees) and return its artifact."""
        self._use_threads()
        call = _Call()
        with self._lock:
            self._calls[call_id] = call
        agent = self._agent(Workspace(run_root), call.progress)
        message = StructuredMessage[type(request)](content=request, source="sop", metadata={"stage": stage})
        response = asyncio.run(agent.on_messages([message], call.token))
        return response.chat_message.content

    @ray.method(concurrency_group="control")
    def progress(self, call_id: str, final: bool = False) -> list[ProgressEvent]:
        """The progress events of call ``call_id`` since the last ask (``final``: and forget the call)."""
        with self._lock:
            call = self._calls.pop(call_id, None) if final else self._calls.get(call_id)
        return call.progress.take() if call else []

    @ray.method(concurrency_group="control")
    def cancel(self, call_id: str) -> None:
        """Stop call ``call_id`` at the pipeline's next step."""
        with self._lock:
            call = self._calls.get(call_id)
        if call:
            call.token.cancel()

    @ray.method(concurrency_group="control")
    def pid(self) -> int:
        return os.getpid()

    def _use_threads(self) -> None:
        # A threaded actor runs its methods in a pool thread other than __init__'s, and torch's thread count is per
        # thread: set it where the stage runs (the model thread then follows, see StageAgent).
        use_torch_threads(self.threads)

    def _agent(self, workspace: Workspace, progress: RecordedProgress):
        # Agents are cheap and hold the run's workspace; the tool behind them is built once, in self.memory.
        agents = make_agents({self.role}, self.profile, self.options, workspace, progress, 0, self.memory)
        return agents[self.role]
