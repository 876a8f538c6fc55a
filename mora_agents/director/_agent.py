"""The director: a user turn plus the session so far -> a :class:`VideoRequest`, or a :class:`ClarifyingQuestion`.

How a turn is read, in order:

1. The closed-grammar front (:mod:`._front`) reads the facts that have one reading: file names, "#3", "clip 2",
   "turn 2", durations, numerals. Facts, not decisions.
2. A resolver (:class:`~._plan.PlanResolver`) fills one typed :class:`~._plan.TurnPlan`: the task, each input
   bound to an artifact, a file or a value, or a question. The embedded default is the trained model
   (:class:`~._learned.LearnedResolver`); with an LLM over an OpenAI-compatible API, the LLM fills it through a
   per-turn JSON schema (:class:`~._llm_plan.LlmResolver`), the trained model standing in when the LLM fails.
3. The plan is checked against its task (:func:`~._plan.check_plan`: ids exist, kinds fit, required inputs are
   there); what fails becomes a question, never a guess.
4. The plan becomes the answer (:mod:`._answer`), with what the director understood in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken

from mora_agents.director._answer import answer
from mora_agents.director._front import read_turn
from mora_agents.director._learned import LearnedResolver
from mora_agents.director._plan import PlanResolver, TurnPlan, check_plan, with_answers
from mora_agents.messages import ClarifyingQuestion, DirectorTurn, VideoRequest
from mora_agents.resources import role_prompt
from mora_agents.sop import SopSpec


@dataclass
class RouteTrace:
    """How a turn was read, carried in the answer's metadata (and useful in tests)."""

    decided_by: Literal["learned", "llm-plan"]
    """The trained model, or an LLM through the plan's schema."""
    plan: TurnPlan
    """The plan the resolver filled, after the checks."""

    def metadata(self) -> dict[str, str]:
        """``decided_by``; ``ranking`` (``task=probability``, likeliest first); ``plan`` (JSON); ``confidence``;
        ``asked_because`` when the plan is a question."""
        ranking = self.plan.ranking or [(self.plan.task, self.plan.confidence)]
        data = {
            "decided_by": self.decided_by,
            "ranking": ", ".join(f"{name}={p:.3f}" for name, p in ranking),
            "plan": self.plan.model_dump_json(exclude_none=True),
            "confidence": f"{self.plan.confidence:.3f}",
        }
        if self.plan.question is not None:
            data["asked_because"] = self.plan.question.reason
        return data


class DirectorAgent(BaseChatAgent):
    """Turns a ``StructuredMessage[DirectorTurn]`` into a ``StructuredMessage[VideoRequest]`` (which SOP, its
    inputs) or a ``StructuredMessage[ClarifyingQuestion]``; see the module docstring.

    References to the session ("it", "the last clip", "the kite one", "the extended one") are resolved against
    the turn's artifacts; files named in the text are kept as written (the SOP checks that they exist when it
    runs). The message's ``metadata`` carries the plan, its confidence and why it asked (:class:`RouteTrace`).

    Args:
        name: agent name (an identifier).
        sops: the tasks to route to, by name; user SOPs from ``--sop-dir`` route like built-in ones.
        resolver: fills each turn's plan; the trained model (:class:`~._learned.LearnedResolver`) by default.
        system_message: the role's description; defaults to ``prompts/director.txt``.
    """

    def __init__(
        self,
        name: str,
        sops: Mapping[str, SopSpec],
        resolver: PlanResolver | None = None,
        system_message: str | None = None,
    ) -> None:
        system_message = system_message or role_prompt("director")
        super().__init__(name=name, description="Director: " + system_message.splitlines()[0])
        if not sops:
            raise ValueError("DirectorAgent needs at least one SOP to route to, got none")
        self.sops = dict(sops)
        self.resolver: PlanResolver = resolver or LearnedResolver()
        self.system_message = system_message

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[VideoRequest], StructuredMessage[ClarifyingQuestion])

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        turn = getattr(messages[-1], "content", None) if messages else None
        if not isinstance(turn, DirectorTurn):
            got = type(messages[-1]).__name__ if messages else "no message"
            raise TypeError(f"{self.name} expects StructuredMessage[DirectorTurn], got {got}")
        answer, trace = await self.direct(turn, cancellation_token)
        metadata = trace.metadata()
        if isinstance(answer, VideoRequest):
            message = StructuredMessage[VideoRequest](content=answer, source=self.name, metadata=metadata)
        else:
            message = StructuredMessage[ClarifyingQuestion](content=answer, source=self.name, metadata=metadata)
        return Response(chat_message=message)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """The director keeps no state: the session travels in each turn."""

    async def direct(
        self, turn: DirectorTurn, cancellation_token: CancellationToken | None = None
    ) -> tuple[VideoRequest | ClarifyingQuestion, RouteTrace]:
        """The answer to ``turn`` and the plan behind it."""
        token = cancellation_token or CancellationToken()
        reading = read_turn(turn.text, turn.artifacts, turn.answered)
        plan = await self.resolver.resolve(reading, turn.artifacts, self.sops, token)
        spec = self.sops[plan.task]
        plan = check_plan(with_answers(plan, turn.answered), spec, turn.artifacts)
        trace = RouteTrace("learned" if plan.resolver == "learned" else "llm-plan", plan)
        return answer(plan, spec, turn.artifacts, turn.seed), trace
