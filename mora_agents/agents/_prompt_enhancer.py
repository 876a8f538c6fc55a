"""A1: the prompt enhancer, an LLM that turns a short request into a prompt for the image and video models."""

from __future__ import annotations

import json
import logging
import re
import time

from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, ChatCompletionClient, SystemMessage, UserMessage
from pydantic import BaseModel, Field, ValidationError

from mora_agents.agents._stage_agent import StageAgent
from mora_agents.errors import MoraError
from mora_agents.messages import EnhancedPrompt, PromptEnhancementRequest
from mora_agents.resources import role_prompt
from tools.progress import ProgressSink

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


class PromptEnhancerAgent(StageAgent):
    """Enhances a prompt, or revises one by an instruction, with any AutoGen ``ChatCompletionClient``.

    The answer is validated: an empty, runaway or unparseable answer is replaced by the user's own prompt
    (plus the instruction, when revising), and the :class:`EnhancedPrompt` says so in ``warning``.

    Args:
        name: agent name (an identifier).
        model_client: the LLM, e.g. the embedded SmolLM2 through ``LlamaCppChatCompletionClient``.
        system_message: defaults to ``prompts/prompt_enhancer.txt``.
        model_name: how the manifest names the LLM.
        create_args: ``extra_create_args`` for every call (temperature, token cap).
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
    ) -> None:
        system_message = system_message or role_prompt("prompt_enhancer")
        super().__init__(name, "Prompt enhancer (A1): " + system_message.splitlines()[0], progress)
        self.model_client = model_client
        self.system_message = system_message
        self.model_name = model_name
        self.create_args = dict(create_args or {})

    async def handle(self, request: PromptEnhancementRequest, stage: str, token: CancellationToken) -> EnhancedPrompt:
        started = time.perf_counter()
        if request.instruction:
            user_text = f"Prompt: {request.prompt}\nInstruction: {request.instruction}"
            fallback = f"{request.prompt}, {request.instruction}"
        else:
            user_text = f"Request: {request.prompt}"
            fallback = request.prompt
        self.progress.start(stage, 1, "prompt")
        try:
            answer, problem = await self._ask(user_text, token, revising=bool(request.instruction))
        finally:
            self.progress.advance(stage)
            self.progress.finish(stage)
        seconds = round(time.perf_counter() - started, 3)
        if problem is None:
            problem = check_prompt(answer, must_keep=request.prompt if not request.instruction else request.instruction)
        if problem is not None:
            warning = f"the LLM's prompt was unusable ({problem}); kept the user's prompt"
            logger.info(warning)
            return EnhancedPrompt(
                original=request.prompt,
                prompt=with_suffix(fallback, request.suffix),
                source="fallback",
                model=self.model_name,
                warning=warning,
                seconds=seconds,
            )
        return EnhancedPrompt(
            original=request.prompt,
            prompt=with_suffix(answer, request.suffix),
            source="llm",
            model=self.model_name,
            seconds=seconds,
        )

    async def _ask(self, user_text: str, token: CancellationToken, revising: bool) -> tuple[str, str | None]:
        """The LLM's prompt text, or ``("", problem)`` when its answer is not a prompt."""
        info = self.model_client.model_info
        shots = [] if revising else example_turns()
        # A schema where the backend enforces one, else plain JSON mode: without either a small model rambles.
        json_output = _PromptDraft if info.get("structured_output") else (True if info.get("json_output") else None)
        try:
            result = await self.model_client.create(
                [SystemMessage(content=self.system_message), *shots, UserMessage(content=user_text, source="user")],
                json_output=json_output,
                extra_create_args=self.create_args,
                cancellation_token=token,
            )
        except Exception as error:
            # A backend failure (server down, wrong model name) is a set-up problem, not a bad answer: say so.
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise MoraError(f"the prompt enhancer's LLM ({self.model_name}) failed: {detail}") from None
        if not isinstance(result.content, str):
            return "", "the LLM answered with a function call"
        return parse_prompt_answer(result.content), None


def example_turns() -> list[UserMessage | AssistantMessage]:
    """:data:`EXAMPLES` as a user request and the answer the enhancer should give, turn by turn."""
    turns: list[UserMessage | AssistantMessage] = []
    for request, prompt in EXAMPLES:
        turns.append(UserMessage(content=f"Request: {request}", source="user"))
        turns.append(AssistantMessage(content=json.dumps({"prompt": prompt}), source="prompt_enhancer"))
    return turns


def with_suffix(prompt: str, suffix: str | None) -> str:
    """``prompt`` ending with ``suffix`` (added by code, not left to the LLM), unless it already contains it."""
    if not suffix or suffix.lower() in prompt.lower():
        return prompt
    return f"{prompt.rstrip(' .,')}, {suffix}"


def parse_prompt_answer(content: str) -> str:
    """The prompt inside an LLM answer: the ``prompt`` of a JSON object, else the plain text."""
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
        return text.strip().strip('"').strip()
    if isinstance(data, str):
        return data.strip()
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, str):
                return value.strip()
    return ""


def content_words(text: str) -> set[str]:
    """Lower-case words of four letters or more: the ones that carry a request's meaning."""
    return {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) >= 4}


def check_prompt(prompt: str, must_keep: str = "") -> str | None:
    """Why ``prompt`` is unusable, or ``None`` when it is fine.

    Unusable: empty, runaway (too long), degenerate (a few words repeated), mostly symbols, or dropping
    most of ``must_keep``'s content words (small models copy examples or ignore an edit instruction).
    """
    words = prompt.split()
    if not words:
        return "empty"
    if len(words) > MAX_WORDS or len(prompt) > MAX_CHARS:
        return f"runaway: {len(words)} words, {len(prompt)} characters"
    if len(words) >= 12 and len(set(w.lower() for w in words)) / len(words) < 0.35:
        return "degenerate: the same few words repeated"
    if sum(ch.isalpha() for ch in prompt) < 0.5 * len(prompt.replace(" ", "")):
        return "not prose: mostly symbols"
    wanted = content_words(must_keep)
    if wanted and len(wanted & content_words(prompt)) < len(wanted) / 2:
        return f"it dropped what was asked for: {', '.join(sorted(wanted - content_words(prompt)))}"
    return None
