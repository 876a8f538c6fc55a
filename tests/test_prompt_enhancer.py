"""A1: the embedded LLM for real; replayed answers for the garbage a model can produce."""

import asyncio

import pytest
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import ModelFamily
from autogen_ext.models.replay import ReplayChatCompletionClient

from mora_agents.agents import PromptEnhancerAgent
from mora_agents.agents._prompt_enhancer import MAX_WORDS, check_prompt, content_words, parse_prompt_answer
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


def assert_enhanced(result: EnhancedPrompt, backend, request: str, must_keep: str) -> None:
    """The LLM's own prompt was used: it passed validation, keeps every content word of ``must_keep`` and adds at
    least four words to ``request`` (an echo passes validation but enhances nothing)."""
    assert (result.source, result.warning) == ("llm", None), result
    assert result.model == backend.name and result.model.startswith("embedded:")
    assert check_prompt(result.prompt, must_keep=must_keep) is None
    assert content_words(must_keep) <= content_words(result.prompt), result.prompt
    assert len(request.split()) + 4 <= len(result.prompt.split()) <= MAX_WORDS, result.prompt


# Greedy decoding makes SmolLM2's answer a function of the request: on these it writes a longer prompt that keeps
# every word asked for (on others it drops one, e.g. "a red car in the rain" loses the rain, and A1 falls back: the
# replayed answers below test that path).
ENHANCED = ["a lighthouse on a cliff", "a hummingbird hovering over red flowers"]


@pytest.mark.slow
@pytest.mark.parametrize("request_text", ENHANCED)
def test_embedded_llm_enhances_a_prompt(embedded, request_text):
    agent = PromptEnhancerAgent("a1", embedded.client, model_name=embedded.name, create_args=embedded.create_args)
    result = enhance(agent, request_text)
    assert result.original == request_text
    assert_enhanced(result, embedded, request_text, must_keep=request_text)
    # Greedy decoding: the same request gives the same prompt.
    assert enhance(agent, request_text).prompt == result.prompt


@pytest.mark.slow
def test_embedded_llm_edit_carries_the_instruction(embedded):
    agent = PromptEnhancerAgent("a1", embedded.client, model_name=embedded.name, create_args=embedded.create_args)
    result = enhance(agent, "a lighthouse on a cliff", instruction="stormy night")
    assert result.original == "a lighthouse on a cliff"
    assert_enhanced(result, embedded, "a lighthouse on a cliff, stormy night", must_keep="a lighthouse on a cliff")
    assert "stormy night" in result.prompt.lower(), result.prompt


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
