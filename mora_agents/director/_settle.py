"""A near-tie between artifacts, settled by an LLM: "the beach one" with two beach clips.

Only a capable LLM is asked (``--llm openai``: any OpenAI-compatible endpoint); the embedded 135M model is
not, and the user gets the question instead. The answer must fit a JSON schema whose ``artifact`` is one of
the candidates' numbers; anything else leaves the phrase unclear, so the director still asks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, SystemMessage, UserMessage
from pydantic import Field, ValidationError, create_model

from mora_agents.director._content import describe
from mora_agents.director._inputs import Unclear
from mora_agents.director._labels import artifact_label
from mora_agents.director._slots import TurnFacts
from mora_agents.messages import DirectorTurn, SessionArtifact

logger = logging.getLogger(__name__)

SYSTEM = (
    "You resolve references in a video studio chat. Given the clips and images made so far and the user's request, "
    "answer which one the quoted phrase means, as JSON with the artifact's number."
)


async def settle_with_llm(
    client: ChatCompletionClient,
    create_args: dict[str, Any],
    turn: DirectorTurn,
    facts: TurnFacts,
    unclear: Sequence[Unclear],
    token: CancellationToken,
) -> tuple[TurnFacts, tuple[str, ...]]:
    """``facts`` with each unclear phrase the LLM could settle bound to its answer (``how="llm"``), and the raw
    answers. A failing or invalid LLM settles nothing: the director then asks."""
    answers: list[str] = []
    refs = list(facts.references)
    for item in unclear:
        number, content = await _choose(client, create_args, turn, item, token)
        if content is not None:
            answers.append(content)
        if number is None:
            continue
        for index, ref in enumerate(refs):
            target = ref.source if ref.source is not None else ref
            if target.selector == "unclear" and target.phrase == item.phrase:
                settled = replace(target, selector=f"artifact:{number}", how="llm", candidates=())
                refs[index] = replace(ref, source=settled, how="llm") if ref.source is not None else settled
    return replace(facts, references=refs), tuple(answers)


async def _choose(
    client: ChatCompletionClient,
    create_args: dict[str, Any],
    turn: DirectorTurn,
    item: Unclear,
    token: CancellationToken,
) -> tuple[int | None, str | None]:
    schema = create_model(
        "ArtifactChoice",
        artifact=(Literal[tuple(item.candidates)], Field(description="The number of the artifact the phrase means.")),
    )
    info = client.model_info
    json_output = schema if info.get("structured_output") else (True if info.get("json_output") else None)
    messages = [SystemMessage(content=SYSTEM), UserMessage(content=_describe(turn, item), source="user")]
    try:
        result = await client.create(
            messages, json_output=json_output, extra_create_args=create_args, cancellation_token=token
        )
    except Exception as error:  # a broken LLM must not stop routing: the user is asked instead
        logger.warning("director: the reference LLM failed (%s); asking the user", str(error).splitlines()[:1])
        return None, None
    content = result.content if isinstance(result.content, str) else json.dumps(str(result.content))
    try:
        return schema.model_validate_json(_unfence(content)).artifact, content
    except ValidationError as error:
        logger.info("director: the reference LLM's answer %r is invalid (%s); asking the user", content, error)
        return None, content


def _unfence(text: str) -> str:
    text = text.strip()
    return text.strip("`").removeprefix("json").strip() if text.startswith("```") else text


def _describe(turn: DirectorTurn, item: Unclear) -> str:
    lines = ["Made so far:"]
    artifacts: list[SessionArtifact] = sorted(turn.artifacts, key=lambda a: a.index)
    for artifact in artifacts:
        lines.append(f"- #{artifact.index} ({artifact_label(artifact, artifacts)}): {describe(artifact, artifacts)}")
    lines.append(f"Request: {turn.text}")
    options = ", ".join(str(n) for n in item.candidates)
    lines.append(
        f"Which artifact does '{item.phrase}' mean? Answer only with JSON: {{\"artifact\": N}}, N one of {options}."
    )
    return "\n".join(lines)
