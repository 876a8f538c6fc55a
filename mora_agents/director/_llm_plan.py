"""The LLM resolver: any AutoGen ``ChatCompletionClient`` fills the turn's plan through its per-turn JSON schema.

The model sees the SOP catalog (name, description, typed inputs), every artifact described by content and
derivation ("#3 video extended from #2 (a lighthouse at dusk)"), the closed-grammar facts and the turn. Its answer
must fit :func:`~._plan.plan_schema` (enums of this session's artifact numbers and the SOP names: a server with
structured output, e.g. OpenAI ``json_schema`` or llama.cpp's grammars, cannot produce anything else). An answer that
does not parse or fit is retried once with the error named; after that the ``fallback`` resolver decides (the learned
model), or the plan is a question.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, ChatCompletionClient, LLMMessage, SystemMessage, UserMessage
from pydantic import BaseModel

from mora_agents.director._describe import describe
from mora_agents.director._front import TurnReading
from mora_agents.director._plan import (
    PlanBinding,
    PlanQuestion,
    PlanResolver,
    TurnPlan,
    bind_inputs,
    plan_schema,
    validate_answer,
)
from mora_agents.messages import SessionArtifact
from mora_agents.sop import SopSpec

logger = logging.getLogger(__name__)

SYSTEM = (
    "You are the director of a video studio. Read the user's request and choose the task to run and the session "
    "artifact for each of its image and video inputs. Artifacts are numbered #1, #2, ... in the order they were made. "
    "Count positions the way the user would: 'the third one' is #3, 'the second clip' is the second video. "
    "A derived artifact (extended, edited, joined, animated) shows what its sources show. For two clips in order, "
    "'video' plays first. If the request could mean several artifacts about equally, list them in 'ask' and do not "
    "guess. Answer with JSON only."
)
PLAN_TOKENS = 300
"""The answer's token cap: a plan is a few dozen tokens; a runaway model is cut off."""


class LlmResolver:
    """Fills a :class:`~._plan.TurnPlan` with an LLM; see the module docstring.

    Args:
        client: the chat completion client (``--llm openai``, ``MORA_LLM_BASE_URL``).
        create_args: ``extra_create_args`` for every call (temperature, seed); the token cap is raised to
            :data:`PLAN_TOKENS` at least.
        fallback: the resolver used when the LLM fails or answers nothing valid twice; ``None`` asks instead.
        schema_format: how the schema reaches the server (:attr:`mora_agents.llm.LlmBackend.schema_format`);
            ``None``: JSON mode, the schema only checked after the answer.
    """

    name = "llm"

    def __init__(
        self,
        client: ChatCompletionClient,
        create_args: dict[str, Any] | None = None,
        fallback: PlanResolver | None = None,
        schema_format: str | None = "json_schema",
    ) -> None:
        self.client = client
        self.schema_format = schema_format
        self.create_args = dict(create_args or {})
        self.create_args["max_tokens"] = max(int(self.create_args.get("max_tokens", 0)), PLAN_TOKENS)
        self.fallback = fallback
        self.answers: list[str] = []
        """The raw answers of the last turn (for ``--explain`` and tests)."""

    async def resolve(
        self,
        reading: TurnReading,
        artifacts: Sequence[SessionArtifact],
        sops: Mapping[str, SopSpec],
        cancellation_token: CancellationToken | None = None,
    ) -> TurnPlan:
        schema = plan_schema(sops, artifacts)
        info = self.client.model_info
        create_args = dict(self.create_args)
        json_output: Any = True if info.get("json_output") else None
        if self.schema_format == "json_object":  # llama-cpp-python's server: the schema becomes a grammar
            create_args["response_format"] = {"type": "json_object", "schema": schema.model_json_schema()}
            json_output = None
        elif self.schema_format == "json_schema" and info.get("structured_output"):
            json_output = schema
        messages: list[LLMMessage] = [
            SystemMessage(content=SYSTEM),
            UserMessage(content=context(reading, artifacts, sops), source="user"),
        ]
        self.answers = []
        problem = "no answer"
        for _attempt in range(2):
            try:
                result = await self.client.create(
                    messages,
                    json_output=json_output,
                    extra_create_args=create_args,
                    cancellation_token=cancellation_token,
                )
            except Exception as error:  # a broken server must not stop the turn: the fallback decides
                problem = f"the LLM failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
                break
            content = result.content if isinstance(result.content, str) else json.dumps(str(result.content))
            self.answers.append(content)
            parsed, problem = validate_answer(content, schema)
            if parsed is not None:
                return plan_from_answer(parsed, reading, sops)
            messages = [
                *messages,
                AssistantMessage(content=content, source="director"),
                UserMessage(content=f"That answer is invalid: {problem}. Answer again with JSON only.", source="user"),
            ]
        logger.warning("director: %s", problem)
        if self.fallback is not None:
            return await self.fallback.resolve(reading, artifacts, sops, cancellation_token)
        task = next(iter(sops))
        question = PlanQuestion(reason=f"I could not work out the request ({problem})")
        return TurnPlan(task=task, question=question, confidence=0.0, resolver=self.name)


def context(reading: TurnReading, artifacts: Sequence[SessionArtifact], sops: Mapping[str, SopSpec]) -> str:
    """The user message: tasks, artifacts, facts, the request."""
    lines = ["Tasks:"]
    for spec in sops.values():
        inputs = ", ".join(
            f"{name} ({item.type}{', required' if item.required else ''})" for name, item in spec.inputs.items()
        )
        lines.append(f"- {spec.name}: {spec.description} Inputs: {inputs}.")
    lines.append("Session artifacts:" if artifacts else "Session artifacts: none yet.")
    lines.extend(f"- {describe(a, artifacts)}" for a in sorted(artifacts, key=lambda a: a.index))
    facts = [f'"{m.phrase}" is #{m.artifact}' for m in reading.mentions]
    facts += [f'"{p.path}" is a {p.kind} file the user named' for p in reading.paths]
    facts += reading.problems
    if reading.answered is not None:
        facts += [
            f"the user chose #{n} as {name} of {reading.answered.task}" for name, n in reading.answered.inputs.items()
        ]
    if facts:
        lines.append("Facts: " + "; ".join(facts) + ".")
    lines.append(f"Request: {reading.text}")
    return "\n".join(lines)


def plan_from_answer(answer: BaseModel, reading: TurnReading, sops: Mapping[str, SopSpec]) -> TurnPlan:
    """The plan an answer describes (the director checks it against its task)."""
    data = answer.model_dump()
    spec = sops[data["task"]]
    chosen = {
        name: PlanBinding(
            input=name,
            artifact=data[name],
            frame=data.get(f"{name}_frame") if data.get(f"{name}_frame") in ("first", "last") else None,
            how="llm",
        )
        for name, item in spec.inputs.items()
        if item.type in ("image", "video") and data.get(name)
    }
    question = None
    if data["ask"]:
        question = PlanQuestion(candidates=sorted(set(data["ask"])), reason="the request could mean several artifacts")
    return TurnPlan(task=spec.name, bindings=bind_inputs(spec, reading, chosen), question=question, resolver="llm")
