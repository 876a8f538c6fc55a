"""The human proxy: stands in for the user's accept / regenerate / edit decisions (paper App. A.4).

The seam is a :data:`Reviewer`: an async callable that gets the typed :class:`ReviewRequest` (stage, iteration,
artifact, ``allowed`` decisions) and a cancellation token and returns a :class:`ReviewDecision`. Console,
scripted and auto reviews are text questions answered by an ``input_func`` (like AutoGen's ``UserProxyAgent``),
wrapped by :class:`TextReviewer`; a server's reviewer waits for a client's decision; a judge panel is another.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken

from mora_agents.errors import ReviewError
from mora_agents.messages import ReviewDecision, ReviewRequest
from mora_agents.resources import role_prompt

InputFunc = Callable[[str], str] | Callable[[str], Awaitable[str]]
Reviewer = Callable[[ReviewRequest, CancellationToken], Awaitable[ReviewDecision]]
"""Decides one review: ``await reviewer(request, cancellation_token) -> ReviewDecision``."""

MAX_ASKS = 3
"""How often an unusable answer is asked again before the review fails."""


def auto_accept(prompt: str) -> str:
    """Review mode ``auto``: accept everything."""
    return "accept"


class ScriptedDecisions:
    """Review mode ``scripted``: answers from a list, in order, across all reviewed stages.

    Raises :class:`ReviewError` when the list runs out, naming the stage that asked.
    """

    def __init__(self, decisions: Iterable[str]) -> None:
        self.decisions = list(decisions)
        self.used = 0

    def __call__(self, prompt: str) -> str:
        if self.used >= len(self.decisions):
            stage = prompt.splitlines()[0] if prompt else "a review"
            raise ReviewError(
                f"the scripted review ran out of decisions after {self.used} at {stage}: "
                "give one --decision per review, or use --review auto"
            )
        answer = self.decisions[self.used]
        self.used += 1
        return answer


def console_input(prompt: str) -> str:
    """Review mode ``console``: ask on the terminal."""
    from rich.console import Console

    return Console().input(f"[bold]{prompt}[/bold]\n> ")


class TextReviewer:
    """A :data:`Reviewer` that asks a text question (:func:`review_question`) and parses the answer.

    Args:
        input_func: gets the question, returns ``accept``, ``regenerate`` or ``edit <instruction>``; sync or async.
        mode: recorded in every decision's ``by`` (``auto``, ``console``, ``scripted``, ...).
        interactive: ask again after an unusable answer (a person can correct a typo; a script cannot).
    """

    def __init__(self, input_func: InputFunc, mode: str = "console", interactive: bool = False) -> None:
        self.input_func = input_func
        self.mode = mode
        self.interactive = interactive
        self.files_root: Path | None = None
        """The run folder, so questions show paths a person can open (set by whoever runs the SOP)."""

    async def __call__(self, request: ReviewRequest, cancellation_token: CancellationToken) -> ReviewDecision:
        question = review_question(request, self.files_root)
        for _ in range(MAX_ASKS if self.interactive else 1):
            answer = await self._ask(question)
            try:
                decision = ReviewDecision.parse(answer, by=self.mode)
                if decision.action not in request.allowed:
                    raise ValueError(f"stage '{request.stage}' has no agent for edits: answer accept or regenerate")
                return decision
            except ValueError as error:
                problem = str(error).splitlines()[0]
                question = f"{problem}\n{review_question(request, self.files_root)}"
        raise ReviewError(
            f"no usable review decision for stage '{request.stage}' (iteration {request.iteration}): {problem}"
        )

    async def _ask(self, question: str) -> str:
        if inspect.iscoroutinefunction(self.input_func):
            return await self.input_func(question)
        # A console prompt blocks: keep it off the event loop.
        return await asyncio.to_thread(self.input_func, question)


class HumanProxyAgent(BaseChatAgent):
    """Answers a ``StructuredMessage[ReviewRequest]`` with a ``StructuredMessage[ReviewDecision]``.

    Args:
        name: agent name (an identifier).
        input_func: a text reviewer's input function (see :class:`TextReviewer`); or pass ``reviewer``.
        mode: recorded in every decision's ``by`` (``auto``, ``console``, ``scripted``, ...).
        interactive: ask again after an unusable answer (a person can correct a typo; a script cannot).
        reviewer: any :data:`Reviewer` (a server's, a web page's); overrides ``input_func``.
    """

    def __init__(
        self,
        name: str,
        input_func: InputFunc | None = None,
        mode: str = "console",
        interactive: bool = False,
        *,
        reviewer: Reviewer | None = None,
    ) -> None:
        super().__init__(name=name, description=role_prompt("human_proxy"))
        if reviewer is None and input_func is None:
            raise ValueError("HumanProxyAgent needs an input_func or a reviewer")
        self.reviewer: Reviewer = reviewer or TextReviewer(input_func, mode, interactive)
        self.mode = mode

    @property
    def files_root(self) -> Path | None:
        return getattr(self.reviewer, "files_root", None)

    @files_root.setter
    def files_root(self, value: Path | None) -> None:
        if hasattr(self.reviewer, "files_root"):
            self.reviewer.files_root = value

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[ReviewDecision],)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        request = getattr(messages[-1], "content", None) if messages else None
        if not isinstance(request, ReviewRequest):
            raise TypeError(f"{self.name} expects StructuredMessage[ReviewRequest]")
        decision = await self.reviewer(request, cancellation_token)
        message = StructuredMessage[ReviewDecision](
            content=decision, source=self.name, metadata={"stage": request.stage}
        )
        return Response(chat_message=message)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """The proxy keeps no state between reviews."""


def review_question(request: ReviewRequest, files_root: Path | None = None) -> str:
    """The text shown to whoever reviews."""
    artifact = request.artifact
    what = getattr(artifact, "path", None) or getattr(artifact, "prompt", "")
    if files_root is not None and hasattr(artifact, "path"):
        what = str(files_root / artifact.path)
    options = "accept | regenerate" + (" | edit <instruction>" if request.can_edit else "")
    return (
        f"stage '{request.stage}' iteration {request.iteration}/{request.max_iterations}: {what}\n"
        f"Your decision ({options})?"
    )
