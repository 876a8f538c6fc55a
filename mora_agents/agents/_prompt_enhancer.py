"""A1: the prompt enhancer, an LLM that turns a short request into a prompt for the image and video models."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, ChatCompletionClient, LLMMessage, SystemMessage, UserMessage
from pydantic import BaseModel, Field, ValidationError

from mora_agents.agents._faithfulness import asked_words, borrowed_phrases, lost_words
from mora_agents.agents._stage_agent import StageAgent
from mora_agents.errors import MoraError
from mora_agents.llm import LlmBackend
from mora_agents.messages import EnhancedPrompt, PromptEnhancementRequest
from mora_agents.resources import role_prompt
from mora_tools.pipelines.progress import ProgressSink

logger = logging.getLogger(__name__)

MAX_WORDS = 120
"""Longer answers are treated as runaway generations."""
MAX_CHARS = 1000


SCHEMA_MAX_CHARS = 300
"""The schema's ``maxLength``: a grammar-constrained backend (llama.cpp) must close the string by then, so a small
model cannot run on to the token cap (it did: "a kite" came back as 127 words)."""
EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "a dog on a beach",
        "A golden retriever running along a sunny beach at low tide, waves sparkling behind it, low camera angle, "
        "warm afternoon light.",
    ),
    (
        "a train in the mountains",
        "A red steam train winding through snowy mountain passes, white smoke trailing, wide aerial shot, crisp "
        "morning light.",
    ),
)
"""Worked examples given as earlier turns before a plain enhancement: without them SmolLM2-135M echoes the request
(``benchmarks/embedded_llm.py``). A small model borrows their details ("white smoke trailing"); blander examples
were tried and enhanced fewer prompts (25 of 30 against 27)."""


class _PromptDraft(BaseModel):
    """The JSON the LLM is asked to fill (schema-constrained where the backend supports it)."""

    prompt: str = Field(
        description="The enhanced prompt, one or two sentences.", json_schema_extra={"maxLength": SCHEMA_MAX_CHARS}
    )


@dataclass(frozen=True)
class Verdict:
    """What is wrong with an answer: ``problem`` (``None``: usable), and the words it dropped or borrowed."""

    problem: str | None
    lost: tuple[str, ...] = ()
    borrowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class LlmCall:
    """One request to A1's LLM: what ``ChatCompletionClient.create`` is given."""

    messages: list[LLMMessage]
    json_output: type[BaseModel] | bool | None
    create_args: dict


