"""The director: a user turn plus the session so far -> a :class:`VideoRequest`, or a :class:`ClarifyingQuestion`.

Which task, in order (each step only narrows or decides, so a 135M LLM cannot spoil the result):

1. Media filter (data-driven, from each SOP's input types): a task must take the kinds of file the turn
   names ("animate photo.png" needs an image input; "the first and the second clip" two video inputs), and
   a task that requires an image or video is dropped when none is named, none is in the session and no
   pronoun points at one. "a 10 second video of ..." (no "the"/"this" video) is a new video: tasks that
   require an input video are dropped.
2. Cues: each SOP's ``route.cues`` (regular expressions in its YAML) for what embeddings confuse:
   "longer/keep going/add 3 seconds" with a video at hand -> ``extend_video``; "stitch/join/blend into" with
   two -> ``connect_videos``. A cue counts only when the media its task requires are at hand and pointed at
   (or the cue opens the turn: "keep going"); several matching cues are ranked by the embedding. A task with
   ``route.needs_cue`` (``digital_world``) is a candidate only when one of its cues matches.
3. Embedding: cosine similarity of the turn to each remaining task's examples and description. A top-1
   margin of at least :data:`DECIDE_MARGIN` decides.
4. LLM: below that margin the LLM picks, with a JSON schema whose ``task`` is one of the remaining names.
   An invalid answer is retried once with the validation error; the answer is taken only if it is among the
   embedding's top 2, else the embedding's top 1 decides.

Before all this, content phrases ("the kite clip", "the sleeping cat") are bound to artifacts
(:mod:`._content`). The inputs are then read deterministically (:mod:`._inputs`); a required one that cannot
be filled, or a phrase that fits several artifacts, turns the answer into a clarifying question, never a
guess (with a ``reference_client``, e.g. ``--llm openai``, the LLM first chooses among the candidates).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, ChatCompletionClient, LLMMessage, SystemMessage, UserMessage
from pydantic import BaseModel, Field, create_model

from mora_agents.director._answer import answer
from mora_agents.director._content import bind_content
from mora_agents.director._embedding import EmbeddingRouter, Ranking
from mora_agents.director._explanation import explain
from mora_agents.director._front import read_turn
from mora_agents.director._inputs import clarifying_question, fill_inputs
from mora_agents.director._plan import PlanResolver, TurnPlan, check_plan, validate_answer
from mora_agents.director._settle import settle_with_llm
from mora_agents.director._slots import MediaKind, TurnFacts, bind_relative, embedding_query
from mora_agents.messages import ClarifyingQuestion, DirectorTurn, SessionArtifact, VideoRequest
from mora_agents.resources import role_prompt
from mora_agents.sop import SopSpec

logger = logging.getLogger(__name__)

DECIDE_MARGIN = 0.10
"""Embedding margin (top-1 minus top-2 cosine) at or above which the embedding decides without the LLM.

