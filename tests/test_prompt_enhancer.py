"""A1: the embedded LLM for real; replayed answers for the garbage a model can produce."""

import asyncio

import pytest
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import ModelFamily
from autogen_ext.models.replay import ReplayChatCompletionClient

from mora_agents.agents import PromptEnhancerAgent
from mora_agents.agents._prompt_enhancer import MAX_WORDS, check_prompt, parse_prompt_answer
from mora_agents.llm import create_llm
from mora_agents.messages import EnhancedPrompt, PromptEnhancementRequest


def enhance(agent, prompt, instruction=None) -> EnhancedPrompt:
    content = PromptEnhancementRequest(prompt=prompt, instruction=instruction)
    message = StructuredMessage[PromptEnhancementRequest](content=content, source="user")
    response = asyncio.run(agent.on_messages([message], CancellationToken()))
    assert isinstance(response.chat_message, StructuredMessage)
    return response.chat_message.content


@pytest.fixture(scope="module")
def embedded():
    return create_llm("embedded")


def assert_usable(result: EnhancedPrompt, backend, fallback: str, must_keep: str) -> None:
    """What holds for any answer of the real model, whatever its words (they differ between CPU builds)."""
    assert result.model == backend.name and result.model.startswith("embedded:")
    assert result.prompt.strip() and len(result.prompt.split()) <= MAX_WORDS
    if result.source == "llm":
        assert result.warning is None
        assert check_prompt(result.prompt, must_keep=must_keep) is None
    else:
        assert result.source == "fallback" and "unusable" in result.warning
        assert result.prompt == fallback


@pytest.mark.slow
def test_embedded_llm_returns_a_usable_prompt_or_says_why_not(embedded):
    agent = PromptEnhancerAgent("a1", embedded.client, model_name=embedded.name, create_args=embedded.create_args)
    result = enhance(agent, "a red fox jumping over a frozen river")
    assert result.original == "a red fox jumping over a frozen river"
    assert_usable(result, embedded, fallback=result.original, must_keep=result.original)
    # Greedy decoding: the same request gives the same prompt.
    assert enhance(agent, "a red fox jumping over a frozen river").prompt == result.prompt


@pytest.mark.slow
def test_embedded_llm_edit_always_carries_the_instruction(embedded):
    agent = PromptEnhancerAgent("a1", embedded.client, model_name=embedded.name, create_args=embedded.create_args)
    result = enhance(agent, "a lighthouse on a cliff", instruction="stormy night")
    # An answer that dropped the instruction is not used: the fallback appends it.
    assert_usable(result, embedded, fallback="a lighthouse on a cliff, stormy night", must_keep="stormy night")


def replay(*answers):
    info = {"vision": False, "function_calling": False, "json_output": True, "family": ModelFamily.UNKNOWN,
            "structured_output": True}  # fmt: skip
    return ReplayChatCompletionClient(list(answers), model_info=info)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ('{"prompt": ""}', "empty"),
        ('{"prompt": "' + "sunset beach corgi glowing " * 40 + '"}', "runaway"),
        ('{"prompt": "' + "corgi corgi beach " * 6 + '"}', "degenerate"),
        ('{"prompt": "{}[]<>!!##$$%%^^&&**"}', "not prose"),
        ('{"prompt": "A fluffy ginger cat curled up on a green velvet sofa"}', "dropped what was asked"),
    ],
)
def test_unusable_answers_fall_back_to_the_user_prompt(answer, problem):
    agent = PromptEnhancerAgent("a1", replay(answer), model_name="replay")
    result = enhance(agent, "a corgi on a sunny beach")
    assert result.source == "fallback"
    assert result.prompt == "a corgi on a sunny beach"
    assert problem in result.warning


def test_a_good_answer_is_used():
    agent = PromptEnhancerAgent("a1", replay('{"prompt": "A corgi on a sunny beach, golden light, low angle"}'))
    result = enhance(agent, "a corgi on a sunny beach")
    assert (result.source, result.prompt, result.warning) == (
        "llm",
        "A corgi on a sunny beach, golden light, low angle",
        None,
    )


def test_edit_fallback_appends_the_instruction():
    agent = PromptEnhancerAgent("a1", replay('{"prompt": "a corgi on a beach"}'))
    result = enhance(agent, "a corgi on a beach", instruction="warmer light")
    assert result.source == "fallback"
    assert result.prompt == "a corgi on a beach, warmer light"


@pytest.mark.parametrize(
    ("content", "prompt"),
    [
        ('{"prompt": "a cat"}', "a cat"),
        ('```json\n{"prompt": "a cat"}\n```', "a cat"),
        ('{"description": "a cat"}', "a cat"),
        ('"a cat"', "a cat"),
        ("a cat on a mat", "a cat on a mat"),
        ("[1, 2]", ""),
    ],
)
def test_parse_prompt_answer(content, prompt):
    assert parse_prompt_answer(content) == prompt
