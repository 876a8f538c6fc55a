"""The director: a user turn plus the session so far -> a :class:`VideoRequest`, or a :class:`ClarifyingQuestion`.

Which task, in order (each step only narrows or decides, so a 135M LLM cannot spoil the result):

1. Media filter (data-driven, from each SOP's input types): a task must take the kinds of file the turn
   names ("animate photo.png" needs an image input; "the first and the second clip" two video inputs), and
   a task that requires an image or video is dropped when none is named, none is in the session and no
   pronoun points at one. "a 10 second video of ..." (no "the"/"this" video) is a new video: tasks that
   require an input video are dropped.
2. Cues: a small keyword table (:data:`CUES`) for what embeddings confuse: "longer/extend/continue" with a
   video at hand -> ``extend_video``; "connect/join/transition" with two -> ``connect_videos``.
3. Embedding: cosine similarity of the turn to each remaining task's examples and description. A top-1
   margin of at least :data:`DECIDE_MARGIN` decides.
4. LLM: below that margin the LLM picks, with a JSON schema whose ``task`` is one of the remaining names.
   An invalid answer is retried once with the validation error; the answer is taken only if it is among the
   embedding's top 2, else the embedding's top 1 decides.

The inputs are then read deterministically (:mod:`._inputs`); a required one that cannot be filled turns the
answer into a clarifying question, never a guess.
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
from pydantic import BaseModel, Field, ValidationError, create_model

from mora_agents.director._embedding import EmbeddingRouter, Ranking
from mora_agents.director._inputs import clarifying_question, fill_inputs
from mora_agents.director._slots import MediaKind, TurnFacts, mask_paths
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


@dataclass(frozen=True)
class Cue:
    """A media-aware keyword cue: ``pattern`` in the turn and ``videos`` videos at hand -> ``task``."""

    task: str
    pattern: re.Pattern[str]
    videos: int


CUES: tuple[Cue, ...] = (
    Cue(
        "extend_video",
        re.compile(
            r"\b(?:longer|lengthen\w*|extend\w*|continue[sd]?|continuing|continuation|prolong\w*|keep (?:it |them )?"
            r"going|carry on|more seconds|add (?:\w+ )?(?:more )?seconds?)\b",
            re.IGNORECASE,
        ),
        1,
    ),
    Cue(
        "connect_videos",
        re.compile(
            r"\b(?:connect\w*|join\w*|transition\w*|merg\w*|stitch\w*|combin\w*|splic\w*)\b",
            re.IGNORECASE,
        ),
        2,
    ),
)
"""Keyword cues for the built-in tasks, where sentence embeddings are weakest: "extend the first clip"
resembles connect_videos' "connect the first and the second clip" more than "make this clip 4 seconds
longer". A cue fires only when its task exists and survives the media filter, the turn points at a video
("it", "the clip", a file) and enough videos are at hand (named in the turn or in the session): "rain
continues to fall" or "a transition from day to night" alone stay with the embedding. User tasks route by
their examples; they need no entry here."""

_NEW_VIDEO = re.compile(
    r"\b(?:a|an|another|one more)\s+(?:[\w'-]+\s+){0,3}?(?:video|clip|film|movie|animation)s?\b(?!\s+games?)",
    re.IGNORECASE,
)


class _Choice(BaseModel):
    task: str


@dataclass
class RouteTrace:
    """How a task was chosen, carried in the answer's metadata (and useful in tests)."""

    decided_by: Literal["only", "cue", "embedding", "llm", "fallback"]
    """``only`` (one task left after the media filter), a keyword ``cue``, the ``embedding`` margin, the
    ``llm`` on a close call, or ``fallback`` (the LLM failed or chose outside the top 2: the embedding)."""
    ranking: Ranking
    """The embedding scores, with the chosen task moved first (``only``: that task, scored 1.0, not embedded)."""
    llm_answers: tuple[str, ...] = ()
    llm_problem: str | None = None

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
        facts = TurnFacts.read(turn.text)
        trace = await self.choose_task(turn, facts, token)
        spec = self.sops[trace.ranking.top]
        filled = fill_inputs(spec, facts, turn.artifacts)
        if filled.missing or filled.problems:
            return clarifying_question(spec, filled, turn.artifacts), trace
        return VideoRequest(task=spec.name, inputs=filled.inputs, seed=turn.seed), trace

    # -- which task --------------------------------------------------------------------------------

    def candidates(self, facts: TurnFacts, artifacts: list[SessionArtifact]) -> list[SopSpec]:
        """The tasks the media filter keeps (see the module docstring); never empty."""
        evidence = facts.media_evidence(artifacts)
        in_session = {a.kind for a in artifacts}
        new_video = evidence["video"] == 0 and _NEW_VIDEO.search(facts.masked) is not None

        def takes(spec: SopSpec) -> bool:
            kinds = [item.type for item in spec.inputs.values()]
            return all(kinds.count(kind) >= min(count, 2) for kind, count in evidence.items() if count)

        def can_have(spec: SopSpec) -> bool:
            for item in spec.inputs.values():
                if item.type not in ("image", "video") or not item.required:
                    continue
                kind: MediaKind = item.type
                if kind == "video" and new_video:
                    return False
                pointed = evidence[kind] > 0 or kind in in_session or (facts.has_pronoun and not artifacts)
                if not pointed:
                    return False
            return True

        specs = list(self.sops.values())
        compatible = [spec for spec in specs if takes(spec)] or specs
        return [spec for spec in compatible if can_have(spec)] or compatible

    async def choose_task(self, turn: DirectorTurn, facts: TurnFacts, token: CancellationToken) -> RouteTrace:
        specs = self.candidates(facts, turn.artifacts)
        if len(specs) == 1:
            # Nothing to rank (and no model to load): e.g. two videos named and one task that takes two.
            return RouteTrace("only", Ranking(((specs[0].name, 1.0),)))
        query = mask_paths(turn.text, facts.paths)
        ranking = await asyncio.to_thread(self.router.rank, query, specs)
        names = {spec.name for spec in specs}
        named = facts.media_evidence(turn.artifacts)["video"]
        at_hand = named + sum(a.kind == "video" for a in turn.artifacts)
        points = named > 0 or facts.has_pronoun
        for cue in CUES:
            if cue.task in names and points and at_hand >= cue.videos and cue.pattern.search(facts.masked):
                return RouteTrace("cue", _promote(ranking, cue.task))
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
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"it is not JSON ({error.msg} at character {error.pos})"
    try:
        task = _Choice.model_validate(data).task.strip()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the answer"
        return None, f"{where}: {first['msg']}"
    if task not in names:
        return None, f"'{task}' is not a task (choose one of {', '.join(names)})"
    return task, None


def _promote(ranking: Ranking, task: str) -> Ranking:
    """``ranking`` with ``task`` first: the decision, with the embedding scores kept for the record."""
    first = [item for item in ranking.scores if item[0] == task]
    return Ranking(tuple(first + [item for item in ranking.scores if item[0] != task]))


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