class PromptEnhancerAgent(StageAgent):
    """Enhances a prompt, or revises one by an instruction, with any AutoGen ``ChatCompletionClient``.

    Every answer is checked (:meth:`judge`): it must keep every asked word of the request (:mod:`._faithfulness`),
    borrow nothing from the worked examples, and be a prompt (not empty, runaway, repeated or symbols). A rejected
    answer is asked for once more, naming the dropped words (or without the examples it borrowed from); a second
    rejection keeps the person's own words (plus the instruction, when revising). The :class:`EnhancedPrompt` says
    which (``source``, ``attempts``) and what was dropped (``lost``, ``borrowed``, ``warning``).

    Where the backend can constrain the answer (``prefix_args``, a llama.cpp grammar), an enhancement begins with
    the person's words verbatim and the model only adds detail after them: dropping is then impossible.

    Args:
        name: agent name (an identifier).
        model_client: the LLM, e.g. the embedded SmolLM2 through ``LlamaCppChatCompletionClient``.
        system_message: defaults to ``prompts/prompt_enhancer.txt``.
        model_name: how the manifest names the LLM.
        create_args: ``extra_create_args`` for every call (temperature, token cap).
        examples: worked examples given before an enhancement (:data:`EXAMPLES`; ``()`` for a model trained for
            A1, which needs none).
        prefix_args: ``text -> extra_create_args`` that make the answer begin with ``text``, or ``None``.
        retries: answers asked for after a rejected one.
    """

    request_type = PromptEnhancementRequest
    output_type = EnhancedPrompt

    def __init__(
        self,
        name: str,
        model_client: ChatCompletionClient,
        system_message: str | None = None,
        model_name: str = "llm",
        create_args: dict | None = None,
        progress: ProgressSink | None = None,
        *,
        examples: tuple[tuple[str, str], ...] = EXAMPLES,
        prefix_args: Callable[[str], dict] | None = None,
        retries: int = 1,
    ) -> None:
        system_message = system_message or role_prompt("prompt_enhancer")
        super().__init__(name, "Prompt enhancer (A1): " + system_message.splitlines()[0], progress)
        self.model_client = model_client
        self.system_message = system_message
        self.model_name = model_name
        self.create_args = dict(create_args or {})
        self.examples = examples
        self.prefix_args = prefix_args
        self.retries = retries

    @classmethod
    def from_backend(
        cls,
        name: str,
        backend: LlmBackend,
        client: ChatCompletionClient | None = None,
        instruction: str | None = None,
        progress: ProgressSink | None = None,
    ) -> PromptEnhancerAgent:
        """A1 set up as ``backend`` wants it: its trained system message (then no worked examples) and its
        answer constraint. ``client`` replaces ``backend.client`` (a managed handle); ``instruction`` is added to
        the system message (the learning loop's prompt variations)."""
        system_message = backend.system_message or role_prompt("prompt_enhancer")
        if instruction:
            system_message = f"{system_message}\n\n{instruction}"
        return cls(
            name,
            client or backend.client,
            system_message=system_message,
            model_name=backend.name,
            create_args=backend.create_args,
            progress=progress,
            examples=() if backend.system_message else EXAMPLES,
            prefix_args=backend.prefix_args,
        )

    async def handle(self, request: PromptEnhancementRequest, stage: str, token: CancellationToken) -> EnhancedPrompt:
        started = time.perf_counter()
        revising = bool(request.instruction)
        if revising:
            user_text = edit_text(request.prompt, request.instruction or "")
            fallback = f"{request.prompt}, {request.instruction}"
        else:
            user_text = request_text(request.prompt)
            fallback = request.prompt
        examples = () if revising else self.examples
        prefix = None if revising else self._prefix(request.prompt)
        self.progress.start(stage, 1, "prompt")
        first: Verdict | None = None
        try:
            for attempt in range(1, self.retries + 2):
                answer, verdict = await self._ask(user_text, token, examples, prefix)
                verdict = verdict or self.judge(answer, request, examples, prefix)
                if verdict.problem is None:
                    return self._answer(request, with_suffix(answer, request.suffix), "llm", started, attempt, first)
                first = first or verdict
                if verdict.lost:
                    user_text = f"{user_text}\nKeep every one of these words: {', '.join(verdict.lost)}."
                elif verdict.borrowed:
                    examples = ()
                else:
                    break  # greedy decoding: the same question gives the same unusable answer
        finally:
            self.progress.advance(stage)
            self.progress.finish(stage)
        warning = f"the LLM's prompt was unusable ({first.problem}); kept the user's prompt"
        logger.info(warning)
        return self._answer(
            request, with_suffix(fallback, request.suffix), "fallback", started, attempt, first, warning
        )

    def _answer(
        self,
        request: PromptEnhancementRequest,
        prompt: str,
        source: str,
        started: float,
        attempts: int,
        rejected: Verdict | None,
        warning: str | None = None,
    ) -> EnhancedPrompt:
        return EnhancedPrompt(
            original=request.prompt,
            prompt=prompt,
            source=source,
            model=self.model_name,
            warning=warning,
            seconds=round(time.perf_counter() - started, 3),
            attempts=attempts,
            lost=list(rejected.lost) if rejected else [],
            borrowed=list(rejected.borrowed) if rejected else [],
        )

    def judge(
        self,
        answer: str,
        request: PromptEnhancementRequest,
        examples: tuple[tuple[str, str], ...] = (),
        prefix: str | None = None,
    ) -> Verdict:
        """Whether ``answer`` may replace ``request``'s prompt: an enhancement keeps every asked word and borrows
        nothing from ``examples``; a revision keeps at least half of the instruction's and of the prompt's asked
        words (an instruction may replace some: "make it night" drops "sunset")."""
        problem = check_prompt(answer)
        if problem is None and prefix and answer.startswith(prefix):
            # The person's words are prose whatever follows them: judge what the model added on its own.
            detail = answer[len(prefix) :].lstrip(" ,")
            if (detail_problem := check_prompt(detail)) is not None:
                problem = f"what it added is not a prompt ({detail_problem})"
        if problem is not None:
            return Verdict(problem)
        if request.instruction:
            lost: list[str] = []
            for text in (request.instruction, request.prompt):
                missing = lost_words(text, answer)
                if len(missing) > len(asked_words(text)) / 2:
                    lost += missing
            return Verdict(f"it dropped what was asked for: {', '.join(lost)}", tuple(lost)) if lost else Verdict(None)
        lost = lost_words(request.prompt, answer)
        if lost:
            return Verdict(f"it dropped what was asked for: {', '.join(lost)}", tuple(lost))
        borrowed = borrowed_phrases(answer, request.prompt, examples)
        if borrowed:
            return Verdict(f"it copied the worked examples: {', '.join(borrowed)}", borrowed=tuple(borrowed))
        return Verdict(None)

    def first_call(self, prompt: str) -> LlmCall:
        """The call A1 makes first to enhance ``prompt``: the same messages, schema and arguments (for a benchmark
        that times the model without the agent)."""
        return self._call(request_text(prompt), self.examples, self._prefix(prompt))

    def _prefix(self, prompt: str) -> str | None:
        """What the grammar makes an enhancement begin with: the person's words without closing punctuation (the
        grammar adds ", "), or ``None`` where the backend takes no grammar."""
        return prompt.strip().rstrip(" .,;:!") if self.prefix_args else None

    def _call(self, user_text: str, examples: tuple[tuple[str, str], ...], prefix: str | None) -> LlmCall:
        messages = [SystemMessage(content=self.system_message), *example_turns(examples)]
        messages.append(UserMessage(content=user_text, source="user"))
        if prefix and self.prefix_args:
            # The grammar holds the answer to the schema and to the person's words: no json_output on top.
            return LlmCall(messages, None, {**self.create_args, **self.prefix_args(prefix)})
        # A schema where the backend enforces one, else plain JSON mode: without either a small model rambles.
        info = self.model_client.model_info
        json_output = _PromptDraft if info.get("structured_output") else (True if info.get("json_output") else None)
        return LlmCall(messages, json_output, self.create_args)

    async def _ask(
        self, user_text: str, token: CancellationToken, examples: tuple[tuple[str, str], ...], prefix: str | None
    ) -> tuple[str, Verdict | None]:
        """The LLM's prompt text, or ``("", verdict)`` when its answer is not a prompt."""
        call = self._call(user_text, examples, prefix)
        try:
            result = await self.model_client.create(
                call.messages,
                json_output=call.json_output,
                extra_create_args=call.create_args,
                cancellation_token=token,
            )
        except Exception as error:
            # A backend failure (server down, wrong model name) is a set-up problem, not a bad answer: say so.
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise MoraError(f"the prompt enhancer's LLM ({self.model_name}) failed: {detail}") from None
        if not isinstance(result.content, str):
            return "", Verdict("the LLM answered with a function call")
        answer = parse_prompt_answer(result.content, json_only=call.json_output is not None or prefix is not None)
        if answer is None:
            return "", Verdict("the answer is not the JSON asked for")
        return answer, None


