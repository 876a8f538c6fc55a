"""The judge panel's votes on one candidate set, and the paper's reading of them (agreed, none acceptable,
disagreed, all abstained)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken

from mora_agents.agents import JudgeAgent
from mora_agents.learning.dataset import SetState
from mora_agents.messages import JudgeRequest, JudgeVerdict, JudgeVotes


def collect_votes(judges: list[JudgeAgent], state: SetState, set_dir: Path) -> JudgeVotes:
    """Every judge's verdict on the set's candidates (files under ``set_dir``) under the set's criterion, and
    what they add up to."""
    request = JudgeRequest(
        request=state.seed_prompt,
        criterion=state.criterion,
        candidates=[record.video for record in state.candidates],
    )
    for judge in judges:
        judge.files_root = set_dir
    count = len(state.candidates)
    verdicts = [_fitting(verdict, count) for verdict in asyncio.run(_ask_judges(judges, request))]
    voting = [verdict for verdict in verdicts if not verdict.abstained]
    tops = {verdict.top for verdict in voting}
    if voting and len(tops) == 1:
        outcome = "agreed" if next(iter(tops)) is not None else "none_acceptable"
    else:
        outcome = "disagreed" if voting else "all_abstained"
    return JudgeVotes(outcome=outcome, criterion=state.criterion, verdicts=verdicts)


def describe_votes(votes: JudgeVotes) -> str:
    """One line for the log: each judge's top-1, ``none`` or ``abstained``."""
    return "; ".join(
        f"{v.judge}: {'abstained' if v.abstained else ('top ' + str(v.top) if v.top is not None else 'none')}"
        for v in votes.verdicts
    )


async def _ask_judges(judges: list[JudgeAgent], request: JudgeRequest) -> list[JudgeVerdict]:
    message = StructuredMessage[JudgeRequest](content=request, source="synthesis")
    token = CancellationToken()
    responses = await asyncio.gather(*(judge.on_messages([message], token) for judge in judges))
    return [response.chat_message.content for response in responses]


def _fitting(verdict: JudgeVerdict, count: int) -> JudgeVerdict:
    """The verdict, or an abstention when it names a candidate the set does not have (a custom backend's bug must
    not pick a video that does not exist)."""
    if any(index >= count for index in verdict.ranking):
        return JudgeVerdict(
            judge=verdict.judge, abstained=True, reasons=f"ranked candidates the set does not have: {verdict.ranking}"
        )
    return verdict