Chosen from the routing table in ``tests/test_director.py`` (all-MiniLM-L6-v2, the six built-in SOPs, after
the media filter and the cues). With three examples per task every wrong embedding top-1 had a margin of
0.004-0.044; with the current ``text_to_video`` examples only one is wrong (0.044), while right decisions
reach down to 0.02 but mostly lie above 0.12. 0.10 sends every wrong case seen (and about 1 request in 6)
to the LLM, which there can only swap the top two. Measured: SmolLM2-135M then mostly returns the first
name offered (the embedding's own order), so with the embedded defaults the LLM rarely changes a route;
a stronger LLM (``--llm openai``) is where this step earns its place.
"""

LLM_CANDIDATES = 2
"""The LLM's choice counts only if it is among the embedding's top this many."""


# Words a turn may open with before its verb: "ok now keep going", "can you add 2 more seconds".
_OPENING = re.compile(
    r"^(?:\s*(?:ok(?:ay)?|now|please|pls|and|then|so|hey|great|nice|cool|good|can you|could you|would you|"
    r"let'?s|i want to|i'd like to|id like to|just|also|give (?:it|them|this|that|the (?:clip|video))|it|yes|"
    r"yeah)\b[\s,!.]*)*",
    re.IGNORECASE,
)
_NEW_VIDEO = re.compile(
    # Not a simile or a style: "make it look like an old home movie", "in the style of a silent film".
    r"\b(?<!like )(?<!as )(?<!of )(?:a|an|another|one more)\s+(?:[\w'-]+\s+){0,3}?"
    r"(?:video|clip|film|movie|animation)s?\b(?!\s+games?)",
    re.IGNORECASE,
)


class _Choice(BaseModel):
    task: str


@dataclass
class RouteTrace:
    """How a task was chosen, carried in the answer's metadata (and useful in tests)."""

    decided_by: Literal["only", "cue", "embedding", "llm", "fallback", "learned", "llm-plan"]
    """``only`` (one task left after the media filter), a keyword ``cue``, the ``embedding`` margin, the
    ``llm`` on a close call, or ``fallback`` (the LLM failed or chose outside the top 2: the embedding)."""
    ranking: Ranking
    """The embedding scores, with the chosen task moved first (``only``: that task, scored 1.0, not embedded)."""
    llm_answers: tuple[str, ...] = ()
    llm_problem: str | None = None
    reference_answers: tuple[str, ...] = ()
    """The reference LLM's raw answers, when it was asked to choose between artifacts."""
    plan: TurnPlan | None = None
    """The plan a resolver filled (``--director learned``)."""

    def metadata(self) -> dict[str, str]:
        """``decided_by``; ``ranking`` (``task=score``, the chosen task first); ``margin`` (first minus second
        as listed: negative when a cue or the LLM overrode the embedding); the LLM's answers and problem."""
        data = {
            "decided_by": self.decided_by,
            "ranking": ", ".join(f"{name}={score:.3f}" for name, score in self.ranking.scores),
            "margin": f"{self.ranking.margin:.3f}",
        }
        if self.llm_answers:
            data["llm_answers"] = json.dumps(list(self.llm_answers))
        if self.llm_problem:
            data["llm_problem"] = self.llm_problem
        if self.reference_answers:
            data["reference_answers"] = json.dumps(list(self.reference_answers))
        if self.plan is not None:
            data["plan"] = self.plan.model_dump_json(exclude_none=True)
            data["confidence"] = f"{self.plan.confidence:.3f}"
            if self.plan.question is not None:
                data["asked_because"] = self.plan.question.reason
        return data


class DirectorAgent(BaseChatAgent):
    """Turns a ``StructuredMessage[DirectorTurn]`` into a ``StructuredMessage[VideoRequest]`` (which SOP, its
    inputs) or a ``StructuredMessage[ClarifyingQuestion]`` (something required is missing).

    References to the session ("it", "the last clip", "the first and the second clip", "that frame") are
    resolved against the turn's artifacts; files named in the text are kept as written (the SOP checks that
    they exist when it runs). The message's ``metadata`` says how the task was chosen (``decided_by``,
    ``ranking``, ``margin``).

    Args:
        name: agent name (an identifier).
        model_client: the LLM consulted on close calls, e.g. the embedded SmolLM2; ``None`` routes without one.
        create_args: ``extra_create_args`` for every LLM call (temperature, token cap).
        sops: the tasks to route to, by name; user SOPs from ``--sop-dir`` route like built-in ones.
        router: the embedding ranking; defaults to all-MiniLM-L6-v2 (loaded on first use).
        system_message: defaults to ``prompts/director.txt``.
        decide_margin: embedding margin at or above which the LLM is not asked (:data:`DECIDE_MARGIN`).
        reference_client: the LLM that chooses between artifacts a phrase fits about equally ("the beach
            one" with two beach clips), through a JSON schema of their numbers; ``None`` (the default, and
            what the embedded 135M model gets) asks the user instead.
        resolver: a :class:`~._plan.PlanResolver` that reads each turn into a typed plan instead of the rules
            (:class:`~._learned.LearnedResolver`, :class:`~._llm_plan.LlmResolver`); the metadata then carries
            the plan, its confidence and why it asked.
    """

    def __init__(
        self,
        name: str,
        model_client: ChatCompletionClient | None,
        sops: Mapping[str, SopSpec],
        create_args: dict[str, Any] | None = None,
        router: EmbeddingRouter | None = None,
        system_message: str | None = None,
        decide_margin: float = DECIDE_MARGIN,
        reference_client: ChatCompletionClient | None = None,
        resolver: PlanResolver | None = None,
    ) -> None:
        system_message = system_message or role_prompt("director")
        super().__init__(name=name, description="Director: " + system_message.splitlines()[0])
        if not sops:
            raise ValueError("DirectorAgent needs at least one SOP to route to, got none")
        self.model_client = model_client
        self.create_args = dict(create_args or {})
        self.sops = dict(sops)
        self.router = router or EmbeddingRouter()
        self.system_message = system_message
        self.decide_margin = decide_margin
        self.reference_client = reference_client
        self.resolver = resolver

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
        """The answer to ``turn`` and how its task was chosen."""
        token = cancellation_token or CancellationToken()
        if self.resolver is not None:
            return await self._direct_by_plan(turn, token)
        facts = TurnFacts.read(turn.text)
        if turn.artifacts:
            quiet = self._cue_spans(facts) if self._acts_on_clips(facts) else None
            facts = await asyncio.to_thread(bind_content, facts, turn.artifacts, self.router.encode, loose=quiet)
            facts = bind_relative(facts, turn.artifacts)
        trace = await self.choose_task(turn, facts, token)
        spec = self.sops[trace.ranking.top]
        filled = fill_inputs(spec, facts, turn.artifacts)
        if filled.unclear and self.reference_client is not None:
            facts, trace.reference_answers = await settle_with_llm(
                self.reference_client, self.create_args, turn, facts, filled.unclear, token
            )
            filled = fill_inputs(spec, facts, turn.artifacts)
        if filled.missing or filled.problems or filled.unclear:
            return clarifying_question(spec, filled, turn.artifacts), trace
        explanation = explain(spec, filled.inputs, filled.bindings, turn.artifacts)
        request = VideoRequest(
            task=spec.name, inputs=filled.inputs, seed=turn.seed, explanation=explanation, bindings=filled.bindings
        )
        return request, trace

    async def _direct_by_plan(
        self, turn: DirectorTurn, token: CancellationToken
    ) -> tuple[VideoRequest | ClarifyingQuestion, RouteTrace]:
        """The resolver's plan for ``turn``, checked against its task, as the answer."""
        assert self.resolver is not None
        reading = read_turn(turn.text, turn.artifacts)
        plan = await self.resolver.resolve(reading, turn.artifacts, self.sops, token)
        spec = self.sops[plan.task]
        plan = check_plan(plan, spec, turn.artifacts)
        ranking = Ranking(tuple(plan.ranking) or ((plan.task, plan.confidence),))
        trace = RouteTrace("learned" if plan.resolver == "learned" else "llm-plan", ranking, plan=plan)
        return answer(plan, spec, turn.artifacts, turn.seed), trace

    def _acts_on_clips(self, facts: TurnFacts) -> bool:
        """The turn says to do something to clips ("stitch em together", "bees +3s"): its bare words may name them.
        A cue of a task that takes two clips, or of one that takes a clip when nothing else points."""

        def clips(spec: SopSpec) -> int:
            return sum(item.type == "video" and item.required for item in spec.inputs.values())

        if any(_cue_match(spec, facts) for spec in self.sops.values() if clips(spec) >= 2):
            return True
        pointing = facts.paths or facts.references
        return not pointing and any(_cue_match(spec, facts) for spec in self.sops.values() if clips(spec) == 1)

    def _cue_spans(self, facts: TurnFacts) -> list[tuple[int, int]]:
        """Where the turn says what to do ("join", "then", "stitch em together"): no loose word is read there."""
        return [
            m.span() for spec in self.sops.values() for p in spec.route.patterns() for m in p.finditer(facts.masked)
        ]

    # -- which task --------------------------------------------------------------------------------

    def candidates(self, facts: TurnFacts, artifacts: list[SessionArtifact]) -> list[SopSpec]:
        """The tasks the media filter keeps (see the module docstring); never empty."""
        evidence = facts.media_evidence(artifacts)
        in_session = {a.kind for a in artifacts}
        new_video = evidence["video"] == 0 and _NEW_VIDEO.search(facts.masked) is not None
        # A turn that points at nothing ("a panda eating bamboo") is about nothing made so far, unless a task's
        # own cue opens it ("keep going", "add 2 more seconds": the latest clip).
        points = any(evidence.values()) or facts.has_pronoun

        def takes(spec: SopSpec) -> bool:
            kinds = [item.type for item in spec.inputs.values()]
            return all(kinds.count(kind) >= min(count, 2) for kind, count in evidence.items() if count)

        def enough(spec: SopSpec) -> bool:
            # One clip named and no word of joining: not a two-clip task ("make the second clip black and white").
            for kind, count in evidence.items():
                need = sum(item.type == kind and item.required for item in spec.inputs.values())
                if 0 < count < need and not _cue_match(spec, facts):
                    return False
            return True

        def can_have(spec: SopSpec) -> bool:
            for item in spec.inputs.values():
                if item.type not in ("image", "video") or not item.required:
                    continue
                kind: MediaKind = item.type
                if kind == "video" and new_video:
                    return False
                implied = kind in in_session and (points or _opening_cue(spec, facts))
                if not (evidence[kind] > 0 or implied or (facts.has_pronoun and not artifacts)):
                    return False
            return True

        if facts.has_pronoun and _pronoun_only(facts):
            # "animate it" with a clip made last and a photo before: a cue says which kind "it" is.
            cued = [s for s in self.sops.values() if _cue_match(s, facts) and _media_ready(s, facts, artifacts)]
            if cued and not any(takes(spec) for spec in cued):
                evidence = {"image": 0, "video": 0}
        specs = [spec for spec in self.sops.values() if not spec.route.needs_cue or _cue_match(spec, facts)]
        specs = specs or list(self.sops.values())
        compatible = [spec for spec in specs if takes(spec)] or specs
        compatible = [spec for spec in compatible if enough(spec)] or compatible
        return [spec for spec in compatible if can_have(spec)] or compatible

    async def choose_task(self, turn: DirectorTurn, facts: TurnFacts, token: CancellationToken) -> RouteTrace:
        specs = self.candidates(facts, turn.artifacts)
        if len(specs) == 1:
            # Nothing to rank (and no model to load): e.g. two videos named and one task that takes two.
            return RouteTrace("only", Ranking(((specs[0].name, 1.0),)))
        query = embedding_query(facts)
        ranking = await asyncio.to_thread(self.router.rank, query, specs)
        cued = [spec.name for spec in specs if _cue_match(spec, facts) and _media_ready(spec, facts, turn.artifacts)]
        if cued:
            best = max(cued, key=ranking.score)
            return RouteTrace("cue", _promote(ranking, best))
        if ranking.margin >= self.decide_margin or self.model_client is None:
            return RouteTrace("embedding", ranking)
        choice, answers, problem = await self._ask_llm(turn, query, ranking, token)
        if choice is not None and choice in ranking.names(LLM_CANDIDATES):
            return RouteTrace("llm", _promote(ranking, choice), answers, problem)
        if choice is not None:
            problem = f"the LLM chose {choice}, not among the embedding's top {LLM_CANDIDATES}"
        return RouteTrace("fallback", ranking, answers, problem)

    async def _ask_llm(
        self, turn: DirectorTurn, query: str, ranking: Ranking, token: CancellationToken
    ) -> tuple[str | None, tuple[str, ...], str | None]:
        """The LLM's task (validated, one retry), its raw answers, and the last problem."""
        assert self.model_client is not None
        names = [name for name, _ in ranking.scores]
        schema = create_model("TaskChoice", task=(Literal[tuple(names)], Field(description="The task to run.")))
        info = self.model_client.model_info
        json_output = schema if info.get("structured_output") else (True if info.get("json_output") else None)
        messages: list[LLMMessage] = [
            SystemMessage(content=self.system_message),
            UserMessage(content=_describe(turn, query, list(self.sops.values()), names), source="user"),
        ]
        answers: list[str] = []
        problem: str | None = None
        for _attempt in range(2):
            try:
                result = await self.model_client.create(
                    messages, json_output=json_output, extra_create_args=self.create_args, cancellation_token=token
                )
            except Exception as error:  # a broken LLM (server down, no answers) must not stop routing
                problem = f"the LLM failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
                logger.warning("director: %s; the embedding decides", problem)
                return None, tuple(answers), problem
            content = result.content if isinstance(result.content, str) else json.dumps(str(result.content))
            answers.append(content)
            choice, problem = parse_choice(content, names)
            if choice is not None:
                return choice, tuple(answers), None
            # A new list: the client may keep the one it was given (the replay client records it).
            messages = [
                *messages,
                AssistantMessage(content=content, source=self.name),
                UserMessage(
                    content=f"That answer is invalid: {problem}. Answer again, only with JSON of the form "
                    f'{{"task": "<name>"}}, where <name> is one of: {", ".join(names)}.',
                    source="user",
                ),
            ]
        logger.info("director: the LLM's answers were invalid (%s); the embedding decides", problem)
        return None, tuple(answers), problem


def parse_choice(content: str, names: Sequence[str]) -> tuple[str | None, str | None]:
    """The task named by an LLM answer, or ``(None, problem)`` with the validation error in words."""
    choice, problem = validate_answer(content, _Choice)
    if choice is None:
        return None, problem
    task = choice.task.strip()
    if task not in names:
        return None, f"'{task}' is not a task (choose one of {', '.join(names)})"
    return task, None


def _promote(ranking: Ranking, task: str) -> Ranking:
    """``ranking`` with ``task`` first: the decision, with the embedding scores kept for the record."""
    first = [item for item in ranking.scores if item[0] == task]
    return Ranking(tuple(first + [item for item in ranking.scores if item[0] != task]))


def _cue_match(spec: SopSpec, facts: TurnFacts) -> re.Match[str] | None:
    """The first of the task's cues found in the turn, its references read as "this video" ("the longer
    hummingbird clip" is no cue to extend)."""
    text = embedding_query(facts)
    for pattern in spec.route.patterns():
        match = pattern.search(text)
        if match is not None:
            return match
    return None


def _pronoun_only(facts: TurnFacts) -> bool:
    """The turn points only by "it" / "that": no file, no clip or photo named."""
    return not facts.paths and all(r.selector == "pronoun" for r in facts.references)


def _opening_cue(spec: SopSpec, facts: TurnFacts) -> bool:
    """A cue of the task opens the turn: "keep going", "now add 2 more seconds" (not "rain continues to fall")."""
    text = embedding_query(facts)
    opening = _OPENING.match(text)
    start = opening.end() if opening else 0
    return any(p.match(text, start) for p in spec.route.patterns())


def _media_ready(spec: SopSpec, facts: TurnFacts, artifacts: list[SessionArtifact]) -> bool:
    """The media the task requires are at hand (named or in the session) and pointed at, or its cue opens the turn."""
    evidence = facts.media_evidence(artifacts)
    for kind in ("image", "video"):
        need = sum(item.type == kind and item.required for item in spec.inputs.values())
        if not need:
            continue
        at_hand = evidence[kind] + sum(a.kind == kind for a in artifacts)
        pointed = evidence[kind] > 0 or facts.has_pronoun or _opening_cue(spec, facts)
        if at_hand < need or not pointed:
            return False
    return True


def _describe(turn: DirectorTurn, query: str, specs: list[SopSpec], allowed: list[str]) -> str:
    """The user message for the LLM: every task (always the same text, in the same order, so a server that caches
    prompt prefixes can reuse it; the embedded client starts each call afresh, for repeatable answers), the session,
    the request, and the names it may choose from."""
    lines = ["Tasks:"]
    for spec in specs:
        examples = "; ".join(f'"{e}"' for e in spec.examples[:3])
        lines.append(f"- {spec.name}: {spec.description}" + (f" Examples: {examples}." if examples else ""))
    if turn.artifacts:
        lines.append("Session so far:")
        counts: dict[str, int] = {}
        for artifact in sorted(turn.artifacts, key=lambda a: a.index):
            counts[artifact.kind] = counts.get(artifact.kind, 0) + 1
            shows = f": {artifact.prompt}" if artifact.prompt else ""
            lines.append(f"- {artifact.kind} {counts[artifact.kind]} (made by {artifact.task}){shows}")
    else:
        lines.append("Session so far: nothing made yet.")
    lines.append(f"Request: {query}")
    lines.append(f"Choose one of: {', '.join(allowed)}.")
    return "\n".join(lines)