def request_text(prompt: str) -> str:
    """How A1 hands the LLM a request to enhance (also the adapter's training format)."""
    return f"Request: {prompt}"


def edit_text(prompt: str, instruction: str) -> str:
    """How A1 hands the LLM a prompt to revise by an instruction (also the adapter's training format)."""
    return f"Prompt: {prompt}\nInstruction: {instruction}"


def example_turns(examples: tuple[tuple[str, str], ...] = EXAMPLES) -> list[UserMessage | AssistantMessage]:
    """``examples`` as a user request and the answer the enhancer should give, turn by turn."""
    turns: list[UserMessage | AssistantMessage] = []
    for request, prompt in examples:
        turns.append(UserMessage(content=request_text(request), source="user"))
        turns.append(AssistantMessage(content=json.dumps({"prompt": prompt}), source="prompt_enhancer"))
    return turns


def with_suffix(prompt: str, suffix: str | None) -> str:
    """``prompt`` ending with ``suffix`` (added by code, not left to the LLM), unless it already contains it."""
    if not suffix or suffix.lower() in prompt.lower():
        return prompt
    return f"{prompt.rstrip(' .,')}, {suffix}"


def parse_prompt_answer(content: str, json_only: bool = False) -> str | None:
    """The prompt inside an LLM answer: the ``prompt`` of a JSON object, else (unless ``json_only``: JSON was asked
    for, and text that is not JSON is a model that lost its way) the plain text; ``None`` when there is none."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return _PromptDraft.model_validate_json(text).prompt.strip()
    except ValidationError:
        pass
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None if json_only else text.strip().strip('"').strip()
    if isinstance(data, str):
        return data.strip()
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, str):
                return value.strip()
    return ""


def check_prompt(prompt: str) -> str | None:
    """Why ``prompt`` is not a prompt, or ``None``: empty, runaway (too long), degenerate (a few words repeated)
    or mostly symbols. What it must keep is :meth:`PromptEnhancerAgent.judge`'s concern."""
    words = prompt.split()
    if not words:
        return "empty"
    if len(words) > MAX_WORDS or len(prompt) > MAX_CHARS:
        return f"runaway: {len(words)} words, {len(prompt)} characters"
    if len(words) >= 12 and len(set(w.lower() for w in words)) / len(words) < 0.35:
        return "degenerate: the same few words repeated"
    if sum(ch.isalpha() for ch in prompt) < 0.5 * len(prompt.replace(" ", "")):
        return "not prose: mostly symbols"
    return None
