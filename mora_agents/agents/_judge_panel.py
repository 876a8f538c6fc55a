"""The judge panel: MLLM / metric judges review each stage's image or video, a human breaks ties (paper App. A.6).

A drop-in reviewer: like :class:`HumanProxyAgent` it answers ``StructuredMessage[ReviewRequest]`` with
``StructuredMessage[ReviewDecision]``. The paper's rule: judges that agree on the top-1 decide; when they disagree a
human decides. Here, for one stage result:

* every judge ranks the result (one candidate; the judge API takes K for the learning loop);
* abstaining judges are left out; if all abstain, the human decides;
* the voting judges all accept it -> ``accept``; all find it not acceptable -> ``regenerate`` (recorded as
  ``none_acceptable``, so the manifest says why); otherwise the human decides;
* prompts (A1's :class:`EnhancedPrompt`) are not judged: they go straight to the human.

Every decision the panel makes or relays after judging carries the verdicts (``ReviewDecision.votes``) and says in
``by`` who decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken

from mora_agents.agents._human_proxy import HumanProxyAgent
from mora_agents.agents._judge import OVERALL_CRITERION, JudgeAgent
from mora_agents.errors import MoraError
from mora_agents.messages import (
    ImageArtifact,
    JudgeRequest,
    JudgeVerdict,
    JudgeVotes,
    ReviewDecision,
    ReviewRequest,
    VideoArtifact,
)

BY_JUDGES = "judges"
BY_HUMAN_DISAGREED = "human after judges disagreed"
BY_HUMAN_ABSTAINED = "human after all judges abstained"


class JudgePanelReviewer(BaseChatAgent):
    """Reviews with a panel of judges and a human tie-break; answers like :class:`HumanProxyAgent`.

    Args:
        name: agent name (an identifier).
        judges: at least one :class:`JudgeAgent`; the paper uses two.
        human: asked when the judges disagree or all abstain, and for every prompt review.
        criterion: what the judges rank by; default :data:`OVERALL_CRITERION`.
    """

    def __init__(
        self,
        name: str,
        judges: Sequence[JudgeAgent],
        human: HumanProxyAgent,
        criterion: str = OVERALL_CRITERION,
    ) -> None:
        if not judges:
            raise MoraError("a judge panel needs at least one judge, e.g. --judge metric")
        super().__init__(name=name, description="Judge panel: judges review results, a human breaks ties.")
        self.judges = list(judges)
        self.human = human
        self.criterion = criterion
        self._files_root: Path | None = None

    @property
    def files_root(self) -> Path | None:
        """The run folder the artifacts' paths are relative to; setting it passes it on to judges and human."""
        return self._files_root

    @files_root.setter
    def files_root(self, root: Path | None) -> None:
        self._files_root = root
        self.human.files_root = root
        for judge in self.judges:
            judge.files_root = root

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[ReviewDecision],)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        request = getattr(messages[-1], "content", None) if messages else None
        if not isinstance(request, ReviewRequest):
            raise TypeError(f"{self.name} expects StructuredMessage[ReviewRequest]")
        if not isinstance(request.artifact, ImageArtifact | VideoArtifact):
            return await self.human.on_messages(messages, cancellation_token)
        verdicts = await self.ask_judges(request, cancellation_token)
        decision = await self._decide(request, verdicts, messages, cancellation_token)
        message = StructuredMessage[ReviewDecision](
            content=decision, source=self.name, metadata={"stage": request.stage}
        )
        return Response(chat_message=message)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """The panel keeps no state between reviews."""
        for judge in self.judges:
            await judge.on_reset(cancellation_token)
        await self.human.on_reset(cancellation_token)

    async def ask_judges(self, request: ReviewRequest, cancellation_token: CancellationToken) -> list[JudgeVerdict]:
        """Every judge's verdict on this iteration's result, in the panel's order."""
        artifact = request.artifact
        # The user's words first; a stage's own prompt (A1's enhancement) when the run had no text input.
        prompt = request.request or (artifact.parameters.get("prompt") if isinstance(artifact.parameters, dict) else "")
        judge_request = JudgeRequest(request=str(prompt or ""), criterion=self.criterion, candidates=[artifact])
        message = StructuredMessage[JudgeRequest](content=judge_request, source=self.name)
        responses = await asyncio.gather(*(judge.on_messages([message], cancellation_token) for judge in self.judges))
        return [response.chat_message.content for response in responses]

    async def _decide(
        self,
        request: ReviewRequest,
        verdicts: list[JudgeVerdict],
        messages: Sequence[BaseChatMessage],
        cancellation_token: CancellationToken,
    ) -> ReviewDecision:
        voting = [verdict for verdict in verdicts if not verdict.abstained]
        tops = {verdict.top for verdict in voting}
        if voting and len(tops) == 1:
            top = tops.pop()
            outcome = "agreed" if top is not None else "none_acceptable"
            action = "accept" if top is not None else "regenerate"
            votes = JudgeVotes(outcome=outcome, criterion=self.criterion, verdicts=verdicts)
            return ReviewDecision(action=action, by=BY_JUDGES, votes=votes)
        outcome, by = ("disagreed", BY_HUMAN_DISAGREED) if voting else ("all_abstained", BY_HUMAN_ABSTAINED)
        response = await self.human.on_messages(messages, cancellation_token)
        decision: ReviewDecision = response.chat_message.content
        votes = JudgeVotes(outcome=outcome, criterion=self.criterion, verdicts=verdicts)
        return decision.model_copy(update={"by": by, "votes": votes})
