"""The prompts of synthesis: the seed prompts of a prompts file, and A1's variations of each (every variant a
different setting, camera and light)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import yaml
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken

from mora_agents.agents import PromptEnhancerAgent
from mora_agents.errors import MoraError
from mora_agents.messages import EnhancedPrompt, PromptEnhancementRequest

VARIATION_INSTRUCTION = (
    "This is variation {variant} of {variants} of the request: keep every subject and action it names, but choose a "
    "different setting, camera angle and lighting than a plain rendering would."
)
"""Appended to A1's system prompt when it writes variant 2 and on."""

CAMERAS = ("wide establishing shot", "close-up", "low-angle shot", "slow tracking shot", "aerial view", "handheld shot")
LIGHTS = ("golden hour light", "soft overcast light", "dramatic backlight at dusk", "cool moonlight", "bright noon sun")
"""A variant A1 could not vary (a small LLM often repeats the request) gets one of these pairings instead; 6 and 5
are coprime, so 30 variants in a row differ."""


def read_prompts(path: str | os.PathLike) -> list[str]:
    """The seed prompts of a prompts file: one per line (blank lines and ``#`` comments skipped), or a YAML list
    (a ``.yaml`` / ``.yml`` file).

    Raises:
        MoraError: the file is missing, unreadable, not a list of texts, or holds no prompt.
    """
    path = Path(path)
    if not path.is_file():
        raise MoraError(f"prompts file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MoraError(f"cannot read the prompts file {path}: {str(error).splitlines()[0]}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            detail = " ".join(str(error).split())
            raise MoraError(f"the prompts file {path} is not valid YAML ({detail[:160]})") from None
        if data is None:
            data = []
        if not isinstance(data, list):
            raise MoraError(f"the prompts file {path} must be a YAML list of prompts, got a {type(data).__name__}")
        prompts = []
        for number, item in enumerate(data, start=1):
            if not isinstance(item, str) or not item.strip():
                raise MoraError(f"the prompts file {path}: item {number} is not a text prompt ({item!r})")
            prompts.append(" ".join(item.split()))
    else:
        prompts = [line.strip() for line in text.splitlines()]
        prompts = [line for line in prompts if line and not line.startswith("#")]
    if not prompts:
        raise MoraError(f"the prompts file {path} holds no prompt: write one seed prompt per line")
    return prompts


def vary_prompt(llm, seed_prompt: str, variant: int, variants: int, earlier: list[str]) -> tuple[str, str, str | None]:
    """A1's (on ``llm``) variation ``variant`` of ``variants`` of ``seed_prompt``: the prompt, its source (``llm`` or
    ``fallback``) and why A1's was not used; a fixed camera/light pairing when A1's is unusable or a repeat of one
    of the ``earlier`` prompts of the same seed."""
    instruction = VARIATION_INSTRUCTION.format(variant=variant, variants=variants)
    agent = PromptEnhancerAgent.from_backend("a1_prompt_enhancer", llm, instruction=instruction)
    message = StructuredMessage[PromptEnhancementRequest](
        content=PromptEnhancementRequest(prompt=seed_prompt), source="synthesis", metadata={"stage": "variation"}
    )
    response = asyncio.run(agent.on_messages([message], CancellationToken()))
    answer: EnhancedPrompt = response.chat_message.content
    if answer.source == "llm" and _key(answer.prompt) not in {_key(text) for text in earlier}:
        return answer.prompt, "llm", None
    why = answer.warning or "A1 repeated an earlier prompt"
    position = variant - 2
    camera, light = CAMERAS[position % len(CAMERAS)], LIGHTS[position % len(LIGHTS)]
    return f"{seed_prompt.rstrip(' .,')}, {camera}, {light}", "fallback", why


def _key(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())
